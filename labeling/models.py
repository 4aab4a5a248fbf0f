"""The annotation domain: projects, prompts, responses, items, leases and judgments."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from labeling.fields import optional_fk


class Authored(models.Model):
    """Who made a row (emptied when that user is deleted) and when."""

    created_by = optional_fk(settings.AUTH_USER_MODEL, models.SET_NULL, "+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Project(models.Model):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise (A/B)"
        BINARY = "binary", "Binary (thumbs up/down)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAIRWISE)
    guidelines = models.TextField(blank=True, help_text="Markdown; shown to annotators, rendered safely.")
    overlap = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="How many judgments each item needs (k).",
    )
    allow_tie = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=True)
    ask_strength = models.BooleanField(default=False, help_text="Ask how strong the preference is (1-3).")
    ask_rationale = models.BooleanField(default=False, help_text="Ask for a short written reason.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)

    # Not columns: the dashboard's counts, set on the rows that selectors.research_projects returns.
    n_items: int
    n_complete: int
    n_judgments: int
    n_imported: int
    n_skips: int

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_pairwise(self) -> bool:
        return self.kind == self.Kind.PAIRWISE


class Membership(models.Model):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator (judges items)"
        RESEARCHER = "researcher", "Researcher (also imports, exports and trains)"
        ADMIN = "admin", "Admin (also manages members)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Prompt(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        TEST = "test", "Test (held out)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    text = models.TextField(blank=True, help_text="Plain-text prompt (empty when `conversation` is set).")
    conversation = models.JSONField(
        null=True, blank=True, help_text="Multi-turn prompt: a list of {role, content}, ending with a user turn."
    )
    external_id = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)
    content_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="sha256 of the prompt's content, set by importers so a re-imported prompt is reused.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "content_hash"], name="prompt_content")]

    def __str__(self) -> str:
        return (self.text or (self.conversation or [{}])[-1].get("content", ""))[:80]

    @property
    def turns(self) -> list[dict]:
        """The prompt as conversation turns, whichever form it was stored in."""
        return self.conversation or [{"role": "user", "content": self.text}]


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    source = models.CharField(
        max_length=200, default="human", help_text='Who wrote it: "human", "model:NAME", "dataset:hh-rlhf", ...'
    )
    sampling = models.JSONField(default=dict, blank=True, help_text="Sampling settings, when a model wrote it.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.source}: {self.text[:60]}"


class Choice(models.TextChoices):
    """The answers to a pairwise item (`Judgment.Choice`): A, B, tie or both bad."""

    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Verdict(models.TextChoices):
    """The answers to a binary item, one response (`Judgment.Verdict`): up or down."""

    UP = "up", "Good"
    DOWN = "down", "Bad"


ANSWERS: list[tuple[str, str]] = Choice.choices + Verdict.choices  # every judgment choice, with its label


class Item(models.Model):
    """What an annotator is shown: a prompt with two responses (pairwise) or one (binary)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="items")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = optional_fk(Response, models.CASCADE, "+")
    gold = models.CharField(
        max_length=16,
        # the judgment choices, each labelled by its name ("Both Bad"), as Item.Gold did before it was one table
        choices=[(choice.value, choice.name.replace("_", " ").title()) for choice in (*Choice, *Verdict)],
        blank=True,
        help_text="Known answer, for quality checks.",
    )
    in_queue = models.BooleanField(
        default=True, help_text="Offered to annotators through the queue (an arena battle is not)."
    )
    # Kept in step with the judgments inside the submitting transaction (under the item's row
    # lock), so "fewest judgments first" and "still short of k" are one indexed read.
    judgment_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "judgment_count", "id"], name="item_queue")]

    def __str__(self) -> str:
        return f"item {self.pk} of {self.project_id}"


class Assignment(models.Model):
    """An item leased to one annotator until `expires_at`; also remembers what they did with it."""

    class State(models.TextChoices):
        OPEN = "open"
        DONE = "done"
        SKIPPED = "skipped"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    a_on_left = models.BooleanField(default=True, help_text="Response A was shown on the left.")
    skip_reason = models.CharField(max_length=200, blank=True)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_item_and_annotator")
        ]
        indexes = [
            models.Index(fields=["annotator", "project", "state"], name="assignment_mine"),
            models.Index(fields=["item", "state", "expires_at"], name="assignment_active"),
        ]

    def __str__(self) -> str:
        return f"{self.item} -> {self.annotator} ({self.state})"


JUDGE_SOURCE_PREFIX = "judge:"  # a judgment's source when an AI judge gave it (training/judging.py): "judge:NAME"
BY_A_JUDGE = models.Q(source__startswith=JUDGE_SOURCE_PREFIX)  # the judgments AI judges gave


class Judgment(models.Model):
    Choice = Choice  # the module's tables, by their usual names
    Verdict = Verdict

    PAIRWISE_CHOICES: tuple[str, ...] = tuple(Choice)
    BINARY_CHOICES: tuple[str, ...] = tuple(Verdict)

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgments")
    annotator = optional_fk(settings.AUTH_USER_MODEL, models.PROTECT, "judgments")
    choice = models.CharField(max_length=16, choices=ANSWERS)
    strength = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    rationale = models.TextField(blank=True, max_length=5000)
    left = models.CharField(max_length=1, blank=True, help_text='Which response was shown on the left: "a" or "b".')
    ms_taken = models.PositiveIntegerField(null=True, blank=True)
    client_token = models.CharField(max_length=64, unique=True, help_text="Makes a resubmission a no-op.")
    source = models.CharField(max_length=200, default="human", help_text='"human", or the file labels came from.')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"],
                condition=Q(annotator__isnull=False),
                name="one_judgment_per_item_and_annotator",
            )
        ]
        indexes = [models.Index(fields=["annotator", "created_at"], name="judgment_mine")]

    def __str__(self) -> str:
        return f"{self.annotator}: {self.choice} on {self.item_id}"


class ImportBatch(Authored):
    """One imported file: remembered by its sha256, so importing the same bytes again adds nothing."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=16)
    options = models.JSONField(default=dict, blank=True, help_text="Column mapping and flags the import ran with.")
    counts = models.JSONField(default=dict, blank=True, help_text="prompts, items, judgments created; rows skipped.")
    skipped = models.JSONField(default=list, blank=True, help_text="The rows left out by --skip-invalid, with reasons.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="one_import_per_file_and_project")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} into {self.project}"


class DatasetSnapshot(Authored):
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

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="snapshots")
    format = models.CharField(max_length=16, choices=Format.choices)
    file_type = models.CharField(max_length=8, choices=FileType.choices)
    spec = models.JSONField(help_text="Everything that made the file: format, policies, split, seed.")
    sha256 = models.CharField(max_length=64, db_index=True)
    rows = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        db_table = "training_datasetsnapshot"  # created by the training app before it moved here
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.project} {self.format}.{self.file_type} ({self.sha256[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("A dataset snapshot is immutable; make a new one instead")
        super().save(*args, **kwargs)

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "snapshots" / f"{self.sha256}.{self.file_type}"

    @property
    def download_name(self) -> str:
        return f"{self.project.slug}-{self.format}-{self.sha256[:12]}.{self.file_type}"
