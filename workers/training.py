"""Running one training job inside a worker. With workers/tasks.py, the only code that imports training.ml.

The job row is the source of truth: the worker claims it (queued -> running), beats a heartbeat
from a side thread, writes progress and metrics at most once a second (and at every logged step),
stops cleanly when a cancel is requested, and on success registers the output ModelVersion.
"""

import logging
import threading
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import connection

from training import services
from training.models import TrainingJob

log = logging.getLogger(__name__)


class JobReporter:
    """The progress callback handed to training.ml: throttled writes, cancel check, log tail."""

    def __init__(self, job_id: int, series: list[dict], every_s: float = 1.0):
        self.job_id = job_id
        self.series = series
        self.every_s = every_s
        self.last_write = 0.0
        self.cancel = False
        self.lines: list[str] = []

    def __call__(self, step: int, max_steps: int, metrics: dict[str, float]) -> bool:
        if metrics:
            self.series.append({"step": step, **metrics})
            shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
            self.lines.append(f"step {step}/{max_steps} {shown}")
        now = time.monotonic()
        if metrics or step >= max_steps or now - self.last_write >= self.every_s:
            self.last_write = now
            self.cancel = services.record_progress(
                self.job_id, step=step, max_steps=max_steps, metrics=self.series if metrics else None,
                log_lines=self.lines[-50:] if metrics else None,
            )
        return not self.cancel


def _beat(job_id: int, stop: threading.Event) -> None:
    # twice a period: a beat may come late by a whole period before the job counts as lost
    try:
        while not stop.wait(settings.TRAINING_HEARTBEAT_SECONDS / 2):
            try:
                services.heartbeat(job_id)
            except Exception:  # a missed beat is not fatal; the next one will try again
                log.exception("heartbeat for job %s failed", job_id)
    finally:
        connection.close()  # this thread's own database connection


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint: a worker killed while saving leaves one without its trainer state."""
    complete = [p for p in output_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def _evaluate(job: TrainingJob, model_dir: str, test_rows: list[dict]) -> dict:
    """Held-out evaluation stored on the output model: RM pairwise accuracy, DPO implicit-reward accuracy."""
    from training.ml import evaluate

    if not test_rows:
        return {}
    if job.algorithm == "reward":
        return {"pairwise_accuracy": evaluate.reward_model_accuracy(model_dir, test_rows), "test_pairs": len(test_rows)}
    if job.algorithm == "dpo":
        ref = None if job.config.get("use_lora") else job.base_model.path
        accuracy = evaluate.dpo_accuracy(model_dir, ref, test_rows, job.config["beta"])
        return {"implicit_reward_accuracy": accuracy, "test_pairs": len(test_rows)}
    return {}


def run_job(job_id: int, worker: str) -> str:
    """Run job `job_id` to its end. Idempotent: a job that is not queued is left alone."""
    job = services.claim_job(job_id, worker)
    if job is None:
        return "skipped"
    stop = threading.Event()
    threading.Thread(target=_beat, args=(job_id, stop), daemon=True, name=f"heartbeat-{job_id}").start()
    try:
        from datasets import Dataset

        from training.ml.registry import ALGORITHMS, make_config

        train_fn = ALGORITHMS[job.algorithm][1]
        train_rows = services.snapshot_rows(job.snapshot)
        test_rows = services.snapshot_rows(job.eval_snapshot)
        output_dir = job.output_dir
        output_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = latest_checkpoint(output_dir)
        resumed_at = int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0
        # a resumed job keeps the metrics logged up to its checkpoint; later ones will be logged again
        reporter = JobReporter(job_id, series=[row for row in job.metrics if row["step"] <= resumed_at])
        result = train_fn(
            make_config(job.algorithm, job.base_model.path, job.config),
            Dataset.from_list(train_rows),
            output_dir,
            reporter,
            resume_from_checkpoint=checkpoint,
        )
        if result.stopped_early and reporter.cancel:
            services.finish_job(job_id, status=TrainingJob.Status.CANCELLED, step=result.final_step)
            return "cancelled"
        evaluation = _evaluate(job, result.model_dir, test_rows)
        services.finish_job(
            job_id, status=TrainingJob.Status.SUCCEEDED, step=result.final_step, final_metrics=result.metrics,
            model_dir=result.model_dir, evaluation=evaluation,
        )
        return "succeeded"
    except Exception:
        services.fail_job(job_id, traceback.format_exc())
        return "failed"
    finally:
        stop.set()
