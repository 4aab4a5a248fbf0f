"""The runner of reward-model evaluations (Job.Kind.EVALUATE): the pairs come from training/evaluations.py,
the scores from training.ml.evaluate.score_pairs (a reward model, or a DPO policy against its reference),
and the per-category results go back through `evaluations.finish_evaluation`."""

from __future__ import annotations

from training import evaluations
from training.models import Evaluation, Job
from workers.jobs import Progress, runner


@runner(Job.Kind.EVALUATE)
def run_evaluation(job: Job, progress: Progress) -> str:
    evaluation = Evaluation.objects.select_related("model", "reference", "project", "snapshot").get(pk=job.pk)
    pairs = evaluations.evaluation_pairs(
        evaluation.project, snapshot=evaluation.snapshot, category_field=evaluation.category_field
    )
    rows = evaluations.scoring_rows(pairs)
    scorer = evaluations.scorer_for(evaluation)
    total = len(rows) * (2 if scorer["kind"] == "dpo" else 1)  # a DPO policy: its pass, then the reference's
    progress(0, total)

    def report(done: int) -> None:
        if not progress(done, total):
            raise _Cancelled

    from training.ml.evaluate import score_pairs

    try:
        scores = score_pairs(scorer, rows, report)
    except _Cancelled:
        return Job.Status.CANCELLED
    results = evaluations.summarize(pairs, scores)
    progress(total, total, {"accuracy": results["accuracy"]})
    evaluations.finish_evaluation(job.pk, results)
    return Job.Status.SUCCEEDED


class _Cancelled(Exception):
    """Raised from the progress report to stop scoring once a cancel was asked."""
