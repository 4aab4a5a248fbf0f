"""The runner of judging runs (Job.Kind.JUDGE): a judge answers the project's pairwise items.

The database side is training/judging.py; the judging is training.ml.judges, built from the judge's
resolved spec. Items are judged in chunks, each chunk's verdicts stored in one transaction, so a
cancelled or failed run keeps what it judged and a rerun judges only the rest.
"""

from __future__ import annotations

from training import judging
from training.ml import judges as ml_judges
from training.models import Job, JudgingRun
from workers.jobs import Progress, runner

CHUNK = 8  # items per judge call (and per transaction)


@runner(Job.Kind.JUDGE)
def run_judging(job: Job, progress: Progress) -> str:
    run = JudgingRun.objects.select_related("judge__project").get(pk=job.pk)
    judge = ml_judges.make_judge(judging.judge_spec(run.judge))
    todo = list(judging.items_to_judge(run.judge)[: run.limit] if run.limit else judging.items_to_judge(run.judge))
    total = len(todo)
    done = 0
    if not progress(0, total):
        return Job.Status.CANCELLED
    for start in range(0, total, CHUNK):
        items = todo[start : start + CHUNK]
        verdicts = judge.judge_pairs([judging.pair_of(item) for item in items])
        counts = judging.record_verdicts(run, items, verdicts)
        done += len(items)
        metrics = {"judged": float(counts["judged"]), "ties": float(counts["ties"])}
        if not progress(done, total, metrics):
            return Job.Status.CANCELLED
    return Job.Status.SUCCEEDED
