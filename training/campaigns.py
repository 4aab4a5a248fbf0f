"""Comparison campaigns and the battles the leaderboard is fitted on (services and selectors, torch-free).

A campaign compares two or more competitors (model versions of the project, or imported response
sources such as "gpt-4") on a prompt set: its job (workers/generation.py, on the gpu queue) generates
what each version is missing, then `make_items` writes pairwise items through the one writer into
the project's annotation queue (its overlap applies as to any item): every pair of competitors, or
each against a reference, with the side balanced: for each pair, which competitor is response_a
alternates from prompt to prompt. Running `make_items` again adds nothing it already made.

Win rates per pair count a tie (and both bad) as half a win each way, with a 95% Wilson interval.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet

from labeling.data.writer import Writer
from labeling.models import Item, Judgment, Project, Prompt, Response
from training import jobs
from training.generation import check_split, parse_sampling, prompt_set, require_prompts
from training.models import Campaign, CampaignItem, Generation, Job, ModelVersion

Z95 = 1.959963984540054
Who = Literal["all", "humans", "judges"]
WHO: tuple[str, ...] = ("all", "humans", "judges")


# ---------------------------------------------------------------- services


def start_campaign(
    *,
    project: Project,
    competitors: Sequence[str],
    split: str = "",
    mode: str = Campaign.Mode.ALL_PAIRS,
    reference: str = "",
    sampling: dict[str, Any] | None = None,
    name: str = "",
    user: Any = None,
) -> Campaign:
    """Create a campaign and queue its job; ValueError naming the field when the request is refused.

    Each competitor is the name of a model version of `project`, or an imported response source
    (a Response.source label that responses of the project carry).
    """
    names = [c.strip() for c in competitors if c and c.strip()]
    if len(set(names)) != len(names):
        raise ValueError("models: a model is named twice")
    if len(names) < 2:
        raise ValueError("models: give two or more model versions (or response sources) to compare")
    if mode not in Campaign.Mode.values:
        raise ValueError(f"mode: must be one of {', '.join(Campaign.Mode.values)}, not {mode!r}")
    split = check_split(split)
    settings = parse_sampling(sampling)
    versions = {v.name: v for v in ModelVersion.objects.filter(project=project, name__in=names)}
    for n in names:
        if n not in versions and not Response.objects.filter(prompt__project=project, source=n).exists():
            raise ValueError(f"models: project {project.slug} has no model version or response source named {n!r}")
    if mode == Campaign.Mode.VS_REFERENCE:
        reference = reference.strip() or names[0]
        if reference not in names:
            raise ValueError(f"reference: {reference!r} is not one of the compared models")
    elif reference:
        raise ValueError("reference: only a vs_reference campaign has a reference")
    require_prompts(project, split=split)
    with transaction.atomic():
        job = jobs.create(Job, kind=Job.Kind.CAMPAIGN, project=project, user=user)
        campaign = Campaign.objects.create(
            project=project,
            name=name[:200],
            split=split,
            competitors=names,
            mode=mode,
            reference=reference,
            sampling=settings,
            job=job,
            created_by=job.created_by,
        )
        campaign.model_versions.set(versions.values())
    return campaign


def campaign_of_job(job_id: int) -> Campaign:
    return Campaign.objects.select_related("project").get(job_id=job_id)


def campaign_prompts(campaign: Campaign) -> QuerySet[Prompt]:
    return prompt_set(campaign.project, split=campaign.split)


def versions_to_generate(campaign: Campaign) -> list[ModelVersion]:
    """The campaign's model versions, in the order they were given."""
    versions = {v.name: v for v in campaign.model_versions.select_related("project")}
    return [versions[n] for n in campaign.competitors if n in versions]


def _same_sampling(recorded: dict, wanted: dict) -> bool:
    return {k: v for k, v in (recorded or {}).items() if k != "sample"} == wanted


def generated_responses(campaign: Campaign, version: ModelVersion, prompt_ids: Iterable[int]) -> dict[int, int]:
    """{prompt id: response id} of `version`'s first sample with the campaign's sampling, per prompt."""
    found: dict[int, int] = {}
    rows = (
        Generation.objects.filter(model_version=version, prompt_id__in=list(prompt_ids))
        .order_by("index", "id")
        .values_list("prompt_id", "response_id", "response__sampling")
    )
    for prompt_id, response_id, sampling in rows:
        if prompt_id not in found and _same_sampling(sampling, campaign.sampling):
            found[prompt_id] = response_id
    return found


def prompts_missing_for(campaign: Campaign, version: ModelVersion, prompts: Sequence[Prompt]) -> list[Prompt]:
    """The prompts `version` has no response for yet (with the campaign's sampling settings)."""
    have = generated_responses(campaign, version, [p.pk for p in prompts])
    return [p for p in prompts if p.pk not in have]


def _source_responses(project: Project, source: str, prompt_ids: Sequence[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    rows = Response.objects.filter(prompt__project=project, prompt_id__in=prompt_ids, source=source)
    for prompt_id, response_id in rows.order_by("id").values_list("prompt_id", "id"):
        found.setdefault(prompt_id, response_id)
    return found


def campaign_pairs(campaign: Campaign) -> list[tuple[str, str]]:
    """The competitor pairs a campaign compares, in order."""
    if campaign.mode == Campaign.Mode.VS_REFERENCE:
        return [(campaign.reference, c) for c in campaign.competitors if c != campaign.reference]
    return list(combinations(campaign.competitors, 2))


def make_items(campaign: Campaign) -> int:
    """Write the campaign's pairwise items (the ones it has not made yet); the number made."""
    prompt_ids = list(campaign_prompts(campaign).values_list("id", flat=True))
    versions = {v.name: v for v in versions_to_generate(campaign)}
    answers: dict[str, dict[int, int]] = {
        name: generated_responses(campaign, versions[name], prompt_ids)
        if name in versions
        else _source_responses(campaign.project, name, prompt_ids)
        for name in campaign.competitors
    }
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        made = {
            (prompt_id, frozenset((a, b)))
            for prompt_id, a, b in CampaignItem.objects.filter(campaign=campaign).values_list(
                "item__prompt_id", "competitor_a", "competitor_b"
            )
        }
        needed = {rid for found in answers.values() for rid in found.values()}
        responses = Response.objects.in_bulk(list(needed))
        prompts = Prompt.objects.in_bulk(prompt_ids)
        writer = Writer(campaign.project)
        staged: list[tuple[Item, str, str]] = []
        for k, (first, second) in enumerate(campaign_pairs(campaign)):
            both = [p for p in prompt_ids if p in answers[first] and p in answers[second]]
            for i, prompt_id in enumerate(both):
                a, b = (first, second) if (i + k) % 2 == 0 else (second, first)  # alternate the sides
                if (prompt_id, frozenset((a, b))) in made:
                    continue
                item = writer.item(
                    prompts[prompt_id], responses[answers[a][prompt_id]], responses[answers[b][prompt_id]]
                )
                item.in_queue = True
                staged.append((item, a, b))
        writer.save()
        CampaignItem.objects.bulk_create(
            CampaignItem(campaign=campaign, item=item, competitor_a=a, competitor_b=b) for item, a, b in staged
        )
        campaign.items_created = CampaignItem.objects.filter(campaign=campaign).count()
        campaign.save(update_fields=["items_created"])
    return len(staged)


# ---------------------------------------------------------------- selectors


def wilson(wins: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion wins/n (a tie counted as half a win); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    items: int
    judgments: int
    wins_a: int
    wins_b: int
    ties: int

    @property
    def win_rate(self) -> float | None:
        """How often `a` beat `b` (ties half); None before any judgment."""
        return (self.wins_a + 0.5 * self.ties) / self.judgments if self.judgments else None

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.wins_a + 0.5 * self.ties, self.judgments)

    @property
    def percent(self) -> int:
        return round(100 * (self.win_rate or 0))


def _judgments(project: Project, who: str) -> QuerySet[Judgment]:
    if who not in WHO:
        raise ValueError(f"who: must be one of {', '.join(WHO)}, not {who!r}")
    judgments = Judgment.objects.filter(item__project=project, choice__in=Judgment.PAIRWISE_CHOICES)
    if who == "humans":
        judgments = judgments.filter(source="human")
    elif who == "judges":
        judgments = judgments.exclude(source="human")
    return judgments


def campaign_results(campaign: Campaign, who: str = "all") -> list[PairResult]:
    """Per pair of the campaign: items, judgments and how often the first beat the second."""
    counts: dict[tuple[str, str], dict[str, int]] = {
        pair: {"items": 0, "n": 0, "a": 0, "b": 0, "tie": 0} for pair in campaign_pairs(campaign)
    }

    def slot(a: str, b: str) -> tuple[dict[str, int], bool]:
        """The pair's counters, and whether the item's a/b order is the pair's order."""
        if (b, a) in counts:
            return counts[(b, a)], False
        return counts.setdefault((a, b), {"items": 0, "n": 0, "a": 0, "b": 0, "tie": 0}), True

    for a, b in CampaignItem.objects.filter(campaign=campaign).values_list("competitor_a", "competitor_b"):
        slot(a, b)[0]["items"] += 1
    judged = _judgments(campaign.project, who).filter(item__campaign_item__campaign=campaign)
    rows = judged.values_list("choice", "item__campaign_item__competitor_a", "item__campaign_item__competitor_b")
    for choice, a, b in rows:
        c, same = slot(a, b)
        c["n"] += 1
        if choice == Judgment.Choice.A:
            c["a" if same else "b"] += 1
        elif choice == Judgment.Choice.B:
            c["b" if same else "a"] += 1
        else:  # tie or both bad: half a win each way
            c["tie"] += 1
    return [
        PairResult(a=a, b=b, items=c["items"], judgments=c["n"], wins_a=c["a"], wins_b=c["b"], ties=c["tie"])
        for (a, b), c in counts.items()
    ]


def campaign_summary(campaign: Campaign) -> dict[str, Any]:
    """What the CLI prints: {"campaign", "status", "items"}."""
    campaign.refresh_from_db()
    status = campaign.job.status if campaign.job else ""
    return {"campaign": campaign.pk, "status": status, "items": campaign.items_created}


def campaigns_of(project: Project) -> QuerySet[Campaign]:
    return Campaign.objects.filter(project=project).select_related("job").order_by("-created_at", "-id")


def battles(project: Project, who: str = "all") -> list[tuple[str, str, str]]:
    """Every pairwise judgment of `project` whose two responses come from different model versions,
    as (model_a, model_b, winner) rows with winner in "model_a" | "model_b" | "tie" | "tie (bothbad)".

    model_a is the version of the item's response_a, whatever side it was shown on: a judgment's
    choice "a" means response_a won (its `left` only records where A was shown). `who`: "humans"
    (source "human"), "judges" (any other source: AI judges, imported labels) or "all".
    """
    rows = (
        _judgments(project, who)
        .filter(item__response_a__generation__isnull=False, item__response_b__generation__isnull=False)
        .values_list(
            "choice",
            "item__response_a__generation__model_version__name",
            "item__response_b__generation__model_version__name",
        )
        .order_by("id")
    )
    winner: dict[str, str] = {
        Judgment.Choice.A: "model_a",
        Judgment.Choice.B: "model_b",
        Judgment.Choice.TIE: "tie",
        Judgment.Choice.BOTH_BAD: "tie (bothbad)",
    }
    return [(a, b, winner[choice]) for choice, a, b in rows if a != b]


def leaderboard_of(project: Project, *, who: str = "all", bootstrap: int = 1000, seed: int = 0) -> Any:
    """The Bradley-Terry leaderboard of the project's battles (training.leaderboard)."""
    from training.leaderboard import leaderboard

    return leaderboard(battles(project, who), bootstrap=bootstrap, seed=seed)


def parse_battles(text: str) -> list[tuple[str, str, str]]:
    """A battle log in Chatbot Arena's shape (a JSON list, or JSON lines, of objects with model_a,
    model_b and winner in model_a | model_b | tie | tie (bothbad)) as rows; ValueError naming the row
    and field."""
    from training.leaderboard import WINNERS

    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise ValueError(f"battles: not valid JSON ({e})") from None
        numbered = list(enumerate(records, start=1))
        where = "row"
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise ValueError(f"line {number}: not valid JSON ({e})") from None
        where = "line"
    rows = []
    for number, record in numbered:
        if not isinstance(record, dict):
            raise ValueError(f"{where} {number}: must be an object with model_a, model_b and winner")
        for name in ("model_a", "model_b"):
            if not isinstance(record.get(name), str) or not record[name].strip():
                raise ValueError(f"{where} {number}: field '{name}' must be a non-empty model name")
        if record.get("winner") not in WINNERS:
            raise ValueError(f"{where} {number}: field 'winner' must be one of {', '.join(WINNERS)}")
        rows.append((record["model_a"], record["model_b"], record["winner"]))
    return rows


def leaderboard_json(board: Any, seconds: float) -> dict[str, Any]:
    """What the CLI prints: {"models": [{name, rating, ci, battles, win_rate}], "battles", "seconds"}."""
    return {
        "models": [
            {
                "name": m.name,
                "rating": round(m.rating, 4),
                "ci": [round(m.ci[0], 4), round(m.ci[1], 4)],
                "battles": m.battles,
                "win_rate": round(m.win_rate, 4),
            }
            for m in board.models
        ],
        "battles": board.battles,
        "seconds": round(seconds, 4),
    }
