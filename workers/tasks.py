"""Celery tasks: thin wrappers that take ids, call services, and report back."""

from celery import shared_task
from celery.signals import celeryd_after_setup
from django.conf import settings


@shared_task(name="workers.tasks.ping")
def ping(value: str = "pong") -> str:
    """Round trip through the broker; used by health checks and tests."""
    return value


@shared_task(bind=True, name="workers.tasks.run_training_job", acks_late=True)
def run_training_job(self, job_id: int) -> str:
    from workers.training import run_job

    return run_job(job_id, worker=f"{self.request.hostname}")


@shared_task(name="workers.tasks.mark_lost_jobs")
def mark_lost_jobs() -> int:
    """Periodic: running jobs whose heartbeat stopped for 1.5 periods are failed ("worker lost")."""
    from training.services import mark_lost_jobs as mark

    return mark(older_than_s=1.5 * settings.TRAINING_HEARTBEAT_SECONDS)


@celeryd_after_setup.connect
def _preload_ml(sender, instance, **kwargs):
    """A worker that takes training jobs imports torch/TRL once at start, not at its first job."""
    if settings.TRAINING_QUEUE in instance.app.amqp.queues.consume_from:
        import training.ml.registry  # noqa: F401
