"""Best-of-n and rejection sampling (Job.Kind.BEST_OF_N): a policy version samples n responses per prompt,
a judge or a reward version ranks them, and for each prompt the best and the worst of n become two
snapshots: SFT rows (prompt, completion, label true: the `unpaired` format SFT and KTO read) from the
best, and preference rows (prompt, chosen = best, rejected = worst).

Services (writes) and selectors (reads), torch-free; the worker side is workers/best_of_n.py. The
samples are generated through the generation services (training/generation.py: responses written by
the one writer with source "model:NAME", linked to this job by Generation rows, so a resumed job only
generates what is missing). Ranking: a reward version scores each sample (best = highest score); a
judge (registered, "model:NAME" or "rule:NAME", resolved by training/judging.py) plays a round-robin
tournament among a prompt's samples (best = most wins, a tie half a win; equal wins: the earlier
sample). Each snapshot's spec names its lineage: the best-of-n job, the generation job that holds the
samples, the policy, n, the sampling settings and the judge or reward version.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from labeling.data import exporters
from labeling.data.snapshots import snapshot_from_rows
from labeling.models import DatasetSnapshot, Prompt, Response
from training import generation, jobs
from training.models import BestOfNRun, Generation, Job, Judge, ModelVersion

MAX_N = 64
DEFAULT_N = 4
DEFAULT_SAMPLING = {"temperature": 1.0, "max_new_tokens": 64}


# --- services ------------------------------------------------------------------------------------


def start_best_of_n(
    *,
    policy: ModelVersion,
    n: int = DEFAULT_N,
    judge: str = "",
    reward: ModelVersion | None = None,
    split: str = "",
    snapshot: DatasetSnapshot | None = None,
    sampling: dict[str, Any] | None = None,
    user: Any = None,
) -> BestOfNRun:
    """Queue a best-of-n job: `n` samples of `policy` per prompt, ranked by `judge` (a judge spec) or `reward`."""
    project = generation.project_of(policy)
    if policy.kind != ModelVersion.Kind.POLICY:
        raise ValueError(f"model: {policy.name} is a {policy.kind} model; best-of-n samples from a policy")
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_N:
        raise ValueError(f"n: samples per prompt, a whole number from 2 to {MAX_N}, not {n!r}")
    if bool(judge and judge.strip()) == (reward is not None):
        raise ValueError("judge: name either a judge (NAME, model:NAME, rule:NAME) or a reward version, not both")
    if reward is not None and (reward.project_id != project.pk or reward.kind != ModelVersion.Kind.REWARD):
        raise ValueError(f"reward: {reward.name} must be a reward version of project {project.slug}")
    if snapshot is not None and snapshot.project_id != project.pk:
        raise ValueError("snapshot: belongs to another project than the model")
    split = generation.check_split(split)
    settings = generation.parse_sampling({**DEFAULT_SAMPLING, **(sampling or {}), "n": n})
    n_prompts = generation.require_prompts(project, split=split, snapshot=snapshot)
    from training import judging

    with transaction.atomic():  # resolving a judge may register it
        return jobs.create(
            BestOfNRun,
            kind=Job.Kind.BEST_OF_N,
            project=project,
            user=user,
            total=n_prompts * (n + 1),  # the samples, then one ranking step per prompt
            policy=policy,
            n=n,
            reward=reward,
            judge=None if reward is not None else judging.resolve_judge(project, judge, user=user),
            split=split,
            prompt_snapshot=snapshot,
            sampling=settings,
        )


def scorer_for(run: BestOfNRun) -> dict[str, Any]:
    """What ranks the samples, as plain data for the worker: {"kind": "reward", "base", "adapters"} or
    {"kind": "judge", "spec": judging.judge_spec} (a rule on token ids tokenises with the policy's tokenizer)."""
    if run.reward is not None:
        return {"kind": "reward", "base": run.reward.base, "adapters": list(run.reward.adapters)}
    from training import judging

    spec = judging.judge_spec(run.judge)  # type: ignore[arg-type]
    if spec.get("judge_kind") == Judge.Kind.RULE and not spec.get("tokenizer") and not run.policy.is_endpoint:
        spec["tokenizer"] = run.policy.base
    return {"kind": "judge", "spec": spec}


@dataclass(frozen=True)
class Pick:
    """A prompt's best and worst sample, with the scores that ranked them."""

    prompt: Prompt
    best: str
    worst: str
    best_score: float
    worst_score: float


def rank(scores: Sequence[float]) -> tuple[int, int]:
    """(index of the best, index of the worst): the highest and the lowest score, the earlier one on equal scores."""
    if not scores:
        raise ValueError("rank: no scores")
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    return best, worst


def round_robin(n: int) -> list[tuple[int, int]]:
    """Every pair (i, j), i < j, of n samples: a tournament's games."""
    return list(itertools.combinations(range(n), 2))


def wins(n: int, games: Sequence[tuple[int, int]], choices: Sequence[str]) -> list[float]:
    """Each sample's wins in a tournament: 1 for a game won, a half for a tie."""
    score = [0.0] * n
    for (i, j), choice in zip(games, choices, strict=True):
        if choice == "a":
            score[i] += 1
        elif choice == "b":
            score[j] += 1
        else:
            score[i] += 0.5
            score[j] += 0.5
    return score


def samples_by_prompt(run: BestOfNRun, prompts: Sequence[Prompt]) -> list[tuple[Prompt, list[str]]]:
    """Each prompt's generated samples (texts, by sample index)."""
    texts: dict[int, dict[int, str]] = {}
    for prompt_id, index, text in Generation.objects.filter(job_id=run.pk, model_version=run.policy).values_list(
        "prompt_id", "index", "response__text"
    ):
        texts.setdefault(prompt_id, {})[index] = text
    return [(p, [t for _, t in sorted(texts.get(p.pk, {}).items())]) for p in prompts]


def lineage(run: BestOfNRun) -> dict[str, Any]:
    """What a best-of-n snapshot's spec says about where its rows came from."""
    return {
        "origin": "best_of_n",
        "job": run.pk,
        "generation_job": run.generation_id or run.pk,  # the job the samples' Generation rows name
        "policy": run.policy.name,
        "n": run.n,
        "sampling": run.sampling,
        "judge": run.judge.name if run.judge is not None else None,
        "judge_kind": run.judge.kind if run.judge is not None else None,
        "reward": run.reward.name if run.reward is not None else None,
        "prompt_split": run.split or "all",
        "prompt_snapshot": run.prompt_snapshot_id,
    }


def finish_best_of_n(run: BestOfNRun, picks: Sequence[Pick]) -> tuple[DatasetSnapshot, DatasetSnapshot]:
    """Write the SFT and preference snapshots of `picks`, link them to the job and mark it succeeded (one transaction).

    A prompt whose best and worst samples are the same text gives an SFT row but no preference row."""
    conversational = any(p.prompt.conversation for p in picks)
    value = exporters.MESSAGES if conversational else exporters.TEXT

    def prompt_value(prompt: Prompt) -> Any:
        return prompt.turns if conversational else prompt.text

    def completion(text: str) -> Any:
        return [{"role": "assistant", "content": text}] if conversational else text

    sft_rows = [(prompt_value(p.prompt), completion(p.best), True) for p in picks]
    preference_rows = [
        (prompt_value(p.prompt), completion(p.best), completion(p.worst)) for p in picks if p.best != p.worst
    ]
    base = {**lineage(run), "file_type": "jsonl", "form": "conversational" if conversational else "standard"}
    with transaction.atomic():
        sft = snapshot_from_rows(
            run.project,
            DatasetSnapshot.Format.UNPAIRED,
            [("prompt", value), ("completion", value), ("label", exporters.BOOL)],
            sft_rows,
            {**base, "format": "unpaired", "rows_from": "best"},
        )
        preference = snapshot_from_rows(
            run.project,
            DatasetSnapshot.Format.PREFERENCE,
            [("prompt", value), ("chosen", value), ("rejected", value)],
            preference_rows,
            {**base, "format": "preference", "rows_from": "best vs worst"},
        )
        BestOfNRun.objects.filter(pk=run.pk).update(sft_snapshot=sft, preference_snapshot=preference)
        jobs.finish(run.pk, Job.Status.SUCCEEDED)
    return sft, preference


# --- selectors -----------------------------------------------------------------------------------


def best_of_n_summary(job: Job) -> dict[str, Any]:
    """What the CLI prints last: {"job", "status", "prompts", "sft_snapshot", "preference_snapshot"}."""
    run = BestOfNRun.objects.get(pk=job.pk)
    prompts = Generation.objects.filter(job_id=run.pk).values("prompt_id").distinct().count()
    return {
        "job": run.pk,
        "status": run.status,
        "prompts": prompts,
        "sft_snapshot": run.sft_snapshot_id,
        "preference_snapshot": run.preference_snapshot_id,
    }


def responses_of(run: BestOfNRun) -> list[Response]:
    """The samples the job generated, by prompt and sample index."""
    return list(generation.responses_of(run))
