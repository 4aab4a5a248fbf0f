"""The arena: a member types or picks a prompt, two anonymous policy versions of the project answer
side by side, token by token, the member votes with a key and then sees the names.

    start_battle (web) -> a Job of kind ARENA (the battle; not resumable: start a new one) and the
    task workers.arena.run_battle on the training (gpu) queue -> the worker streams both answers
    (training/streams.py: "arena-<battle>-left" / "-right") and then `record_battle` writes them
    through the one Writer: two responses (linked to their versions by Generation rows), one item
    kept out of the annotation queue (in_queue=False) and the member's open assignment on it ->
    `vote` stores the member's answer with labeling.services.submit_judgment (choice and left/right
    position, exactly once), so an arena vote counts wherever judgments count (exports, leaderboard,
    agreement) -> `battle_view` reveals the names.

Services (writes) and selectors (reads) of the arena; no torch here (the worker generates).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from labeling import services as labeling_services
from labeling.data.writer import Writer
from labeling.models import Assignment, Item, Judgment, Project, Prompt
from training import jobs, streams
from training.models import Generation, Job, ModelVersion

TASK = "workers.arena.run_battle"
SIDES = ("left", "right")
VOTES = {"left": "Left is better", "right": "Right is better", "tie": "Tie", "both_bad": "Both bad"}
MAX_PROMPT_CHARS = 4000
PROMPT_CHOICES = 200  # prompts offered in the picker
# Chatbot Arena samples (temperature 0.7); each side gets its own seed, recorded on its response.
SAMPLING: dict[str, Any] = {"temperature": 0.7, "top_p": 0.95, "top_k": 0, "max_new_tokens": 128}
VOTE_WINDOW = timedelta(days=1)  # the member's assignment on the battle item stays open this long


class ArenaError(ValueError):
    """A refused arena request, naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def stream_id(battle: Job, side: str) -> str:
    """The stream of one side of `battle`: its id and creation time, so that a battle id used again
    (another database on the same Redis, a database reset) never reads an old battle's stream."""
    if side not in SIDES:
        raise ValueError(f"side: left or right, got {side!r}")
    return f"arena-{int(battle.pk)}-{int(battle.created_at.timestamp() * 1e6)}-{side}"


def clean_text(text: str) -> str:
    """Model output as it can be stored and shown: without NUL characters (Postgres refuses them)."""
    return text.replace("\x00", "")


def stream_timeout_s() -> float:
    """How long the page waits for the next token before saying that no worker answers."""
    return float(getattr(settings, "ARENA_STREAM_TIMEOUT_S", 120))


# ---------------------------------------------------------------- selectors


def policy_versions(project: Project) -> QuerySet[ModelVersion]:
    """The versions that may fight: the project's policy models."""
    return ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.POLICY).order_by("name")


def arena_projects(user: Any) -> list[dict[str, Any]]:
    """The user's projects with how many policy versions each has (two are needed for a battle)."""
    projects = Project.objects.filter(memberships__user=user) if not user.is_superuser else Project.objects.all()
    rows = projects.annotate(
        versions=Count("model_versions", filter=Q(model_versions__kind=ModelVersion.Kind.POLICY), distinct=True)
    ).order_by("name")
    return [{"project": p, "versions": p.versions, "ready": p.is_pairwise and p.versions >= 2} for p in rows]


def arena_page(project: Project) -> dict[str, Any]:
    """What the arena page needs: whether battles can start (and why not), the prompts to pick from."""
    n_versions = policy_versions(project).count()
    reason = ""
    if not project.is_pairwise:
        reason = "The arena compares two answers side by side: it is for pairwise projects."
    elif n_versions < 2:
        reason = (
            f"The arena needs two policy model versions in this project; it has {n_versions}. "
            "Register or train another one first."
        )
    prompts = list(Prompt.objects.filter(project=project).order_by("-id")[:PROMPT_CHOICES])
    return {
        "ready": not reason,
        "reason": reason,
        "versions": n_versions,
        "prompts": prompts,
        "max_prompt_chars": MAX_PROMPT_CHARS,
    }


def get_battle(project: Project, user: Any, battle_id: int) -> Job:
    """The user's own battle `battle_id` in `project`; 404 otherwise (another's battle is not shown)."""
    battle = Job.objects.filter(pk=battle_id, project=project, kind=Job.Kind.ARENA, created_by_id=user.pk).first()
    if battle is None:
        raise Http404("No such battle")
    return battle


def battle_item(battle: Job) -> Item | None:
    """The item the battle's answers were written to (None until the worker has recorded them)."""
    response_id = Generation.objects.filter(job=battle).values_list("response_id", flat=True).first()
    if response_id is None:
        return None
    return (
        Item.objects.filter(project_id=battle.project_id, in_queue=False)
        .filter(Q(response_a_id=response_id) | Q(response_b_id=response_id))
        .select_related("prompt", "response_a__generation__model_version", "response_b__generation__model_version")
        .first()
    )


@dataclass(frozen=True)
class Side:
    key: str
    text: str | None  # None while the answer is still streaming
    name: str  # the model version, shown only after the vote


def battle_view(project: Project, user: Any, battle_id: int) -> dict[str, Any]:
    """Everything the battle panel shows: the prompt, both sides (texts once recorded), the vote
    (with the names) once cast, or the error if generation failed."""
    battle = get_battle(project, user, battle_id)
    item = battle_item(battle)
    assignment = judgment = None
    sides = [Side(key, None, "") for key in SIDES]
    prompt = None
    if item is not None:
        prompt = item.prompt
        assignment = Assignment.objects.filter(item=item, annotator_id=user.pk).first()
        a_on_left = assignment.a_on_left if assignment else True
        b = item.response_b
        assert b is not None  # a battle item is pairwise
        left, right = (item.response_a, b) if a_on_left else (b, item.response_a)
        sides = [
            Side(key, r.text, r.generation.model_version.name) for key, r in zip(SIDES, (left, right), strict=True)
        ]
        judgment = Judgment.objects.filter(item=item, annotator_id=user.pk).first()
    return {
        "battle": battle,
        "item": item,
        "prompt": prompt,
        "sides": sides,
        "judgment": judgment,
        "voted": VOTES.get(_side_of(judgment.choice, assignment)) if judgment and assignment else "",
        "failed": battle.status == Job.Status.FAILED or battle.status == Job.Status.CANCELLED,
        "streaming": item is None and not battle.is_finished,
        "votes": [(key, label, str(i + 1)) for i, (key, label) in enumerate(VOTES.items()) if _allowed(project, key)],
    }


def _allowed(project: Project, vote: str) -> bool:
    return not ((vote == "tie" and not project.allow_tie) or (vote == "both_bad" and not project.allow_both_bad))


def _side_of(choice: str, assignment: Assignment) -> str:
    """A stored choice (a, b, tie, both_bad) as the member saw it (left, right, tie, both_bad)."""
    if choice in (Judgment.Choice.A, Judgment.Choice.B):
        return "left" if (choice == Judgment.Choice.A) == assignment.a_on_left else "right"
    return choice


def _sse(event: str, data: Any, event_id: str = "") -> str:
    # JSON keeps a piece on one line (SSE framing); <, > and & are escaped too, so the data is inert
    # even if something ever put it in HTML. The page inserts pieces as text, never as markup.
    payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {payload}\n\n"


def sse_events(battle: Job, side: str, *, after: str = "", timeout: float | None = None) -> Iterator[str]:
    """The side's stream as Server-Sent Events: `piece` (a JSON string), then `done` (its result) or
    `failed` (a sentence); `after` resumes after an event id (the browser's Last-Event-ID)."""
    timeout = stream_timeout_s() if timeout is None else timeout
    yield "retry: 1000\n\n"
    try:
        for event in streams.iterate(stream_id(battle, side), timeout=timeout, after=after):
            if event.done:
                error = event.result.get("error")
                yield _sse("failed", str(error), event.id) if error else _sse("done", event.result, event.id)
                return
            yield _sse("piece", event.piece, event.id)
    except streams.StreamTimeout:
        yield _sse(
            "failed", f"No token came for {timeout:g} s: is a worker on the {settings.TRAINING_QUEUE!r} queue running?"
        )


# ---------------------------------------------------------------- services


def start_battle(
    project: Project,
    user: Any,
    *,
    prompt_text: str = "",
    prompt_id: int | str | None = None,
    rng: random.Random | None = None,
) -> Job:
    """A new battle: a typed prompt (written through the Writer) or one of the project's prompts,
    two distinct policy versions drawn at random for the left and right sides, sent to a gpu worker."""
    rng = rng or random.Random()
    if not project.is_pairwise:
        raise ArenaError("project", "The arena is for pairwise projects.")
    text = (prompt_text or "").strip()
    if "\x00" in text:
        raise ArenaError("prompt", "The prompt contains a NUL character.")
    if len(text) > MAX_PROMPT_CHARS:
        raise ArenaError("prompt", f"The prompt is {len(text):,} characters; at most {MAX_PROMPT_CHARS:,}.")
    picked: int | None = None
    if not text:
        if prompt_id in (None, ""):
            raise ArenaError("prompt", "Type a prompt or pick one of the project's prompts.")
        try:
            picked = int(prompt_id)
        except (TypeError, ValueError):
            raise ArenaError("prompt_id", f"prompt_id must be a whole number, got {str(prompt_id)[:40]!r}.") from None
    versions = list(policy_versions(project))
    if len(versions) < 2:
        raise ArenaError("model", f"The arena needs two policy model versions in this project; it has {len(versions)}.")
    left, right = rng.sample(versions, 2)
    for version in (left, right):
        if version.is_endpoint:
            raise ArenaError(
                "model", f"{version.name} is served through an endpoint; the arena streams local versions only."
            )
    a_on_left = rng.random() < 0.5
    seed = rng.randrange(2**31)
    with transaction.atomic():
        if text:
            writer = Writer(project)
            prompt = writer.prompt(text, metadata={"source": "arena"})
            writer.save()
        else:
            found = Prompt.objects.filter(project=project, pk=picked or 0).first()
            if found is None:
                raise ArenaError("prompt_id", f"Prompt {picked} is not a prompt of {project.name}.")
            prompt = found
        battle = Job.objects.create(
            kind=Job.Kind.ARENA,
            project=project,
            total=2,
            queued_at=timezone.now(),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        kwargs = {
            "battle_id": battle.pk,
            "prompt_id": prompt.pk,
            "left_id": left.pk,
            "right_id": right.pk,
            "a_on_left": a_on_left,
            "sampling": {**SAMPLING, "seed": seed},
        }
        transaction.on_commit(lambda: current_app.send_task(TASK, kwargs=kwargs, queue=settings.TRAINING_QUEUE))
    return battle


@dataclass(frozen=True)
class Contender:
    """What a worker needs to generate one side: the prompt and the version to load."""

    side: str
    version_id: int
    name: str
    base: str
    adapters: list[str]
    prompt: str | list[dict]


def battle_inputs(battle_id: int, prompt_id: int, left_id: int, right_id: int) -> list[Contender]:
    """Both sides of a battle, read again from the database (the task takes ids only)."""
    battle = Job.objects.get(pk=battle_id)
    prompt = Prompt.objects.get(pk=prompt_id, project_id=battle.project_id)
    value: str | list[dict] = prompt.conversation or prompt.text
    contenders = []
    for side, version_id in zip(SIDES, (left_id, right_id), strict=True):
        v = ModelVersion.objects.get(pk=version_id, project_id=battle.project_id)
        contenders.append(Contender(side, v.pk, v.name, v.base, list(v.adapters or []), value))
    return contenders


def record_battle(
    battle_id: int, prompt_id: int, *, a_on_left: bool, answers: dict[str, tuple[int, str, dict[str, Any]]]
) -> Item:
    """Write a finished battle (idempotent): the two answers {side: (version id, text, sampling)}
    through the Writer, their Generation links, the item (out of the queue), the member's open
    assignment on it (the left/right the member saw), and the battle job succeeded."""
    with transaction.atomic():
        battle = Job.objects.select_for_update().select_related("project").get(pk=battle_id)
        existing = battle_item(battle)
        if existing is not None:
            return existing
        project = battle.project
        prompt = Prompt.objects.get(pk=prompt_id, project=project)
        versions = ModelVersion.objects.in_bulk([answers[side][0] for side in SIDES])
        writer = Writer(project)
        responses = {}
        for side in SIDES:
            version_id, text, sampling = answers[side]
            responses[side] = writer.response(
                prompt, clean_text(text), source=f"model:{versions[version_id].name}", sampling=sampling
            )
        a, b = (responses["left"], responses["right"]) if a_on_left else (responses["right"], responses["left"])
        item = writer.item(prompt, a, b)
        item.in_queue = False  # a battle is judged by the member who started it, never through the queue
        writer.save()
        Generation.objects.bulk_create(
            [
                Generation(
                    response=responses[side], model_version=versions[answers[side][0]], job=battle, prompt=prompt
                )
                for side in SIDES
            ]
        )
        if battle.created_by_id is not None:
            now = timezone.now()
            Assignment.objects.create(
                item=item,
                annotator_id=battle.created_by_id,
                project=project,
                state=Assignment.State.OPEN,
                a_on_left=a_on_left,
                leased_at=now,
                expires_at=now + VOTE_WINDOW,
            )
        jobs.finish(battle_id, Job.Status.SUCCEEDED, step=2)
    return item


def vote(
    project: Project, user: Any, battle_id: int, *, choice: str, client_token: str, ms_taken: int | None = None
) -> Judgment:
    """Store the member's vote on their battle (left, right, tie or both_bad) as a judgment of the
    battle's item, once; a resubmission with the same client token returns the stored one."""
    if choice not in VOTES:
        raise ArenaError("choice", f"choice must be one of {', '.join(VOTES)}; got {str(choice)[:40]!r}.")
    battle = get_battle(project, user, battle_id)
    item = battle_item(battle)
    if item is None:
        raise ArenaError("battle", "The answers are not finished yet: vote when both have ended.")
    assignment = Assignment.objects.select_related("project").filter(item=item, annotator_id=user.pk).first()
    if assignment is None:
        raise ArenaError("battle", "This battle has no vote of yours to take.")
    stored = choice
    if choice in ("left", "right"):
        stored = Judgment.Choice.A if (choice == "left") == assignment.a_on_left else Judgment.Choice.B
    try:
        return labeling_services.submit_judgment(
            assignment, choice=stored, client_token=client_token, ms_taken=ms_taken
        ).judgment
    except labeling_services.SubmitError as exc:
        raise ArenaError("choice", str(exc)) from exc
