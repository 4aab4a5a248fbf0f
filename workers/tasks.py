"""Celery tasks: thin wrappers that take ids, call services, and report back."""

from celery import shared_task


@shared_task(name="workers.tasks.ping")
def ping(value: str = "pong") -> str:
    """Round trip through the broker; used by health checks and tests."""
    return value
