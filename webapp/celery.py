"""The Celery app. Queues: settings.CELERY_TASK_DEFAULT_QUEUE (`default`, light work) and
settings.TRAINING_QUEUE (`gpu`: training jobs). training.jobs.queue_for says which kind of job goes where."""

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_acks_late = True  # a job a dead worker held is delivered again
app.conf.worker_prefetch_multiplier = 1
app.conf.broker_connection_retry_on_startup = True
app.autodiscover_tasks(["workers"])


@app.on_after_configure.connect
def _periodic_tasks(sender: Celery, **kwargs: Any) -> None:
    from django.conf import settings

    # beat (celery -B, or a separate `celery beat`) fails jobs whose worker stopped beating
    sender.add_periodic_task(
        settings.TRAINING_HEARTBEAT_SECONDS / 4, sender.signature("workers.tasks.mark_lost_jobs"), name="mark-lost-jobs"
    )
