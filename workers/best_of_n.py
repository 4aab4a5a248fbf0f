"""The runner of best-of-n jobs (Job.Kind.BEST_OF_N): generate n samples per prompt through the generation
runner's `generate_missing` (resumable, written by the one writer), rank each prompt's samples with a
reward version (training.ml.rewards.RewardModel) or a judge's round-robin tournament
(training.ml.judges), then hand the picks to `best_of_n.finish_best_of_n` (the two snapshots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from training import best_of_n, generation
from training.models import BestOfNRun, Job
from workers.generation import CHUNK, generate_missing, prompt_value
from workers.jobs import Progress, runner

Ranker = Callable[[list[tuple[Any, list[str]]]], list[list[float]]]


def ranker_for(scorer: dict[str, Any]) -> Ranker:
    """scores(groups) for a chunk of (prompt value, samples) groups: one score per sample, higher is better."""
    if scorer["kind"] == "reward":
        from training.ml.rewards import RewardModel

        model = RewardModel(scorer["base"], scorer["adapters"])

        def by_reward(groups: list[tuple[Any, list[str]]]) -> list[list[float]]:
            prompts = [p for p, samples in groups for _ in samples]
            scores = model(prompts, [s for _, samples in groups for s in samples])
            out, k = [], 0
            for _, samples in groups:
                out.append([float(x) if x is not None else float("-inf") for x in scores[k : k + len(samples)]])
                k += len(samples)
            return out

        return by_reward
    from training.ml import judges

    judge = judges.make_judge(scorer["spec"])

    def by_tournament(groups: list[tuple[Any, list[str]]]) -> list[list[float]]:
        games = [best_of_n.round_robin(len(samples)) for _, samples in groups]
        pairs = [
            judges.Pair(p, samples[i], samples[j]) for (p, samples), g in zip(groups, games, strict=True) for i, j in g
        ]
        verdicts = judge.judge_pairs(pairs)
        out, k = [], 0
        for (_, samples), g in zip(groups, games, strict=True):
            out.append(best_of_n.wins(len(samples), g, [v.choice for v in verdicts[k : k + len(g)]]))
            k += len(g)
        return out

    return by_tournament


def pick(
    prompts: Sequence[Any], groups: list[tuple[Any, list[str]]], scores: list[list[float]]
) -> list[best_of_n.Pick]:
    picks = []
    for prompt, (_, samples), sample_scores in zip(prompts, groups, scores, strict=True):
        best, worst = best_of_n.rank(sample_scores)
        picks.append(best_of_n.Pick(prompt, samples[best], samples[worst], sample_scores[best], sample_scores[worst]))
    return picks


@runner(Job.Kind.BEST_OF_N)
def run_best_of_n(job: Job, progress: Progress) -> str:
    run = BestOfNRun.objects.select_related("policy", "judge__project", "reward", "project", "prompt_snapshot").get(
        pk=job.pk
    )
    prompts = list(generation.prompt_set(run.project, split=run.split, snapshot=run.prompt_snapshot))
    n = run.n
    total = len(prompts) * (n + 1)
    if not generate_missing(run.pk, run.policy, prompts, run.sampling, lambda done: progress(done, total)):
        return Job.Status.CANCELLED
    rank = ranker_for(best_of_n.scorer_for(run))
    picks: list[best_of_n.Pick] = []
    samples = best_of_n.samples_by_prompt(run, prompts)
    for start in range(0, len(samples), CHUNK):
        chunk = [(p, texts) for p, texts in samples[start : start + CHUNK] if texts]
        groups = [(prompt_value(p), texts) for p, texts in chunk]
        picks += pick([p for p, _ in chunk], groups, rank(groups))
        if not progress(len(prompts) * n + start + len(samples[start : start + CHUNK]), total):
            return Job.Status.CANCELLED
    metrics = {
        "best_score": sum(p.best_score for p in picks) / len(picks) if picks else None,
        "worst_score": sum(p.worst_score for p in picks) / len(picks) if picks else None,
    }
    progress(total, total, metrics)
    best_of_n.finish_best_of_n(run, picks)
    return Job.Status.SUCCEEDED
