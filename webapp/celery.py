"""The Celery app: queues `default` (light work) and `gpu` (training, generation)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_default_queue = "default"
app.conf.task_routes = {"workers.tasks.run_training_job": {"queue": "gpu"}}
app.conf.task_acks_late = True  # a job a dead worker held is delivered again
app.conf.worker_prefetch_multiplier = 1
app.conf.broker_connection_retry_on_startup = True
app.autodiscover_tasks(["workers"])
