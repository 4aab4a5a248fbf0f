"""Training domain: the model registry, the job lifecycle every kind of background work shares
(Job and its JobMetric rows) and training jobs. Dataset snapshots live in labeling.models."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from labeling.fields import one_name_per_project, optional_fk
from labeling.models import Authored, DatasetSnapshot, Item, Project, Prompt, Response


def input_snapshot(related_name: str, help_text: str = "") -> "models.ForeignKey[DatasetSnapshot | None]":
    """An optional snapshot that work reads: protected, so a snapshot something was made from stays."""
    return optional_fk(DatasetSnapshot, models.PROTECT, related_name, help_text)


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
        Project,
        on_delete=models.CASCADE,
        related_name="model_versions",
        null=True,
        blank=True,
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
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the endpoint's key (never the key).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [one_name_per_project("model")]

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


@dataclass(frozen=True)
class JobKind:
    """What the job lifecycle knows of one kind of work (a row of Job.KINDS)."""

    label: str
    gpu: bool = False  # runs on the training (gpu) queue, where the models are; else on the default queue
    not_resumed: str = ""  # why a failed or cancelled job of this kind is never queued again ("": it can be)


class Job(models.Model):
    """One piece of background work, whatever its kind: queued -> running (claimed by one worker,
    heartbeat, progress) -> succeeded / failed / cancelled. Its metrics are JobMetric rows; the
    details of a kind live beside it (a training job is a TrainingJob, sharing this row's id).
    The lifecycle itself is training/jobs.py.
    """

    class Kind(models.TextChoices):
        """The kinds of work; what the lifecycle knows of each (label, queue, resume) is its row in Job.KINDS."""

        TRAIN = "train"
        NOOP = "noop"
        GENERATE = "generate"
        ARENA = "arena"
        CAMPAIGN = "campaign"
        JUDGE = "judge"
        BEST_OF_N = "best_of_n"
        EVALUATE = "evaluate"
        ROUND = "round"
        PIPELINE = "pipeline"

    KINDS: ClassVar[dict[str, JobKind]] = {
        Kind.TRAIN: JobKind("Training", gpu=True),
        Kind.NOOP: JobKind("No-op"),
        Kind.GENERATE: JobKind("Generation", gpu=True),
        Kind.ARENA: JobKind("Arena battle", gpu=True, not_resumed="its member has moved on; start a new battle"),
        Kind.CAMPAIGN: JobKind("Campaign", gpu=True),
        Kind.JUDGE: JobKind("Judging run", gpu=True),
        Kind.BEST_OF_N: JobKind("Best-of-n", gpu=True),
        Kind.EVALUATE: JobKind("Reward-model evaluation", gpu=True),
        Kind.ROUND: JobKind("Round"),  # drives other jobs, loads no model
        Kind.PIPELINE: JobKind("Pipeline"),
    }

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=16, choices=[(str(kind), spec.label) for kind, spec in KINDS.items()])
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
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
    created_by = optional_fk(settings.AUTH_USER_MODEL, models.SET_NULL, "+")
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
        return (
            f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s" if rest >= 60 else f"{rest} s"
        )

    @property
    def metrics(self) -> list[dict]:
        """The logged metrics as {step, name: value} rows, by step (None stands for NaN or an infinity)."""
        rows: dict[int, dict] = {}
        for step, name, value in self.metric_points.order_by("step", "id").values_list("step", "name", "value"):
            rows.setdefault(step, {"step": step})[name] = value
        return list(rows.values())


def job_details(related_name: str) -> "models.OneToOneField[Job]":
    """The link of a kind's details (a TrainingJob, an Evaluation, ...) to their Job row: multi-table
    inheritance that shares the Job's id, reached from the Job as `job.<related_name>`."""
    return models.OneToOneField(
        Job, on_delete=models.CASCADE, parent_link=True, primary_key=True, db_column="id", related_name=related_name
    )


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

    job = job_details("training")
    key = models.UUIDField(default=uuid.uuid4, editable=False, unique=True, help_text="Names the job's output folder.")
    algorithm = models.CharField(max_length=16)
    base_model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="jobs")
    eval_snapshot = input_snapshot(
        "eval_jobs", "Held-out rows the output model is evaluated on (the test side of the training snapshot)."
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

    job = job_details("generation_batch")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generation_batches")
    split = models.CharField(max_length=8, blank=True, help_text="Only the prompts of this split (empty: all).")
    snapshot = input_snapshot("generation_batches", "Generate for this snapshot's prompts instead of the project's.")
    sampling = models.JSONField(
        default=dict, help_text="The validated sampling settings (see training/ml/sampling.py)."
    )

    def __str__(self) -> str:
        return f"generation job {self.pk} ({self.status})"


class Generation(models.Model):
    """One generated response: which model version wrote it, in which job, for which prompt, as
    which sample. Unique per (job, model version, prompt, index), so a resumed job never writes a
    response twice."""

    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="generation")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generations")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="generations")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="generations")
    index = models.PositiveSmallIntegerField(default=0, help_text="Which of the n samples for this prompt.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "model_version", "prompt", "index"], name="one_generation_per_sample"
            )
        ]
        indexes = [models.Index(fields=["model_version", "prompt"], name="generation_of_model")]

    def __str__(self) -> str:
        return f"{self.model_version} on prompt {self.prompt_id} #{self.index}"


class Campaign(Authored):
    """A comparison campaign: a prompt set and two or more model versions (or imported response
    sources) -> what is missing is generated -> pairwise items, left/right balanced, into the
    project's annotation queue."""

    class Mode(models.TextChoices):
        ALL_PAIRS = "all_pairs", "Every pair"
        VS_REFERENCE = "vs_reference", "Each against a reference"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="campaigns")
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

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"campaign {self.pk}"


class CampaignItem(models.Model):
    """An item a campaign made, with the two competitors in the item's a/b order."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_items")
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="campaign_item")
    competitor_a = models.CharField(max_length=200)
    competitor_b = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["campaign", "competitor_a", "competitor_b"], name="campaign_pairs")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.competitor_a} vs {self.competitor_b}"


class Judge(Authored):
    """An AI judge registered in a project: it judges pairwise items as an annotator does.

    `settings` by kind: reward-model {"model": reward version id, "tie_margin": float};
    llm {"model": version id (a policy or an endpoint), "template": a template name or its text};
    rule {"rule": "length" | "vocab-share" | "regex:<pattern>"}. Validated by training/judging.py.
    """

    class Kind(models.TextChoices):
        REWARD_MODEL = "reward-model", "Reward model"
        LLM = "llm", "LLM as a judge"
        RULE = "rule", "Rule"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges")
    name = models.SlugField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    settings = models.JSONField(default=dict, blank=True, help_text="What the judge loads and how it decides, by kind.")

    class Meta:
        ordering = ["name"]
        constraints = [one_name_per_project("judge")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class JudgingRun(Job):
    """A judging run: its Job row plus the judge and how many items at most; `counts` holds
    {"judged", "ties", "swap_inconsistent", "skipped"} as the run goes."""

    job = job_details("judging_run")
    judge = models.ForeignKey(Judge, on_delete=models.PROTECT, related_name="runs")
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Judge at most this many items (empty: all).")
    counts = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"judging job {self.pk} ({self.status})"


class BestOfNRun(Job):
    """Best-of-n / rejection sampling: a policy samples n responses per prompt, a judge or a reward
    version ranks them, and the best (SFT rows) and best-vs-worst (preference rows) become snapshots."""

    job = job_details("best_of_n_run")
    policy = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="best_of_n_runs")
    n = models.PositiveSmallIntegerField(default=4)
    judge = optional_fk(Judge, models.PROTECT, "best_of_n_runs")
    reward = optional_fk(
        ModelVersion,
        models.PROTECT,
        "best_of_n_rewards",
        "The reward version that ranks the samples (when no judge is named).",
    )
    split = models.CharField(max_length=8, blank=True, help_text="Only the prompts of this split (empty: all).")
    prompt_snapshot = input_snapshot("best_of_n_inputs", "Sample for this snapshot's prompts instead of the project's.")
    sampling = models.JSONField(default=dict, blank=True)
    generation = optional_fk(
        GenerationBatch, models.SET_NULL, "best_of_n_runs", "The generation batch the samples came from, if any."
    )
    sft_snapshot = optional_fk(DatasetSnapshot, models.SET_NULL, "best_of_n_sft")
    preference_snapshot = optional_fk(DatasetSnapshot, models.SET_NULL, "best_of_n_preference")

    def __str__(self) -> str:
        return f"best-of-{self.n} job {self.pk} ({self.status})"


class Evaluation(Job):
    """A reward-model evaluation (RewardBench-style): a reward version, or a DPO policy as an implicit
    reward with its reference, on a project's or a snapshot's preference pairs -> `results`
    {"accuracy", "n", "ties", "categories": {name: {"accuracy", "n"}}}. The job's project is the data's."""

    job = job_details("evaluation")
    model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="evaluations")
    reference = optional_fk(
        ModelVersion, models.PROTECT, "reference_evaluations", "The reference policy of an implicit (DPO) reward."
    )
    snapshot = input_snapshot("evaluations", "Evaluate on this snapshot's pairs instead of the project's.")
    category_field = models.CharField(max_length=100, default="category", blank=True)
    results = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"evaluation job {self.pk} ({self.status})"


class Round(Authored):
    """One turn of the loop (training/rounds.py): policy vN meets its opponent (vN-1, or a version
    named) in a campaign -> a judge and/or the annotators judge the items -> a preference snapshot ->
    a training job (DPO by default; or rm-ppo: a reward job on the snapshot, a prompt snapshot, then a
    PPO job against the new reward version) -> vN+1 -> an evaluation campaign vN+1 vs vN, judged -> the
    rating change. Driven by its ROUND job (workers/rounds.py), which records each child here as it
    goes, so a resumed round continues where it stopped."""

    class Status(models.TextChoices):
        CAMPAIGN = "campaign", "Generating the campaign"
        JUDGING = "judging", "Judging"
        COLLECTING = "collecting", "Waiting for the annotators"
        SNAPSHOT = "snapshot", "Snapshot"
        REWARD = "reward", "Training the reward model"
        TRAINING = "training", "Training"
        EVALUATING = "evaluating", "Evaluating the new version"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    policy = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="rounds")
    opponent = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="rounds_as_opponent")
    judge = models.CharField(
        max_length=200,
        blank=True,
        help_text="A judge of the project (NAME), or model:NAME / rule:NAME; empty: annotators only.",
    )
    humans = models.BooleanField(
        default=False, help_text="Wait until the annotators brought the items to their overlap."
    )
    algorithm = models.CharField(max_length=16, default="dpo")
    settings = models.JSONField(default=dict, blank=True, help_text="Round settings and training overrides, as given.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CAMPAIGN)
    close_requested = models.BooleanField(default=False, help_text="The researcher closed collection early.")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="round")
    campaign = optional_fk(Campaign, models.SET_NULL, "rounds")
    judging_job = optional_fk(Job, models.SET_NULL, "+")
    snapshot = input_snapshot("rounds")
    reward_job = optional_fk(TrainingJob, models.SET_NULL, "+", "rm-ppo: the reward-model update on the snapshot.")
    reward_version = optional_fk(ModelVersion, models.SET_NULL, "+", "rm-ppo: the reward version PPO trains against.")
    prompt_snapshot = input_snapshot("+", "rm-ppo: the prompts of the round's split that PPO samples from.")
    training_job = optional_fk(TrainingJob, models.SET_NULL, "rounds")
    new_version = optional_fk(ModelVersion, models.SET_NULL, "rounds_produced")
    eval_campaign = optional_fk(Campaign, models.SET_NULL, "+")
    eval_judging_job = optional_fk(Job, models.SET_NULL, "+")
    rating_change = models.JSONField(
        default=dict, blank=True, help_text='{"delta", "ci", "battles", "new", "old"}: vN+1 vs vN on the leaderboard.'
    )

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="one_round_number_per_project")]

    def __str__(self) -> str:
        return f"round {self.number} of {self.project_id} ({self.status})"


class Pipeline(Authored):
    """A recipe of steps run in order (training/pipelines.py), each step's inputs taken from earlier
    steps' outputs. Driven by its PIPELINE job (workers/pipelines.py); a failed step is resumed without
    redoing the finished ones."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pipelines")
    recipe = models.CharField(max_length=50)
    base = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="pipelines")
    settings = models.JSONField(default=dict, blank=True, help_text="The recipe's settings, validated.")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="pipeline")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.recipe} pipeline {self.pk}"


class PipelineStep(models.Model):
    """One step of a pipeline: its child job (none for a step done in the pipeline's own job, such as
    an import or a snapshot), its status and its outputs ({name: id or value}) for the later steps."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=50)
    action = models.CharField(max_length=30)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    job = optional_fk(Job, models.SET_NULL, "pipeline_steps")
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["pipeline", "index"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "index"], name="one_step_per_index")]

    def __str__(self) -> str:
        return f"{self.pipeline} step {self.index} {self.name} ({self.status})"
