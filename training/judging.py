"""AI judges of a project: registering them, judging runs (a job), and their agreement with the humans.

Services (writes) and selectors (reads), torch-free; the judging itself is `training.ml.judges`, called
by the runner (workers/judging.py) with the plain spec `judge_spec` gives.

- A judge is registered per project (`register_judge`) or named inline (`resolve_judge`):
  "NAME" (a registered judge), "model:NAME" (a model version: a reward version judges as a reward
  model, a policy or an endpoint as an LLM judge) or "rule:NAME" (length, vocab-share, regex:<pattern>,
  keyword:<words>). An inline judge is registered on first use, named "model-NAME" / "rule-NAME".
- Each judge answers as an annotator does: through its own inactive user "judge:<project>:<name>",
  its judgments have source "judge:<name>", the judge's raw output as rationale, and a client token
  derived from judge and item, so a rerun judges only the items it has not judged yet
  (`labeling.services.record_judge_judgment`; judges take no lease and no overlap slot).
- `agreement(project)`: per judge, against the human majority of each item it judged: accuracy,
  Cohen's kappa (over a / b / tie) and position consistency (the share of its verdicts that held in
  both orders, from its runs' counts).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.text import slugify

from labeling.models import BY_A_JUDGE, JUDGE_SOURCE_PREFIX, Item, Judgment, Project
from labeling.services import SubmitError, record_judge_judgment
from training import jobs
from training.ml import judges as ml_judges
from training.ml import rules
from training.models import Job, Judge, JudgingRun, ModelVersion

SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
PAIR_CHOICES = ("a", "b", "tie")
MAX_LIMIT = 1_000_000


# ---------------------------------------------------------------- registering judges


def _version(project: Project, value: Any, field: str) -> ModelVersion:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: must be the id of a model version of the project, not {value!r}") from None
    version = ModelVersion.objects.filter(project=project, pk=pk).first()
    if version is None:
        raise ValueError(f"{field}: no model version {pk} in project {project.slug}")
    return version


def _tie_margin(value: Any) -> float:
    try:
        margin = float(value if value is not None else 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"tie_margin: must be a number, not {value!r}") from None
    if not 0 <= margin < float("inf"):
        raise ValueError(f"tie_margin: must be 0 or more, not {margin}")
    return margin


def check_settings(project: Project, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The validated settings of a judge of `kind`; ValueError naming the field."""
    if not isinstance(settings, dict):
        raise ValueError("settings: must be an object")
    allowed: dict[str, set[str]] = {
        Judge.Kind.RULE: {"rule", "tie_margin", "tokenizer"},
        Judge.Kind.REWARD_MODEL: {"model", "tie_margin"},
        Judge.Kind.LLM: {"model", "template", "max_new_tokens"},
    }
    if kind not in allowed:
        raise ValueError(f"kind: must be one of {', '.join(Judge.Kind.values)}, not {kind!r}")
    unknown = sorted(set(settings) - allowed[kind])
    if unknown:
        raise ValueError(f"{unknown[0]}: not a setting of a {kind} judge (known: {', '.join(sorted(allowed[kind]))})")
    if kind == Judge.Kind.RULE:
        rule = str(settings.get("rule") or "").removeprefix("rule:")
        try:
            rules.get(rule)
        except KeyError as exc:
            raise ValueError(f"rule: {exc.args[0]}") from None
        out: dict[str, Any] = {"rule": rule, "tie_margin": _tie_margin(settings.get("tie_margin"))}
        if settings.get("tokenizer") is not None:
            out["tokenizer"] = _version(project, settings["tokenizer"], "tokenizer").pk
        return out
    version = _version(project, settings.get("model"), "model")
    if kind == Judge.Kind.REWARD_MODEL:
        if version.kind != ModelVersion.Kind.REWARD or version.is_endpoint:
            raise ValueError(f"model: {version.name} is not a local reward model version")
        return {"model": version.pk, "tie_margin": _tie_margin(settings.get("tie_margin"))}
    if version.kind != ModelVersion.Kind.POLICY:
        raise ValueError(f"model: {version.name} is a reward model; an LLM judge needs a policy or an endpoint")
    template = str(settings.get("template") or "mt-bench")
    ml_judges.template_parts(template)  # ValueError naming `template`
    max_new = settings.get("max_new_tokens", 256)
    if not isinstance(max_new, int) or isinstance(max_new, bool) or not 1 <= max_new <= 4096:
        raise ValueError(f"max_new_tokens: must be a whole number from 1 to 4096, not {max_new!r}")
    return {"model": version.pk, "template": template, "max_new_tokens": max_new}


def register_judge(
    project: Project, *, name: str, kind: str, settings: dict[str, Any], user: User | None = None
) -> Judge:
    """A new judge of the project; ValueError naming the field (a name already used is refused)."""
    name = (name or "").strip()
    if not SLUG.match(name):
        raise ValueError(f"name: letters, digits, - and _ only, 1 to 100 characters, not {name!r}")
    checked = check_settings(project, kind, settings)
    try:
        with transaction.atomic():
            return Judge.objects.create(
                project=project, name=name, kind=kind, settings=checked,
                created_by=user if user is not None and user.is_authenticated else None,
            )  # fmt: skip
    except IntegrityError:
        raise ValueError(f"name: project {project.slug} already has a judge named {name!r}") from None


def _inline_name(prefix: str, name: str) -> str:
    plain = f"{prefix}-{name}"
    slug = slugify(plain.replace(":", "-"))[:80]
    if slug != plain.replace(":", "-"):  # lossy (a regex, spaces, ...): keep names apart by a hash
        slug = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return slug


def resolve_judge(project: Project, spec: str, *, user: User | None = None) -> Judge:
    """The judge `spec` names: "NAME" (registered), "model:NAME" or "rule:NAME" (registered on first use)."""
    spec = (spec or "").strip()
    if not spec:
        raise ValueError("judge: name a judge (NAME, model:NAME or rule:NAME)")
    head, sep, rest = spec.partition(":")
    if not sep:
        judge = Judge.objects.filter(project=project, name=spec).first()
        if judge is None:
            raise ValueError(f"judge: no judge named {spec!r} in project {project.slug}")
        return judge
    rest = rest.strip()
    settings: dict[str, Any]
    if head == "rule":
        kind, settings = Judge.Kind.RULE, {"rule": rest}
    elif head == "model":
        version = ModelVersion.objects.filter(project=project, name=rest).first()
        if version is None:
            raise ValueError(f"judge: no model version named {rest!r} in project {project.slug}")
        if version.kind == ModelVersion.Kind.REWARD:
            kind, settings = Judge.Kind.REWARD_MODEL, {"model": version.pk}
        else:
            kind, settings = Judge.Kind.LLM, {"model": version.pk}
    else:
        raise ValueError(f"judge: must be NAME, model:NAME or rule:NAME, not {spec!r}")
    name = _inline_name(head, rest)
    existing = Judge.objects.filter(project=project, name=name).first()
    if existing is not None:
        return existing
    try:
        return register_judge(project, name=name, kind=kind, settings=settings, user=user)
    except ValueError as exc:
        if str(exc).startswith("name:"):  # registered meanwhile by another request
            return Judge.objects.get(project=project, name=name)
        raise ValueError(f"judge: {exc}") from None


def judge_user(judge: Judge) -> User:
    """The judge's own annotator: an inactive user "judge:<project>:<name>" that cannot log in."""
    user, created = User.objects.get_or_create(username=judge_user_name(judge), defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def judge_source(judge: Judge) -> str:
    return f"{JUDGE_SOURCE_PREFIX}{judge.name}"[:200]


def _model_spec(version: ModelVersion) -> dict[str, Any]:
    if version.is_endpoint:
        return {
            "endpoint": {
                "base_url": version.endpoint_url, "model": version.endpoint_model,
                "api_key_env": version.api_key_env or None,
            }
        }  # fmt: skip
    return {"base": version.base, "adapters": list(version.adapters)}


def judge_spec(judge: Judge) -> dict[str, Any]:
    """The plain dict `training.ml.judges.make_judge` builds the judge from (model ids resolved to paths).
    As a job's reward source: {"kind": "judge", **judge_spec(judge)}."""
    settings = dict(judge.settings)
    spec: dict[str, Any] = {"judge_kind": judge.kind, "name": judge.name}
    if judge.kind == Judge.Kind.RULE:
        spec.update(rule=settings["rule"], tie_margin=settings.get("tie_margin", 0.0))
        if settings.get("tokenizer"):
            spec["tokenizer"] = _version(judge.project, settings["tokenizer"], "tokenizer").base
        return spec
    version = _version(judge.project, settings["model"], "model")
    spec.update(_model_spec(version))
    if judge.kind == Judge.Kind.REWARD_MODEL:
        spec["tie_margin"] = settings.get("tie_margin", 0.0)
    else:
        spec.update(template=settings.get("template", "mt-bench"), max_new_tokens=settings.get("max_new_tokens", 256))
    return spec


# ---------------------------------------------------------------- judging runs


def start_run(
    *, project: Project, judge: str | Judge, limit: int | None = None, user: User | None = None
) -> JudgingRun:
    """Queue a judging run of `judge` over the project's pairwise items it has not judged yet."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT):
        raise ValueError(f"limit: must be a whole number from 1 to {MAX_LIMIT}, not {limit!r}")
    with transaction.atomic():
        resolved = judge if isinstance(judge, Judge) else resolve_judge(project, judge, user=user)
        if resolved.project_id != project.pk:
            raise ValueError(f"judge: {resolved.name} is not a judge of project {project.slug}")
        todo = items_to_judge(resolved).count()
        total = min(todo, limit) if limit is not None else todo
        return jobs.create(
            JudgingRun, kind=Job.Kind.JUDGE, project=project, user=user, total=total,
            judge=resolved, limit=limit, counts={"judged": 0, "ties": 0, "swap_inconsistent": 0},
        )  # fmt: skip


def items_to_judge(judge: Judge) -> QuerySet[Item]:
    """The project's pairwise items the judge has not judged, oldest first."""
    mine = Judgment.objects.filter(annotator__username=judge_user_name(judge))
    return (
        Item.objects.filter(project_id=judge.project_id, response_b__isnull=False)
        .exclude(pk__in=mine.values("item_id"))
        .select_related("prompt", "response_a", "response_b")
        .order_by("id")
    )


def judge_user_name(judge: Judge) -> str:
    return f"{JUDGE_SOURCE_PREFIX}{judge.project.slug}:{judge.name}"[:150]


def client_token(judge: Judge, item_id: int) -> str:
    """The same token each time this judge answers this item (a rerun is a no-op)."""
    return hashlib.sha256(f"judge:{judge.pk}:item:{item_id}".encode()).hexdigest()


def pair_of(item: Item) -> ml_judges.Pair:
    prompt = item.prompt.conversation if item.prompt.conversation else item.prompt.text
    assert item.response_b is not None
    return ml_judges.Pair(prompt, item.response_a.text, item.response_b.text)


def record_verdicts(run: JudgingRun, items: Sequence[Item], verdicts: Sequence[ml_judges.Verdict]) -> dict[str, int]:
    """Store the verdicts as the judge's judgments (one transaction) and add them to the run's counts."""
    if len(items) != len(verdicts):
        raise ValueError(f"verdicts: {len(verdicts)} for {len(items)} items")
    judge = run.judge
    user = judge_user(judge)
    added = {"judged": 0, "ties": 0, "swap_inconsistent": 0}
    with transaction.atomic():
        for item, verdict in zip(items, verdicts, strict=True):
            try:
                result = record_judge_judgment(
                    item, user, choice=verdict.choice, client_token=client_token(judge, item.pk),
                    source=judge_source(judge), rationale=verdict.raw,
                )  # fmt: skip
            except SubmitError as exc:
                raise ValueError(f"item {item.pk}: {exc}") from None
            if result.created:
                added["judged"] += 1
                added["ties"] += verdict.choice == "tie"
                added["swap_inconsistent"] += not verdict.swap_consistent
        run = JudgingRun.objects.select_for_update().get(pk=run.pk)
        counts = {k: int(run.counts.get(k, 0)) + v for k, v in added.items()}
        JudgingRun.objects.filter(pk=run.pk).update(counts=counts)
    return counts


def run_summary(run: Job) -> dict[str, Any]:
    """What `manage.py judge` prints last: {"job", "judged", "ties", "swap_inconsistent"}."""
    details = JudgingRun.objects.get(pk=run.pk)
    counts = details.counts or {}
    return {
        "job": details.pk,
        "judged": int(counts.get("judged", 0)),
        "ties": int(counts.get("ties", 0)),
        "swap_inconsistent": int(counts.get("swap_inconsistent", 0)),
    }


# ---------------------------------------------------------------- agreement with the humans


@dataclass(frozen=True)
class Agreement:
    judge: Judge
    n: int  # items with both a judge verdict and a human majority
    judged: int  # the judge's judgments in the project
    accuracy: float | None
    kappa: float | None
    position_consistency: float | None

    @property
    def percent(self) -> int | None:
        return None if self.accuracy is None else round(100 * self.accuracy)


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels; None without data, or when chance agreement is certain."""
    pairs = list(pairs)
    n = len(pairs)
    if not n:
        return None
    observed = sum(1 for x, y in pairs if x == y) / n
    first, second = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    expected = sum(first[k] * second[k] for k in set(first) | set(second)) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def human_majorities(project: Project) -> dict[int, str]:
    """Item id -> the choice (a, b or tie) most of its human judgments made; items without a strict
    plurality are left out. Humans: every judgment that is not a judge's (annotators and imported labels)."""
    choices: dict[int, Counter[str]] = {}
    rows = (
        Judgment.objects.filter(item__project=project, choice__in=PAIR_CHOICES)
        .exclude(BY_A_JUDGE)
        .values_list("item_id", "choice")
    )
    for item_id, choice in rows:
        choices.setdefault(item_id, Counter())[choice] += 1
    majority = {}
    for item_id, counter in choices.items():
        top = counter.most_common(2)
        if len(top) == 1 or top[0][1] > top[1][1]:
            majority[item_id] = top[0][0]
    return majority


def agreement(project: Project) -> list[Agreement]:
    """Per judge of the project: its agreement with the human majority (see the module docstring)."""
    humans = human_majorities(project)
    out = []
    for judge in Judge.objects.filter(project=project).order_by("name"):
        mine = Judgment.objects.filter(item__project=project, annotator__username=judge_user_name(judge))
        verdicts = dict(mine.values_list("item_id", "choice"))
        both = [(verdicts[i], humans[i]) for i in verdicts if i in humans]
        counts = [r.counts or {} for r in JudgingRun.objects.filter(judge=judge).only("counts")]
        judged = sum(int(c.get("judged", 0)) for c in counts)
        inconsistent = sum(int(c.get("swap_inconsistent", 0)) for c in counts)
        out.append(
            Agreement(
                judge=judge,
                n=len(both),
                judged=len(verdicts),
                accuracy=sum(1 for x, y in both if x == y) / len(both) if both else None,
                kappa=cohen_kappa(both),
                position_consistency=1 - inconsistent / judged if judged else None,
            )
        )
    return out
