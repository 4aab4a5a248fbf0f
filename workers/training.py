"""The runner of training jobs (Job.Kind.TRAIN). With workers/tasks.py, the only code that imports training.ml.

The lifecycle (claim, heartbeat, progress rows, cancel, failure) is workers/jobs.py + training/jobs.py;
this module only trains: it continues from the newest complete checkpoint of a resumed job, calls
`training.ml.registry.train` / `.evaluate` for the job's algorithm and, on success, registers the
output ModelVersion (training.services.finish_job).
"""

from labeling.data.snapshots import snapshot_rows
from training import jobs, reward_sources, services
from training.models import Job, TrainingJob
from training.selectors import latest_checkpoint
from workers.jobs import Progress, runner

__all__ = ["latest_checkpoint", "run_training"]


@runner(Job.Kind.TRAIN)
def run_training(job: Job, progress: Progress) -> str:
    from training.ml import registry

    details = TrainingJob.objects.select_related("base_model", "snapshot", "eval_snapshot").get(pk=job.pk)
    start = details.base_model
    output_dir = details.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = latest_checkpoint(output_dir)
    # a resumed job keeps the metrics logged up to its checkpoint; later ones will be logged again
    jobs.restart_from(job.pk, int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0)
    # an online job's reward source (model:/judge:/rule:), resolved against its project to a plain dict
    reward = details.config.get("reward")
    project = details.snapshot.project
    # PPO's value model may start from a reward version the job names (value_model=model:NAME)
    value_from = reward_sources.resolve_value_model(project, details.config.get("value_model"))
    result = registry.train(
        details.algorithm,
        base=start.base,
        adapters=start.adapters,
        values=details.config,
        train_rows=snapshot_rows(details.snapshot),
        output_dir=output_dir,
        callback=progress,
        resume_from_checkpoint=checkpoint,
        reward=reward_sources.resolve_reward(project, reward) if reward else None,
        value_from=value_from,
    )
    if result.stopped_early and progress.cancel:
        services.finish_job(job.pk, status=Job.Status.CANCELLED, step=result.final_step)
        return Job.Status.CANCELLED
    evaluation = registry.evaluate(
        details.algorithm,
        model_dir=result.model_dir,
        base=start.base,
        adapters=start.adapters,
        values=details.config,
        test_rows=snapshot_rows(details.eval_snapshot),
    )
    services.finish_job(
        job.pk,
        status=Job.Status.SUCCEEDED,
        step=result.final_step,
        final_metrics=result.metrics,
        model_dir=result.model_dir,
        evaluation=evaluation,
    )
    return Job.Status.SUCCEEDED
