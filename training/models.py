"""Training domain: model registry, dataset snapshots, jobs (models arrive with the training issue)."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models


class DatasetSnapshot(models.Model):
    """A frozen export of a project's judgments in a TRL format: one stored file, named by its sha256.

    Immutable: once saved, a snapshot is never updated (`save` refuses), so a training job that
    points at one knows exactly which rows it trained on.
    """

    class Format(models.TextChoices):
        PREFERENCE = "preference"
        UNPAIRED = "unpaired"
        PROMPTS = "prompts"
        RAW = "raw"

    class FileType(models.TextChoices):
        JSONL = "jsonl"
        PARQUET = "parquet"

    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="snapshots")
    format = models.CharField(max_length=16, choices=Format.choices)
    file_type = models.CharField(max_length=8, choices=FileType.choices)
    spec = models.JSONField(help_text="Everything that made the file: format, policies, split, seed.")
    sha256 = models.CharField(max_length=64, db_index=True)
    rows = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.project} {self.format}.{self.file_type} ({self.sha256[:12]})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("A dataset snapshot is immutable; make a new one instead")
        super().save(*args, **kwargs)

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "snapshots" / f"{self.sha256}.{self.file_type}"

    @property
    def download_name(self) -> str:
        return f"{self.project.slug}-{self.format}-{self.sha256[:12]}.{self.file_type}"


class ModelVersion(models.Model):
    """A model people can train from or compare: a base (hub id or local path) plus an optional LoRA adapter."""

    class Kind(models.TextChoices):
        POLICY = "policy"
        REWARD = "reward"

    name = models.SlugField(max_length=100, unique=True)
    base = models.CharField(max_length=500, help_text="Hub id or local directory of the full model.")
    adapter_path = models.CharField(max_length=500, blank=True, help_text="Directory of a LoRA adapter on top of `base`.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.POLICY)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    produced_by = models.OneToOneField(
        "TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="output_model"
    )
    evaluation = models.JSONField(default=dict, blank=True, help_text="Evaluation results, by metric name.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> str:
        """What to load: the adapter directory (which names its base) or the base itself."""
        return self.adapter_path or self.base


class TrainingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    key = models.UUIDField(default=uuid.uuid4, editable=False, unique=True, help_text="Names the job's output folder.")
    algorithm = models.CharField(max_length=16)
    base_model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="jobs")
    eval_snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="eval_jobs",
        help_text="Held-out rows the output model is evaluated on (the test side of the training snapshot).",
    )
    config = models.JSONField(default=dict, help_text="The full validated config: TRL defaults plus overrides.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=list, blank=True, help_text="Logged metrics: a list of {step, name: value}.")
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Traceback of a failure.")
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_step_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_liveness")]

    def __str__(self) -> str:
        return f"{self.algorithm} job {self.pk} ({self.status})"

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0

    @property
    def output_dir(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "jobs" / str(self.key)

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
