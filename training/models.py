"""Training domain: the model registry, the job lifecycle every kind of background work shares
(Job and its JobMetric rows) and training jobs. Dataset snapshots live in labeling.models."""

import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone


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
    base = models.CharField(
        max_length=500, blank=True, help_text="Hub id or local directory of the full model (empty for an endpoint)."
    )
    adapters = models.JSONField(
        default=list, blank=True, help_text="LoRA adapter directories applied on `base`, in order."
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.POLICY)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    produced_by = models.OneToOneField(
        "TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="output_model"
    )
    evaluation = models.JSONField(default=dict, blank=True, help_text="Evaluation results, by metric name.")
    endpoint_url = models.URLField(
        max_length=500, blank=True, help_text="Base URL of an OpenAI-compatible server (vLLM, transformers serve, TGI)."
    )
    endpoint_model = models.CharField(max_length=200, blank=True, help_text="The model name the endpoint serves.")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the endpoint's key (never the key)."
    )
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

    @property
    def is_endpoint(self) -> bool:
        """Served elsewhere, reached through its OpenAI-compatible endpoint."""
        return bool(self.endpoint_url)


class Job(models.Model):
    """One piece of background work, whatever its kind: queued -> running (claimed by one worker,
    heartbeat, progress) -> succeeded / failed / cancelled. Its metrics are JobMetric rows; the
    details of a kind live beside it (a training job is a TrainingJob, sharing this row's id).
    The lifecycle itself is training/jobs.py.
    """

    class Kind(models.TextChoices):
        TRAIN = "train", "Training"
        NOOP = "noop", "No-op"
        GENERATE = "generate", "Generation"
        CAMPAIGN = "campaign", "Campaign"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0, help_text="Steps (or units of work) to do; 0 while unknown.")
    start_step = models.PositiveIntegerField(
        default=0, help_text="The step this run started from (a resumed job's checkpoint)."
    )
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Traceback of a failure.")
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_step_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # not on heartbeat_at: progress writes then change no indexed column (HOT updates on Postgres)
            models.Index(fields=["status"], name="jobs_by_status"),
            models.Index(fields=["project", "-created_at"], name="jobs_of_project"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def percent(self) -> int:
        return int(100 * self.progress)

    @property
    def eta(self) -> timedelta | None:
        """Time left at the pace since this run's first step; None when unknown or not running."""
        done = self.step - self.start_step
        if self.status != self.Status.RUNNING or not self.total or self.first_step_at is None or done < 2:
            return None
        per_step = (timezone.now() - self.first_step_at) / (done - 1)
        return per_step * max(0, self.total - self.step)

    @property
    def eta_text(self) -> str:
        """The ETA in words ("2 min 5 s"), or "" when unknown."""
        eta = self.eta
        if eta is None:
            return ""
        seconds = int(eta.total_seconds())
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s" if rest >= 60 else f"{rest} s"

    @property
    def metrics(self) -> list[dict]:
        """The logged metrics as {step, name: value} rows, by step (None stands for NaN or an infinity)."""
        rows: dict[int, dict] = {}
        for step, name, value in self.metric_points.order_by("step", "id").values_list("step", "name", "value"):
            rows.setdefault(step, {"step": step})[name] = value
        return list(rows.values())


class JobMetric(models.Model):
    """One logged value of one job: appended, never rewritten. `value` is NULL for NaN and infinities."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    value = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "name", "step"], name="jobmetric_series")]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value}"


class TrainingJob(Job):
    """A training job: its Job row (the same id) plus what to train, from which model, on which data."""

    job = models.OneToOneField(
        Job, on_delete=models.CASCADE, parent_link=True, primary_key=True, db_column="id", related_name="training"
    )
    key = models.UUIDField(default=uuid.uuid4, editable=False, unique=True, help_text="Names the job's output folder.")
    algorithm = models.CharField(max_length=16)
    base_model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    snapshot = models.ForeignKey("labeling.DatasetSnapshot", on_delete=models.PROTECT, related_name="jobs")
    eval_snapshot = models.ForeignKey(
        "labeling.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="eval_jobs",
        help_text="Held-out rows the output model is evaluated on (the test side of the training snapshot).",
    )
    config = models.JSONField(default=dict, help_text="The full validated config: TRL defaults plus overrides.")

    def __str__(self) -> str:
        return f"{self.algorithm} job {self.pk} ({self.status})"

    @property
    def max_steps(self) -> int:
        return self.total

    @property
    def output_dir(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "jobs" / str(self.key)


class WorkerBeat(models.Model):
    """The last sign of life of one Celery worker (written by the worker itself every few seconds),
    so the pages can say plainly when no worker is running."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.CharField(max_length=500, blank=True, help_text="The queues it consumes, comma-separated.")
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} ({self.seen_at:%Y-%m-%d %H:%M:%S})"


class GenerationBatch(Job):
    """A generation batch: its Job row plus a model version x a prompt set x sampling settings.
    The prompt set is a snapshot's prompts when `snapshot` is set, else the project's prompts
    (only `split` when it is set). Its responses are linked through Generation rows."""

    job = models.OneToOneField(
        Job, on_delete=models.CASCADE, parent_link=True, primary_key=True, db_column="id", related_name="generation_batch"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generation_batches")
    split = models.CharField(max_length=8, blank=True, help_text="Only the prompts of this split (empty: all).")
    snapshot = models.ForeignKey(
        "labeling.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="generation_batches",
        help_text="Generate for this snapshot's prompts instead of the project's.",
    )
    sampling = models.JSONField(default=dict, help_text="The validated sampling settings (see training/ml/sampling.py).")

    def __str__(self) -> str:
        return f"generation job {self.pk} ({self.status})"


class Generation(models.Model):
    """One generated response: which model version wrote it, in which job, for which prompt, as
    which sample. Unique per (job, model version, prompt, index), so a resumed job never writes a
    response twice."""

    response = models.OneToOneField("labeling.Response", on_delete=models.CASCADE, related_name="generation")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generations")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="generations")
    prompt = models.ForeignKey("labeling.Prompt", on_delete=models.CASCADE, related_name="generations")
    index = models.PositiveSmallIntegerField(default=0, help_text="Which of the n samples for this prompt.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "model_version", "prompt", "index"], name="one_generation_per_sample")
        ]
        indexes = [models.Index(fields=["model_version", "prompt"], name="generation_of_model")]

    def __str__(self) -> str:
        return f"{self.model_version} on prompt {self.prompt_id} #{self.index}"


class Campaign(models.Model):
    """A comparison campaign: a prompt set and two or more model versions (or imported response
    sources) -> what is missing is generated -> pairwise items, left/right balanced, into the
    project's annotation queue."""

    class Mode(models.TextChoices):
        ALL_PAIRS = "all_pairs", "Every pair"
        VS_REFERENCE = "vs_reference", "Each against a reference"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200, blank=True)
    split = models.CharField(max_length=8, blank=True, help_text="Only the prompts of this split (empty: all).")
    model_versions = models.ManyToManyField(ModelVersion, related_name="campaigns", blank=True)
    competitors = models.JSONField(
        default=list, help_text="What is compared, in order: model version names and imported Response.source labels."
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ALL_PAIRS)
    reference = models.CharField(
        max_length=200, blank=True, help_text="The model version name or source every other is compared with."
    )
    sampling = models.JSONField(default=dict, blank=True, help_text="Sampling settings for what is generated.")
    items_created = models.PositiveIntegerField(default=0)
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"campaign {self.pk}"


class CampaignItem(models.Model):
    """An item a campaign made, with the two competitors in the item's a/b order."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_items")
    item = models.OneToOneField("labeling.Item", on_delete=models.CASCADE, related_name="campaign_item")
    competitor_a = models.CharField(max_length=200)
    competitor_b = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["campaign", "competitor_a", "competitor_b"], name="campaign_pairs")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.competitor_a} vs {self.competitor_b}"
