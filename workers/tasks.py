"""Celery tasks: thin wrappers that take ids, call services, and report back."""

import threading
from typing import Any

from celery import Task, shared_task
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from django.conf import settings


@shared_task(name="workers.tasks.ping")
def ping(value: str = "pong") -> str:
    """Round trip through the broker; used by health checks and tests."""
    return value


@shared_task(bind=True, name="workers.tasks.run_job", acks_late=True)
def run_job(self: Task, job_id: int) -> str:
    """Claim job `job_id` and run it with the runner of its kind (workers/jobs.py)."""
    from workers.jobs import run_job as run

    return run(job_id, worker=f"{self.request.hostname}")


@shared_task(bind=True, name="workers.tasks.run_training_job", acks_late=True)
def run_training_job(self: Task, job_id: int) -> str:
    """The task name training jobs were queued under before run_job: messages still queued run the same."""
    from workers.jobs import run_job as run

    return run(job_id, worker=f"{self.request.hostname}")


@shared_task(name="workers.tasks.mark_lost_jobs")
def mark_lost_jobs() -> int:
    """Periodic: running jobs whose heartbeat stopped for 1.5 periods are failed ("worker lost")."""
    from training.jobs import mark_lost_jobs as mark

    return mark(older_than_s=1.5 * settings.TRAINING_HEARTBEAT_SECONDS)


@celeryd_after_setup.connect
def _preload_ml(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A worker that takes training jobs imports torch/TRL once at start, not at its first job."""
    if settings.TRAINING_QUEUE in instance.app.amqp.queues.consume_from:
        import training.ml.registry  # noqa: F401


_beats_stop = threading.Event()


@worker_ready.connect
def _start_worker_beats(sender: Any, **kwargs: Any) -> None:
    """The worker records that it is alive (training.models.WorkerBeat) from a side thread."""
    from workers.jobs import worker_beats

    queues = sorted(sender.app.amqp.queues.consume_from)
    threading.Thread(
        target=worker_beats, args=(sender.hostname, queues, _beats_stop), daemon=True, name="worker-beats"
    ).start()


@worker_shutdown.connect
def _stop_worker_beats(sender: Any, **kwargs: Any) -> None:
    _beats_stop.set()


from workers import arena  # noqa: E402, F401  (registers workers.arena.run_battle, the arena's task)
