"""The job lifecycle every kind of background work shares (training now; generation, judging,
evaluation and pipeline steps next). Kind-agnostic: it knows Job rows, never what a job does.

    create (queued, sent to its kind's queue after commit) -> claim (queued -> running, exactly once)
    -> heartbeat / record_progress (step, total, appended JobMetric rows, log tail; says whether a
    cancel was asked) -> finish (succeeded / cancelled) or fail (traceback)

plus cancel, resume (failed or cancelled -> queued again), restart_from (a resumed run continues
from a checkpoint: later metric rows go) and mark_lost_jobs (the reaper beat runs: running jobs
whose heartbeat stopped are failed, and can be resumed). Workers dispatch by kind: one Celery task,
workers.tasks.run_job, claims the job and calls the runner registered for its kind (workers/jobs.py).
A new kind of work is one Job.Kind value, one queue entry below and one runner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import Project
from training.models import Job, JobMetric, WorkerBeat

J = TypeVar("J", bound=Job)
RUN_TASK = "workers.tasks.run_job"
MAX_ERROR_CHARS = 20_000
MAX_LOG_CHARS = 20_000


def queue_for(kind: str) -> str:
    """The Celery queue a kind of job runs on (its row in Job.KINDS): the training (gpu) queue where the
    models are, or the default queue."""
    if kind not in Job.KINDS:
        raise ValueError(f"kind: unknown job kind {kind!r}; one of {', '.join(Job.KINDS)}")
    return settings.TRAINING_QUEUE if Job.KINDS[kind].gpu else settings.CELERY_TASK_DEFAULT_QUEUE


def enqueue(job: Job) -> None:
    current_app.send_task(RUN_TASK, args=[job.pk], queue=queue_for(job.kind))


def create(model: type[J], *, kind: str, project: Project, user: Any = None, total: int = 0, **details: Any) -> J:
    """A new queued job of `kind` (a row of `model`: Job, or a kind's details class), sent to its
    workers once the surrounding transaction commits (nothing is sent if it rolls back)."""
    queue_for(kind)
    job = model.objects.create(
        kind=kind,
        project=project,
        total=total,
        queued_at=timezone.now(),
        created_by=user if user is not None and user.is_authenticated else None,
        **details,
    )
    transaction.on_commit(lambda: enqueue(job))
    return job


def claim(job_id: int, worker: str) -> Job | None:
    """queued -> running, once; None if the job is gone or not queued (a redelivered task is a no-op)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Job.Status.QUEUED:
            return None
        now = timezone.now()
        job.status, job.worker, job.started_at, job.heartbeat_at = Job.Status.RUNNING, worker, now, now
        job.save(update_fields=["status", "worker", "started_at", "heartbeat_at"])
    return job


def restart_from(job_id: int, step: int) -> None:
    """This run starts at `step` (a checkpoint, or 0): metric rows logged after it are dropped, as
    the run will log those steps again."""
    with transaction.atomic():
        Job.objects.filter(pk=job_id).update(step=step, start_step=step)
        JobMetric.objects.filter(job_id=job_id, step__gt=step).delete()


def heartbeat(job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())


def finite_or_none(value: Any) -> float | None:
    """A metric value as stored: a finite float, or None (NaN, infinities, anything not a number)."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int too big for a float
        return None
    return value if math.isfinite(value) else None


def metric_points(job_id: int, rows: Iterable[dict[str, Any]]) -> list[JobMetric]:
    """JobMetric objects for rows of {step, name: value, ...} (non-finite values become None)."""
    points: list[JobMetric] = []
    for row in rows:
        step = int(row["step"])
        points.extend(
            JobMetric(job_id=job_id, step=step, name=str(name)[:100], value=finite_or_none(value))
            for name, value in row.items()
            if name != "step"
        )
    return points


def record_progress(
    job_id: int,
    *,
    step: int,
    total: int | None = None,
    metrics: list[dict[str, Any]] | None = None,
    log_lines: list[str] | None = None,
) -> bool:
    """Write a running job's progress, append its new metric rows ({step, name: value}: never the
    whole series again) and its log tail; True when a cancel was requested."""
    now = timezone.now()
    fields: dict[str, Any] = {"step": step, "heartbeat_at": now}
    if total is not None:
        fields["total"] = total
    if log_lines is not None:
        fields["log_tail"] = "\n".join(log_lines)[-MAX_LOG_CHARS:]
    if step > 0:
        fields["first_step_at"] = Coalesce(F("first_step_at"), Value(now))
    with transaction.atomic():
        if Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(**fields) and metrics:
            JobMetric.objects.bulk_create(metric_points(job_id, metrics))
    return Job.objects.filter(pk=job_id).values_list("cancel_requested", flat=True).get()


def finish(job_id: int, status: str, *, step: int | None = None) -> bool:
    """End a running (or queued) job as succeeded or cancelled; False if it had already ended."""
    if status not in (Job.Status.SUCCEEDED, Job.Status.CANCELLED):
        raise ValueError(f"status: finish a job as succeeded or cancelled (fail() records a failure), not {status!r}")
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    if step is not None:
        fields["step"] = step
    return bool(Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(**fields))


def fail(job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(
        status=Job.Status.FAILED, error=error[-MAX_ERROR_CHARS:], finished_at=timezone.now()
    )


def cancel(job: Job) -> None:
    """A queued job is cancelled at once; a running one stops at its next progress report."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status == Job.Status.QUEUED:
            job.status, job.finished_at = Job.Status.CANCELLED, timezone.now()
        elif job.status == Job.Status.RUNNING:
            job.cancel_requested = True
        job.save(update_fields=["status", "finished_at", "cancel_requested"])


def resume(job: Job) -> Job:
    """Queue a failed or cancelled job again; its runner continues from what it saved (a checkpoint)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
            raise ValueError(f"only a failed or cancelled job can be resumed; this one is {job.status}")
        kind = Job.KINDS[job.kind]
        if kind.not_resumed:
            raise ValueError(f"an {kind.label.lower()} is not resumed: {kind.not_resumed}")
        job.status, job.cancel_requested, job.error = Job.Status.QUEUED, False, ""
        job.queued_at, job.finished_at, job.first_step_at = timezone.now(), None, None
        job.save(update_fields=["status", "cancel_requested", "error", "queued_at", "finished_at", "first_step_at"])
        transaction.on_commit(lambda: enqueue(job))
    return job


def mark_lost_jobs(older_than_s: float) -> int:
    """Fail running jobs whose worker has not beaten for `older_than_s` seconds; they can be resumed."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).update(
        status=Job.Status.FAILED,
        finished_at=timezone.now(),
        error=f"worker lost: no heartbeat for {older_than_s:.0f} s; resume to continue from the last checkpoint",
    )


def worker_seen(hostname: str, queues: Iterable[str]) -> None:
    """A worker says it is alive (every WORKER_BEAT_SECONDS, from the worker process itself)."""
    WorkerBeat.objects.update_or_create(
        hostname=hostname[:200], defaults={"queues": ",".join(sorted(queues))[:500], "seen_at": timezone.now()}
    )
