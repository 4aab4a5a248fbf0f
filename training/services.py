"""Writes of the training domain: dataset snapshots, the model registry and training jobs."""

import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling import exporters
from labeling.models import Project
from training import configs
from training.models import DatasetSnapshot, ModelVersion, TrainingJob


def snapshot_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def create_snapshot(project: Project, spec: exporters.ExportSpec, *, user=None) -> DatasetSnapshot:
    """Freeze an export of `project` as an immutable, content-addressed file plus its record.

    The file is stored once per content as MEDIA_ROOT/snapshots/<sha256>.<ext>, read-only; the
    same spec over the same judgments gives the same bytes, so the same file.
    """
    folder = snapshot_dir()
    part = folder / f".new-{uuid.uuid4().hex}.{spec.file_type}"
    try:
        result = exporters.export(project, spec, part)
        final = folder / f"{result.sha256}.{spec.file_type}"
        if final.exists():
            part.unlink()
        else:
            os.chmod(part, 0o444)
            os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    return DatasetSnapshot.objects.create(
        project=project,
        format=result.spec.format,
        file_type=result.spec.file_type,
        spec=result.spec.as_dict(),
        sha256=result.sha256,
        rows=result.rows,
        size_bytes=result.size_bytes,
        created_by=user if user is not None and user.is_authenticated else None,
    )

def register_model(*, name: str, base: str, kind: str = ModelVersion.Kind.POLICY, adapter_path: str = "",
                   parent: ModelVersion | None = None) -> ModelVersion:
    """Register a base model (hub id or local directory) under `name`; registering it again updates it."""
    if not base.strip():
        raise ValueError("base: give a hub id or a local directory")
    looks_local = base.startswith(("/", ".", "~"))
    if looks_local and not Path(base).expanduser().is_dir():
        raise ValueError(f"base: {base} is not a directory")
    model, _ = ModelVersion.objects.update_or_create(
        name=name, defaults={"base": base, "kind": kind, "adapter_path": adapter_path, "parent": parent}
    )
    return model


def launch_job(*, algorithm: str, base_model: ModelVersion, snapshot: DatasetSnapshot, overrides: dict,
               eval_snapshot: DatasetSnapshot | None = None, user=None) -> TrainingJob:
    """Validate the config and queue the job for the training workers; nothing is queued if it is refused.

    A training snapshot cut by a seeded split (`split=train`, `test_size`) gets its test side frozen
    now as the evaluation snapshot, unless one is given.
    """
    config = configs.validate(algorithm, overrides)
    configs.check_snapshot_format(algorithm, snapshot.format)
    if eval_snapshot is not None and eval_snapshot.format != snapshot.format:
        raise configs.ConfigError("eval_snapshot", f"must be a {snapshot.format} snapshot like the training one")
    with transaction.atomic():
        if eval_snapshot is None and snapshot.spec.get("split") == "train" and snapshot.spec.get("test_size"):
            test_spec = exporters.ExportSpec.from_dict({**snapshot.spec, "split": "test"})
            eval_snapshot = create_snapshot(snapshot.project, test_spec, user=user)
        job = TrainingJob.objects.create(
            algorithm=algorithm, base_model=base_model, snapshot=snapshot, eval_snapshot=eval_snapshot, config=config,
            created_by=user if user and user.is_authenticated else None, queued_at=timezone.now(),
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    current_app.send_task("workers.tasks.run_training_job", args=[job_id], queue=settings.TRAINING_QUEUE)


def request_cancel(job: TrainingJob) -> None:
    """A queued job is cancelled at once; a running one stops at its next step."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.status == TrainingJob.Status.QUEUED:
            job.status, job.finished_at = TrainingJob.Status.CANCELLED, timezone.now()
        elif job.status == TrainingJob.Status.RUNNING:
            job.cancel_requested = True
        job.save(update_fields=["status", "finished_at", "cancel_requested"])


def resume_job(job: TrainingJob) -> TrainingJob:
    """Queue a failed or cancelled job again; its worker continues from the last checkpoint."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED):
            raise ValueError(f"only a failed or cancelled job can be resumed; this one is {job.status}")
        job.status, job.cancel_requested, job.error = TrainingJob.Status.QUEUED, False, ""
        job.queued_at, job.finished_at, job.first_step_at = timezone.now(), None, None
        job.save()
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


# worker side: called from workers/training.py


def claim_job(job_id: int, worker: str) -> TrainingJob | None:
    """queued -> running, once; None if the job is gone or not queued (a redelivered task is a no-op)."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update(of=("self",)).select_related("base_model", "snapshot").filter(pk=job_id).first()
        if job is None or job.status != TrainingJob.Status.QUEUED:
            return None
        now = timezone.now()
        job.status, job.worker, job.started_at, job.heartbeat_at = TrainingJob.Status.RUNNING, worker, now, now
        job.save(update_fields=["status", "worker", "started_at", "heartbeat_at"])
    return job


def heartbeat(job_id: int) -> None:
    TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.RUNNING).update(heartbeat_at=timezone.now())


def record_progress(job_id: int, *, step: int, max_steps: int, metrics: list | None = None,
                    log_lines: list[str] | None = None) -> bool:
    """Write progress (and the metric series / log tail when given); True when a cancel was requested."""
    now = timezone.now()
    fields: dict = {"step": step, "max_steps": max_steps, "heartbeat_at": now}
    if metrics is not None:
        fields["metrics"] = metrics
    if log_lines is not None:
        fields["log_tail"] = "\n".join(log_lines)
    running = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.RUNNING)
    running.update(**fields)
    if step > 0:
        running.filter(first_step_at__isnull=True).update(first_step_at=now)
    return TrainingJob.objects.filter(pk=job_id).values_list("cancel_requested", flat=True).get()


def finish_job(job_id: int, *, status: str, step: int, final_metrics: dict | None = None, model_dir: str = "",
               evaluation: dict | None = None) -> TrainingJob:
    """End a running job; a succeeded one registers its output ModelVersion with its lineage."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update(of=("self",)).select_related("base_model").get(pk=job_id)
        job.status, job.step, job.finished_at = status, step, timezone.now()
        if status == TrainingJob.Status.SUCCEEDED:
            base = job.base_model
            lora = bool(job.config.get("use_lora"))
            ModelVersion.objects.create(
                name=f"{job.algorithm}-{job.pk}",
                base=base.base if lora and not base.adapter_path else (base.path if lora else model_dir),
                adapter_path=model_dir if lora else "",
                kind=ModelVersion.Kind.REWARD if job.algorithm == "reward" else ModelVersion.Kind.POLICY,
                parent=base, produced_by=job,
                evaluation={**(evaluation or {}), "train": final_metrics or {}},
            )
        job.save(update_fields=["status", "step", "finished_at"])
    return job


def fail_job(job_id: int, error: str) -> None:
    TrainingJob.objects.filter(pk=job_id).exclude(status__in=TrainingJob.FINISHED).update(
        status=TrainingJob.Status.FAILED, error=error[-20000:], finished_at=timezone.now()
    )


def mark_lost_jobs(older_than_s: float) -> int:
    """Fail running jobs whose worker has not beaten for `older_than_s` seconds; they can be resumed."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING, heartbeat_at__lt=cutoff).update(
        status=TrainingJob.Status.FAILED, finished_at=timezone.now(),
        error=f"worker lost: no heartbeat for {older_than_s:.0f} s; resume to continue from the last checkpoint",
    )


def snapshot_rows(snapshot: DatasetSnapshot | None) -> list[dict]:
    """The rows of a snapshot, read back from its stored file ([] for no snapshot)."""
    if snapshot is None:
        return []
    if snapshot.file_type == DatasetSnapshot.FileType.PARQUET:
        import pyarrow.parquet as pq

        return pq.read_table(snapshot.path).to_pylist()
    with snapshot.path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
