"""Writes of the annotation domain: leasing items and recording judgments.

One assignment function (`lease_next_item`) and one submit function (`submit_judgment`).
Both run in one transaction each; correctness under concurrency rests on the item's row lock:
- Postgres: candidates are locked with SELECT ... FOR UPDATE SKIP LOCKED, so two annotators
  never lock the same item, and the item is re-counted after the lock is held;
- SQLite: every transaction begins IMMEDIATE (settings), so there is one writer at a time.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from labeling.models import Assignment, Item, Judgment, Membership, Project


class SubmitError(Exception):
    """A submission that cannot be stored; the message is shown to the annotator."""


class ItemAlreadyComplete(SubmitError):
    pass


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool  # False when this was a resubmission of an answer already stored


def _active_leases(now):
    return Q(state=Assignment.State.OPEN, expires_at__gt=now)


def lease_next_item(project: Project, user) -> Assignment | None:
    """The annotator's open lease in `project`, or a new lease on the item that needs it most.

    Returns None when nothing is left for this annotator.
    """
    now = timezone.now()
    with transaction.atomic():
        mine = (
            Assignment.objects.filter(project=project, annotator=user)
            .filter(_active_leases(now))
            .select_related("item__prompt", "item__response_a", "item__response_b")
            .order_by("leased_at")
            .first()
        )
        if mine is not None:
            return mine
        busy = Assignment.objects.filter(item=OuterRef("pk")).filter(_active_leases(now))
        seen_by_me = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(
            state=Assignment.State.OPEN, expires_at__lte=now
        )
        candidates = (
            Item.objects.filter(project=project, judgment_count__lt=project.overlap)
            .exclude(Exists(seen_by_me))
            .order_by("judgment_count", "id")
        )
        # Fast path: items with nobody on them. Slow path: items that can take one more lease.
        full: list[int] = []  # locked, but every slot taken by a live lease
        for queryset in (candidates.exclude(Exists(busy)), candidates):
            while len(full) < 50:
                locked = queryset.exclude(id__in=full).select_for_update(skip_locked=True, of=("self",))
                item_id = locked.values_list("id", flat=True).first()
                if item_id is None:
                    break
                if _has_free_slot(item_id, project.overlap, now):
                    return _take_lease(project, user, item_id, now)
                full.append(item_id)
    return None


def _has_free_slot(item_id: int, overlap: int, now) -> bool:
    """Re-count under the item's lock: judgments plus live leases must stay below k."""
    item = Item.objects.filter(pk=item_id).values("judgment_count").get()
    leases = Assignment.objects.filter(item_id=item_id).filter(_active_leases(now)).count()
    return item["judgment_count"] + leases < overlap


def _take_lease(project: Project, user, item_id: int, now) -> Assignment:
    lease, _ = Assignment.objects.update_or_create(
        item_id=item_id,
        annotator=user,
        defaults={
            "project": project,
            "state": Assignment.State.OPEN,
            "a_on_left": random.random() < 0.5,
            "leased_at": now,
            "expires_at": now + timedelta(seconds=settings.LEASE_SECONDS),
        },
    )
    return Assignment.objects.select_related("item__prompt", "item__response_a", "item__response_b").get(pk=lease.pk)


def submit_judgment(
    assignment: Assignment,
    *,
    choice: str,
    client_token: str,
    strength: int | None = None,
    rationale: str = "",
    ms_taken: int | None = None,
) -> SubmitResult:
    """Store one annotator's answer exactly once; committed before this returns.

    A resubmission (same client token, or the same annotator on the same item) returns the
    stored judgment. A late submit (lease expired) is kept while the item still needs judgments.
    """
    project = assignment.project
    allowed = Judgment.PAIRWISE_CHOICES if project.is_pairwise else Judgment.BINARY_CHOICES
    if choice == Judgment.Choice.TIE and not project.allow_tie:
        allowed = tuple(c for c in allowed if c != Judgment.Choice.TIE)
    if choice == Judgment.Choice.BOTH_BAD and not project.allow_both_bad:
        allowed = tuple(c for c in allowed if c != Judgment.Choice.BOTH_BAD)
    if choice not in allowed:
        raise SubmitError(f"choice must be one of {', '.join(allowed)}; got {choice!r}")
    if strength is not None and not 1 <= strength <= 3:
        raise SubmitError("strength must be 1, 2 or 3")
    if not client_token or len(client_token) > 64:
        raise SubmitError("client token is missing or too long")

    try:
        with transaction.atomic():
            # The item's row lock serialises every submit on this item.
            item = Item.objects.select_for_update().get(pk=assignment.item_id)
            existing = Judgment.objects.filter(
                Q(client_token=client_token) | Q(item=item, annotator_id=assignment.annotator_id)
            ).first()
            if existing is not None:
                if existing.item_id != item.pk or existing.annotator_id != assignment.annotator_id:
                    raise SubmitError("this client token was already used for another answer")
                return SubmitResult(existing, created=False)
            if item.judgment_count >= project.overlap:
                Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.DONE)
                raise ItemAlreadyComplete(
                    "Your lease on this item had run out and it has since received all the judgments it needs; "
                    "your answer was not stored. Here is the next item."
                )
            judgment = Judgment.objects.create(
                item=item,
                annotator_id=assignment.annotator_id,
                choice=choice,
                strength=strength,
                rationale=rationale.strip(),
                left=("a" if assignment.a_on_left else "b") if project.is_pairwise else "a",
                ms_taken=ms_taken,
                client_token=client_token,
            )
            Item.objects.filter(pk=item.pk).update(judgment_count=F("judgment_count") + 1)
            Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.DONE)
            return SubmitResult(judgment, created=True)
    except IntegrityError:
        # A concurrent twin won the race (only reachable without the row lock): return its row.
        existing = Judgment.objects.filter(client_token=client_token).first()
        if existing is None:
            raise
        return SubmitResult(existing, created=False)


def skip_item(assignment: Assignment, reason: str) -> None:
    """The annotator will not judge this item; it goes back to the pool for the others."""
    Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.OPEN).update(
        state=Assignment.State.SKIPPED, skip_reason=reason.strip()[:200] or "skipped"
    )


def new_client_token() -> str:
    return uuid.uuid4().hex


def create_project(*, creator, **fields) -> Project:
    """A new project; its creator becomes its admin."""
    with transaction.atomic():
        project = Project.objects.create(**fields)
        Membership.objects.create(project=project, user=creator, role=Membership.Role.ADMIN)
    return project


def add_member(project: Project, user, role: str = Membership.Role.ANNOTATOR) -> Membership:
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership
