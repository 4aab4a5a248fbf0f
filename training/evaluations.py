"""Reward-model evaluation, RewardBench-style: a reward version, or a DPO-trained policy read as an
implicit reward model against its reference, on pairs with a known preference -> accuracy overall
and per category, with ties reported apart.

Torch-free: services (start, finish) and selectors (pairs, summary, latest results). The worker
(workers/evaluation.py) scores the pairs with training.ml.evaluate.score_pairs and hands the per-row
scores back to `summarize`.

The pairs: a project's pairwise items whose preference is known (its imported labels, else the
human majority: a choice more than half of the human judgments made), or a preference snapshot's
rows (chosen is the preferred side). A pair's category is its prompt's metadata[category_field] (a
snapshot row's own column of that name first); pairs without one are grouped under "(none)".

The numbers: `n` counts the scored pairs with a decisive label (a or b); `accuracy` is the share of
them where the preferred response scored higher, an exact tie of scores counting half (as
`pairwise_accuracy` does). Reported apart, never in `n`: `ties.label` (pairs whose label is a tie or
both bad: not scored) and `ties.score` (scored pairs whose two scores are equal).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from labeling.data.rows import prompt_hash
from labeling.data.snapshots import snapshot_rows
from labeling.models import DatasetSnapshot, Item, Judgment, Project, Prompt
from training import algorithms, jobs
from training.models import Evaluation, Job, ModelVersion

NO_CATEGORY = "(none)"
FIELD = re.compile(r"[A-Za-z0-9_.-]{1,100}")
DECISIVE = ("a", "b")
TIE_LABELS = ("tie", "both_bad")


@dataclass(frozen=True)
class Pair:
    """One pair to score: the prompt (text or turns), responses a and b, the known label, the category."""

    prompt: str | list[dict[str, Any]]
    a: str
    b: str
    label: str  # "a", "b" or "tie"
    category: str


# --- services ------------------------------------------------------------------------------------


def check_category_field(value: str) -> str:
    value = (value or "").strip()
    if value and not FIELD.fullmatch(value):
        raise ValueError(f"category_field: a metadata key (letters, digits, _ . -), not {value!r}")
    return value


def reference_for(model: ModelVersion, reference: ModelVersion | None = None) -> ModelVersion | None:
    """The reference of an implicit (DPO) reward: the one named, else the version's parent; None for a reward model."""
    if model.kind == ModelVersion.Kind.REWARD:
        if reference is not None:
            raise ValueError("reference: a reward model is scored directly; a reference is only for a DPO policy")
        return None
    reference = reference or model.parent
    if reference is None:
        raise ValueError(
            f"model: {model.name} is a policy with no parent version; name its reference (the version it was "
            "DPO-trained from) to read it as an implicit reward model"
        )
    if reference.kind != ModelVersion.Kind.POLICY or reference.pk == model.pk:
        raise ValueError(f"reference: {reference.name} must be another policy version (the DPO starting point)")
    if reference.is_endpoint:
        raise ValueError(f"reference: {reference.name} is served by an endpoint; its log-probabilities are not at hand")
    return reference


def start_evaluation(
    *,
    model: ModelVersion,
    project: Project | None = None,
    snapshot: DatasetSnapshot | None = None,
    reference: ModelVersion | None = None,
    category_field: str = "category",
    user: Any = None,
) -> Evaluation:
    """Queue an evaluation of `model` on `snapshot`'s pairs or `project`'s (default: the model's project)."""
    if model.is_endpoint:
        raise ValueError(f"model: {model.name} is served by an endpoint; an evaluation needs its weights")
    reference = reference_for(model, reference)
    if snapshot is not None:
        if project is not None and snapshot.project_id != project.pk:
            raise ValueError("snapshot: belongs to another project than the one named")
        if snapshot.format != DatasetSnapshot.Format.PREFERENCE:
            raise ValueError(
                f"snapshot: must be a preference snapshot (prompt, chosen, rejected), not {snapshot.format}"
            )
        project = snapshot.project
    project = project or model.project
    if project is None:
        raise ValueError("project: name the project whose pairs to evaluate on")
    field = check_category_field(category_field)
    pairs = evaluation_pairs(project, snapshot=snapshot, category_field=field)
    scored = sum(1 for p in pairs if p.label in DECISIVE)
    if not scored:
        raise ValueError(
            f"project: {project.slug} has no pairs with a known preference (imported labels or a human majority)"
            if snapshot is None
            else f"snapshot: {snapshot.pk} has no preference rows"
        )
    return jobs.create(
        Evaluation,
        kind=Job.Kind.EVALUATE,
        project=project,
        user=user,
        total=scored,
        model_id=model.pk,  # `model=` would be jobs.create's own first argument
        reference=reference,
        snapshot=snapshot,
        category_field=field,
    )


def scorer_for(evaluation: Evaluation) -> dict[str, Any]:
    """What the ML side loads, as plain data (see training.ml.evaluate.score_pairs)."""
    model = evaluation.model
    if evaluation.reference is None:
        return {"kind": "reward", "base": model.base, "adapters": list(model.adapters)}
    beta = algorithms.defaults("dpo")["beta"]
    produced_by = getattr(model, "produced_by", None)
    if produced_by is not None and isinstance(produced_by.config, dict) and "beta" in produced_by.config:
        beta = produced_by.config["beta"]
    reference = evaluation.reference
    return {
        "kind": "dpo",
        "policy": [model.base, list(model.adapters)],
        "reference": [reference.base, list(reference.adapters)],
        "beta": float(beta),
    }


def finish_evaluation(job_id: int, results: dict[str, Any]) -> None:
    """Store the results and mark the job succeeded, in one transaction (what pages and the CLI read)."""
    with transaction.atomic():
        Evaluation.objects.filter(pk=job_id).update(results=results)
        jobs.finish(job_id, Job.Status.SUCCEEDED)


# --- selectors -----------------------------------------------------------------------------------


def _category(metadata: Any, field: str) -> str:
    value = metadata.get(field) if field and isinstance(metadata, dict) else None
    return str(value) if value not in (None, "") else NO_CATEGORY


def _label(choices: Sequence[str]) -> str | None:
    """A known preference from some judgments: a choice more than half of them made (both bad: a tie)."""
    if not choices:
        return None
    top, n = Counter("tie" if c == "both_bad" else c for c in choices).most_common(1)[0]
    return top if 2 * n > len(choices) and top in ("a", "b", "tie") else None


def evaluation_pairs(
    project: Project, *, snapshot: DatasetSnapshot | None = None, category_field: str = "category"
) -> list[Pair]:
    """The pairs an evaluation scores, in a fixed order (items by id; snapshot rows in file order)."""
    if snapshot is not None:
        return _snapshot_pairs(snapshot, category_field)
    imported: dict[int, list[str]] = defaultdict(list)
    human: dict[int, list[str]] = defaultdict(list)
    judgments = Judgment.objects.filter(item__project=project, item__response_b__isnull=False)
    for item_id, annotator_id, source, choice in judgments.values_list("item_id", "annotator_id", "source", "choice"):
        if annotator_id is not None:
            human[item_id].append(choice)
        elif source.startswith("import:"):
            imported[item_id].append(choice)
    labels = {}
    for item_id in imported.keys() | human.keys():
        label = _label(imported[item_id]) if item_id in imported else _label(human[item_id])
        if label is not None:
            labels[item_id] = label
    items = (
        Item.objects.filter(pk__in=labels)
        .select_related("prompt", "response_a", "response_b")
        .order_by("id")
        .only("prompt__text", "prompt__conversation", "prompt__metadata", "response_a__text", "response_b__text")
    )
    return [
        Pair(
            prompt=item.prompt.conversation or item.prompt.text,
            a=item.response_a.text,
            b=item.response_b.text,  # type: ignore[union-attr]
            label=labels[item.pk],
            category=_category(item.prompt.metadata, category_field),
        )
        for item in items.iterator(chunk_size=2000)
    ]


def _snapshot_pairs(snapshot: DatasetSnapshot, field: str) -> list[Pair]:
    rows = [r for r in snapshot_rows(snapshot) if r.get("prompt") and "chosen" in r and "rejected" in r]
    metadata: dict[str, Any] = {}
    if field and any(field not in r for r in rows):  # the category from the prompts themselves
        hashes = {prompt_hash(r["prompt"]) for r in rows}
        metadata = dict(
            Prompt.objects.filter(project_id=snapshot.project_id, content_hash__in=hashes).values_list(
                "content_hash", "metadata"
            )
        )
    pairs = []
    for r in rows:
        category = r[field] if field in r and r[field] not in (None, "") else None
        if category is None:
            category = _category(metadata.get(prompt_hash(r["prompt"])) or {}, field)

        def text(value: Any) -> str:
            return value[-1]["content"] if isinstance(value, list) else str(value)

        pairs.append(
            Pair(prompt=r["prompt"], a=text(r["chosen"]), b=text(r["rejected"]), label="a", category=str(category))
        )
    return pairs


def scoring_rows(pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """The rows the ML side scores: the pairs with a decisive label, preferred response as `chosen`."""
    return [
        {"prompt": p.prompt, "chosen": p.a if p.label == "a" else p.b, "rejected": p.b if p.label == "a" else p.a}
        for p in pairs
        if p.label in DECISIVE
    ]


def _accuracy(points: float, n: int) -> float | None:
    return points / n if n else None


def summarize(pairs: Sequence[Pair], scores: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """{"accuracy", "n", "ties": {"label", "score"}, "categories": {name: {"accuracy", "n", "ties"}}} from
    the pairs and the (chosen, rejected) scores of `scoring_rows(pairs)`, in order."""
    decisive = [p for p in pairs if p.label in DECISIVE]
    if len(decisive) != len(scores):
        raise ValueError(f"{len(scores)} scores for {len(decisive)} pairs")
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"points": 0.0, "n": 0, "label": 0, "score": 0})
    for pair in pairs:
        if pair.label not in DECISIVE:
            groups[pair.category]["label"] += 1
    for pair, (chosen, rejected) in zip(decisive, scores, strict=True):
        group = groups[pair.category]
        group["n"] += 1
        if chosen == rejected:
            group["score"] += 1
            group["points"] += 0.5
        elif chosen > rejected:
            group["points"] += 1.0
    categories = {
        name: {
            "accuracy": _accuracy(g["points"], g["n"]),
            "n": g["n"],
            "ties": {"label": g["label"], "score": g["score"]},
        }
        for name, g in sorted(groups.items())
    }
    n = sum(g["n"] for g in groups.values())
    return {
        "accuracy": _accuracy(sum(g["points"] for g in groups.values()), n),
        "n": n,
        "ties": {"label": sum(g["label"] for g in groups.values()), "score": sum(g["score"] for g in groups.values())},
        "categories": categories,
    }


def evaluation_summary(job: Job) -> dict[str, Any]:
    """What the CLI prints last: {"job", "status", "accuracy", "n", "ties", "categories"} (numbers once done)."""
    evaluation = Evaluation.objects.get(pk=job.pk)
    results = evaluation.results or {}
    return {
        "job": evaluation.pk,
        "status": evaluation.status,
        "accuracy": results.get("accuracy"),
        "n": results.get("n", 0),
        "ties": results.get("ties", {"label": 0, "score": 0}),
        "categories": {
            name: {"accuracy": c["accuracy"], "n": c["n"]} for name, c in (results.get("categories") or {}).items()
        },
    }


def latest_evaluation(model: ModelVersion) -> Evaluation | None:
    """The model's most recent finished, successful evaluation (None when it has none)."""
    return (
        Evaluation.objects.filter(model=model, status=Job.Status.SUCCEEDED)
        .select_related("project", "snapshot", "reference")
        .order_by("-finished_at", "-pk")
        .first()
    )


def latest_evaluation_view(model: ModelVersion) -> dict[str, Any] | None:
    """The model page's table of its latest evaluation: {"job", "data", "overall", "rows": [per category]}."""
    evaluation = latest_evaluation(model)
    if evaluation is None:
        return None
    results = evaluation.results or {}
    ties = results.get("ties") or {}
    rows = [
        {
            "name": name,
            "accuracy": c.get("accuracy"),
            "n": c.get("n", 0),
            "label_ties": (c.get("ties") or {}).get("label", 0),
            "score_ties": (c.get("ties") or {}).get("score", 0),
        }
        for name, c in sorted((results.get("categories") or {}).items())
    ]
    data = (
        f"snapshot #{evaluation.snapshot_id}"
        if evaluation.snapshot_id
        else f"the pairs of project {evaluation.project.name}"
    )
    return {
        "job": evaluation,
        "data": data,
        "reference": evaluation.reference,
        "overall": {
            "accuracy": results.get("accuracy"),
            "n": results.get("n", 0),
            "label_ties": ties.get("label", 0),
            "score_ties": ties.get("score", 0),
        },
        "rows": rows,
    }
