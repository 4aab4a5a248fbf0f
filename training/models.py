"""Training domain: the model registry and training jobs (dataset snapshots live in labeling.models)."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models


class ModelVersion(models.Model):
    """A model of one project that people can train from or compare.

    What to load: `base` (a hub id or a directory under the model roots), then each LoRA adapter
    directory in `adapters`, in order, merged. A LoRA job on top of a version with adapters [a1]
    produces a version with the same base and adapters [a1, a2], so loading a version anywhere gives
    exactly the weights its job ended with.
    """

    class Kind(models.TextChoices):
        POLICY = "policy"
        REWARD = "reward"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="model_versions", null=True, blank=True,
        help_text="The project the model belongs to (empty only for models registered before models had projects).",
    )
    name = models.SlugField(max_length=100)
    base = models.CharField(max_length=500, help_text="Hub id or local directory of the full model.")
    adapters = models.JSONField(
        default=list, blank=True, help_text="LoRA adapter directories applied on `base`, in order."
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.POLICY)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    produced_by = models.OneToOneField(
        "TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="output_model"
    )
    evaluation = models.JSONField(default=dict, blank=True, help_text="Evaluation results, by metric name.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="one_model_name_per_project")]

    def __str__(self) -> str:
        return self.name

    @property
    def adapter_path(self) -> str:
        """The last adapter (what this version's own job trained), or "" for a full model."""
        return self.adapters[-1] if self.adapters else ""


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
    snapshot = models.ForeignKey("labeling.DatasetSnapshot", on_delete=models.PROTECT, related_name="jobs")
    eval_snapshot = models.ForeignKey(
        "labeling.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="eval_jobs",
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
