"""Running any job inside a worker: claim it, beat its heartbeat, call the runner of its kind.

A runner is `run(job, progress) -> status`: it does the work, reports through `progress(step, total,
metrics)` (which answers False once a cancel was asked), and returns "succeeded" or "cancelled"
(or finishes the job itself, e.g. to register its output in the same transaction). An exception
fails the job with its traceback. Register one per Job.Kind with `@runner(kind)`; a test fails
when a kind has none.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection

from training import jobs
from training.models import Job

log = logging.getLogger(__name__)

Runner = Callable[[Job, "Progress"], str]
RUNNERS: dict[str, Runner] = {}


def runner(kind: str) -> Callable[[Runner], Runner]:
    """Register the function that runs jobs of `kind`."""
    if kind not in Job.Kind.values:
        raise ValueError(f"unknown job kind {kind!r}")

    def register(fn: Runner) -> Runner:
        RUNNERS[kind] = fn
        return fn

    return register


class Progress:
    """The progress callback a runner reports through: throttled writes (at most once a second,
    and at every step that logged metrics), new metric rows appended, the log tail, the cancel check."""

    def __init__(self, job_id: int, every_s: float = 1.0, log_lines: int = 50):
        self.job_id = job_id
        self.every_s = every_s
        self.keep = log_lines
        self.last_write = 0.0
        self.cancel = False
        self.pending: list[dict[str, Any]] = []
        self.lines: list[str] = []

    def __call__(self, step: int, total: int, metrics: dict[str, Any] | None = None) -> bool:
        """Report `step` of `total` with the metrics logged at it; False once the job should stop."""
        if metrics:
            self.pending.append({"step": step, **metrics})
            shown = " ".join(f"{k}={_fmt(v)}" for k, v in sorted(metrics.items()))
            self.lines = [*self.lines[-(self.keep - 1) :], f"step {step}/{total} {shown}"]
        now = time.monotonic()
        if metrics or step >= total or now - self.last_write >= self.every_s:
            self.last_write = now
            pending, self.pending = self.pending, []
            self.cancel = jobs.record_progress(
                self.job_id, step=step, total=total, metrics=pending or None, log_lines=self.lines if metrics else None
            )
        return not self.cancel


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@contextmanager
def heartbeat(job_id: int) -> Iterator[None]:
    """Beat the job's heartbeat from a side thread while the body runs (twice a period: a beat may
    come late by a whole period before the reaper counts the job as lost)."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.TRAINING_HEARTBEAT_SECONDS / 2):
                try:
                    jobs.heartbeat(job_id)
                except Exception:  # a missed beat is not fatal; the next one will try again
                    log.exception("heartbeat for job %s failed", job_id)
        finally:
            connection.close()  # this thread's own database connection

    threading.Thread(target=beat, daemon=True, name=f"heartbeat-{job_id}").start()
    try:
        yield
    finally:
        stop.set()


def run_job(job_id: int, worker: str) -> str:
    """Run job `job_id` to its end. Idempotent: a job that is not queued is left alone ("skipped")."""
    import workers.runners  # noqa: F401  (registers every kind's runner)

    job = jobs.claim(job_id, worker)
    if job is None:
        return "skipped"
    with heartbeat(job_id):
        try:
            run = RUNNERS.get(job.kind)
            if run is None:
                raise LookupError(f"no runner is registered for jobs of kind {job.kind!r}")
            status = run(job, Progress(job_id))
            jobs.finish(job_id, status)  # a no-op when the runner finished the job itself
        except Exception:
            jobs.fail(job_id, traceback.format_exc())
            return "failed"
    return status


def worker_beats(hostname: str, queues: list[str], stop: threading.Event) -> None:
    """Record that this worker is alive every WORKER_BEAT_SECONDS until `stop` (a side thread)."""
    try:
        while True:
            try:
                jobs.worker_seen(hostname, queues)
            except Exception:
                log.exception("recording the worker's heartbeat failed")
            if stop.wait(settings.WORKER_BEAT_SECONDS):
                return
    finally:
        connection.close()
