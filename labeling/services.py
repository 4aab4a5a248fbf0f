"""Writes of the annotation domain: leasing items and recording judgments.

One assignment function (`lease_next_item`) and one submit function (`submit_judgment`).
Both run in one transaction each; correctness under concurrency rests on the item's row lock:
- Postgres: candidates are locked with SELECT ... FOR UPDATE SKIP LOCKED, so two annotators
  never lock the same item, and the item is re-counted after the lock is held; a submit takes
  the same lock with its conditional UPDATE of the item's count;
- SQLite: every transaction begins IMMEDIATE (settings), so there is one writer at a time.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from labeling.models import Assignment, Item, Judgment, Membership, Project


class SubmitError(Exception):
    """A submission that cannot be stored; the message is shown to the annotator."""


class AssignmentClosed(SubmitError):
    """The assignment can no longer be answered (skipped, or its lapsed lease went to someone else).

    Not the annotator's mistake: the page says so and shows the next item.
    """


class ItemAlreadyComplete(AssignmentClosed):
    pass


class UndoError(Exception):
    """An undo that cannot be done; the message is shown to the annotator."""


# How long after answering an annotator may take the answer back.
UNDO_SECONDS = 10


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool  # False when this was a resubmission of an answer already stored


def record_judge_judgment(
    item: Item, annotator: User, *, choice: str, client_token: str, source: str, rationale: str = ""
) -> SubmitResult:
    """An AI judge's answer on `item`, stored once (same token, or same judge on the same item: the
    stored row). `annotator` is the judge's own inactive user. It takes no lease and no overlap slot, so
    the annotators' queue is unchanged; `source` ("judge:NAME") tells it apart from human answers."""
    if choice not in Judgment.PAIRWISE_CHOICES or item.response_b_id is None:
        raise SubmitError(f"choice must be one of {', '.join(Judgment.PAIRWISE_CHOICES)} on a pairwise item")
    if not client_token or len(client_token) > 64:
        raise SubmitError("client token is missing or too long")
    existing = Judgment.objects.filter(Q(client_token=client_token) | Q(item=item, annotator=annotator)).first()
    if existing is not None:
        return SubmitResult(existing, created=False)
    try:
        with transaction.atomic():
            judgment = Judgment.objects.create(
                item=item, annotator=annotator, choice=choice, rationale=rationale[:5000], left="a",
                client_token=client_token, source=source[:200],
            )  # fmt: skip
    except IntegrityError:
        existing = Judgment.objects.filter(Q(client_token=client_token) | Q(item=item, annotator=annotator)).first()
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    return SubmitResult(judgment, created=True)


def _active_leases(now: datetime) -> Q:
    return Q(state=Assignment.State.OPEN, expires_at__gt=now)


_CONTENT = ("item__prompt", "item__response_a", "item__response_b")  # what the workspace shows


def _open_lease(project: Project, user: User, now: datetime) -> Assignment | None:
    """The annotator's live lease in `project` (the oldest, if a double click took two)."""
    lease = (
        Assignment.objects.filter(project=project, annotator=user)
        .filter(_active_leases(now))
        .select_related(*_CONTENT)
        .order_by("leased_at")
        .first()
    )
    if lease is not None:
        lease.project = project
    return lease


def lease_next_item(project: Project, user: User) -> Assignment | None:
    """The annotator's open lease in `project`, or a new lease on the item that needs it most.

    Returns None when nothing is left for this annotator. The lease comes with its item's prompt
    and responses loaded.
    """
    now = timezone.now()
    mine = _open_lease(project, user, now)  # the common case (a reload, the GET after a swap): one read
    if mine is not None:
        return mine
    # Two requests of one annotator at once (a double click) may each take a lease here: harmless,
    # the earlier is served first and the other next (a judgment stays unique per item and annotator).
    with transaction.atomic():
        busy = Assignment.objects.filter(item=OuterRef("pk")).filter(_active_leases(now))
        seen_by_me = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(
            state=Assignment.State.OPEN, expires_at__lte=now
        )
        candidates = (
            Item.objects.filter(project=project, in_queue=True, judgment_count__lt=project.overlap)
            .exclude(Exists(seen_by_me))
            .select_related("prompt", "response_a", "response_b")
            .order_by("judgment_count", "id")
        )
        # Fast path: items with nobody on them. Slow path: items that can take one more lease.
        full: list[int] = []  # locked, but every slot taken by a live lease
        for queryset in (candidates.exclude(Exists(busy)), candidates):
            locked = queryset.select_for_update(skip_locked=True, of=("self",))
            while len(full) < 50:
                item = (locked.exclude(id__in=full) if full else locked).first()
                if item is None:
                    break
                if _has_free_slot(item, project.overlap, now):
                    return _take_lease(project, user, item, now)
                full.append(item.pk)
    return None


def _has_free_slot(item: Item, overlap: int, now: datetime) -> bool:
    """Judgments plus live leases must stay below k, counted under the item's lock.

    `item` came from SELECT ... FOR UPDATE, which returns the newest committed version of the row,
    so its judgment_count is current. The leases are counted in a statement of their own, so that
    it sees leases committed after the candidate query took its snapshot.
    """
    leases = Assignment.objects.filter(item_id=item.pk).filter(_active_leases(now)).count()
    return item.judgment_count + leases < overlap


def _take_lease(project: Project, user: User, item: Item, now: datetime) -> Assignment:
    """Insert the lease, or revive this annotator's expired one on the item: one statement."""
    lease = Assignment(
        item=item,
        annotator=user,
        project=project,
        state=Assignment.State.OPEN,
        a_on_left=random.random() < 0.5,
        leased_at=now,
        expires_at=now + timedelta(seconds=settings.LEASE_SECONDS),
    )
    Assignment.objects.bulk_create(
        [lease],
        update_conflicts=True,
        unique_fields=["item", "annotator"],
        update_fields=["project", "state", "a_on_left", "leased_at", "expires_at"],
    )
    assert lease.pk is not None  # set from RETURNING (Postgres; SQLite >= 3.35)
    return lease


def _stored_answer(assignment: Assignment, client_token: str) -> Judgment | None:
    """The judgment a resubmission refers to: same client token, or same annotator on the same item."""
    existing = Judgment.objects.filter(
        Q(client_token=client_token) | Q(item_id=assignment.item_id, annotator_id=assignment.annotator_id)
    ).first()
    if existing is not None and (
        existing.item_id != assignment.item_id or existing.annotator_id != assignment.annotator_id
    ):
        raise SubmitError("this client token was already used for another answer")
    return existing


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

    Three writes in one transaction: the item's count (+1 only while it is short of k; this takes
    the item's row lock, which serialises every submit on the item), the judgment, the lease.
    A resubmission breaks a unique constraint on the judgment, so it rolls back whole and returns
    the stored row.
    """
    project = assignment.project
    allowed: tuple[str, ...] = Judgment.PAIRWISE_CHOICES if project.is_pairwise else Judgment.BINARY_CHOICES
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

    now = timezone.now()
    if assignment.state == Assignment.State.SKIPPED:
        existing = _stored_answer(assignment, client_token)
        if existing is not None:
            return SubmitResult(existing, created=False)
        raise AssignmentClosed(
            "You skipped this item, so it can no longer be answered from here; "
            "your answer was not stored. Here is the next item."
        )
    lapsed = assignment.state == Assignment.State.OPEN and assignment.expires_at <= now
    try:
        with transaction.atomic():
            if lapsed:
                _check_lapsed_lease_still_has_a_slot(assignment, client_token, project.overlap, now)
            counted = Item.objects.filter(pk=assignment.item_id, judgment_count__lt=project.overlap).update(
                judgment_count=F("judgment_count") + 1
            )
            if counted:
                judgment = Judgment.objects.create(
                    item_id=assignment.item_id,
                    annotator_id=assignment.annotator_id,
                    choice=choice,
                    strength=strength,
                    rationale=rationale.strip(),
                    left=("a" if assignment.a_on_left else "b") if project.is_pairwise else "a",
                    ms_taken=ms_taken,
                    client_token=client_token,
                )
                # Only an open assignment may be answered: one skipped meanwhile (another tab) is
                # not, and the whole transaction (count and judgment) rolls back.
                if not Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.OPEN).update(
                    state=Assignment.State.DONE
                ):
                    raise AssignmentClosed(
                        "This item was skipped or closed meanwhile; your answer was not stored. Here is the next item."
                    )
                return SubmitResult(judgment, created=True)
            # The item already has k judgments (we hold its lock all the same): is one of them ours?
            existing = _stored_answer(assignment, client_token)
            if existing is not None:
                return SubmitResult(existing, created=False)
            Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.DONE)
    except IntegrityError:
        # A resubmission: the unique constraints refused the second row and the transaction
        # rolled back, count included. Return the stored one.
        existing = _stored_answer(assignment, client_token)
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    except _AlreadyAnswered as answered:
        return SubmitResult(answered.judgment, created=False)
    raise ItemAlreadyComplete(
        "Your lease on this item had run out and it has since received all the judgments it needs; "
        "your answer was not stored. Here is the next item."
    )


class _AlreadyAnswered(Exception):
    def __init__(self, judgment: Judgment):
        self.judgment = judgment


def _check_lapsed_lease_still_has_a_slot(
    assignment: Assignment, client_token: str, overlap: int, now: datetime
) -> None:
    """A late answer on a lapsed lease counts only if nobody else took the item's place meanwhile.

    Takes the item's row lock (as a new lease does), then counts judgments plus the other
    annotators' live leases. Raises AssignmentClosed when the slot went to someone else,
    _AlreadyAnswered when this is a resubmission of an answer already stored.
    """
    count = (
        Item.objects.select_for_update().filter(pk=assignment.item_id).values_list("judgment_count", flat=True).first()
    )
    others = (
        Assignment.objects.filter(item_id=assignment.item_id)
        .filter(_active_leases(now))
        .exclude(pk=assignment.pk)
        .count()
    )
    if count is None or count + others < overlap:
        return
    existing = _stored_answer(assignment, client_token)
    if existing is not None:
        raise _AlreadyAnswered(existing)
    if count >= overlap:
        return  # complete: the caller's usual path refuses it plainly (ItemAlreadyComplete)
    raise AssignmentClosed(
        "Your lease on this item ran out and it went to another annotator; your answer was not stored. "
        "Here is the next item."
    )


def skip_item(assignment: Assignment, reason: str) -> None:
    """The annotator will not judge this item now; it goes back to the pool for the others.

    It comes back to this annotator only after everything else, when they ask for their skipped
    items (`reopen_skipped_item`). Skipping twice, or skipping an answered item, changes nothing.
    """
    Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.OPEN).update(
        state=Assignment.State.SKIPPED, skip_reason=reason.strip()[:200] or "skipped"
    )


def reopen_skipped_item(project: Project, user: User) -> Assignment | None:
    """Lease again the annotator's earliest skipped item that still needs judgments and has room.

    For the end of the queue: skipped items come back after all the others. None when there is
    none left (they were completed by others meanwhile, or every free slot is leased).
    """
    now = timezone.now()
    with transaction.atomic():
        skipped = list(
            Assignment.objects.filter(
                project=project,
                annotator=user,
                state=Assignment.State.SKIPPED,
                item__judgment_count__lt=project.overlap,
            )
            .order_by("leased_at", "id")
            .values_list("pk", "item_id")[:50]
        )
        for pk, item_id in skipped:
            item = Item.objects.select_for_update(skip_locked=True).filter(pk=item_id).first()
            if item is None or not _has_free_slot(item, project.overlap, now):
                continue
            Assignment.objects.filter(pk=pk, state=Assignment.State.SKIPPED).update(
                state=Assignment.State.OPEN,
                skip_reason="",
                leased_at=now,
                expires_at=now + timedelta(seconds=settings.LEASE_SECONDS),
            )
            return _open_lease(project, user, now)
    return None


def undo_judgment(project: Project, user: User, judgment_id: int) -> None:
    """Take back the annotator's own answer given less than UNDO_SECONDS ago; its item is theirs again.

    One transaction under the item's row lock (the lock a submit takes): the judgment is deleted,
    the item's count goes down by one and the assignment is open again, with a fresh lease. It
    keeps its original lease time, so it is served before any item leased after it.
    """
    now = timezone.now()
    judgment = (
        Judgment.objects.filter(pk=judgment_id, annotator_id=user.pk, item__project=project)
        .values("item_id", "created_at")
        .first()
    )
    if judgment is None:
        raise UndoError("There is no answer of yours to undo here (it may have been taken back already).")
    if judgment["created_at"] < now - timedelta(seconds=UNDO_SECONDS):
        raise UndoError(f"Too late to undo: an answer can be taken back for {UNDO_SECONDS} seconds after giving it.")
    item_id = judgment["item_id"]
    with transaction.atomic():
        Item.objects.select_for_update().filter(pk=item_id).values_list("pk", flat=True).first()
        deleted, _ = Judgment.objects.filter(pk=judgment_id).delete()
        if deleted:
            Item.objects.filter(pk=item_id, judgment_count__gt=0).update(judgment_count=F("judgment_count") - 1)
            Assignment.objects.filter(item_id=item_id, annotator_id=user.pk).update(
                state=Assignment.State.OPEN,
                skip_reason="",
                expires_at=now + timedelta(seconds=settings.LEASE_SECONDS),
            )


def new_client_token() -> str:
    return uuid.uuid4().hex


def create_project(*, creator: User, **fields: Any) -> Project:
    """A new project; its creator becomes its admin.

    The fields are validated as the model declares them (lengths, slug characters, k in 1..50, a
    slug not taken): django's ValidationError names the field otherwise, and nothing is written.
    """
    project = Project(**fields)
    project.full_clean()
    with transaction.atomic():
        project.save()
        Membership.objects.create(project=project, user=creator, role=Membership.Role.ADMIN)
    return project


# --- members and settings (project page, `add_member` command, /api/projects/{slug}/members) -----


class MembershipError(ValueError):
    """A member change that cannot be made; `field` names the input at fault, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check_role(role: str) -> str:
    if role not in Membership.Role.values:
        raise MembershipError("role", f"role must be one of {', '.join(Membership.Role.values)}")
    return role


def _require_manager(project: Project, actor: User | None, *, touches_admin: bool) -> None:
    """Admins and researchers manage members; only an admin grants, changes or removes the admin role.

    `actor` None is the command line, which may do anything (it runs with the server's rights).
    """
    from django.core.exceptions import PermissionDenied

    if actor is None or actor.is_superuser:
        return
    role = Membership.objects.filter(project=project, user=actor).values_list("role", flat=True).first()
    if role not in (Membership.Role.RESEARCHER, Membership.Role.ADMIN):
        raise PermissionDenied("Only the project's researchers and admins may manage its members")
    if touches_admin and role != Membership.Role.ADMIN:
        raise PermissionDenied("Only a project admin may grant, change or remove the admin role")


def _lock_memberships(project: Project) -> None:
    """Serialise member changes on one project (its row lock; SQLite transactions are IMMEDIATE)."""
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk"))


def _member(project: Project, username: str) -> Membership:
    membership = Membership.objects.select_related("user").filter(project=project, user__username=username).first()
    if membership is None:
        raise MembershipError("username", f"{username!r} is not a member of this project")
    return membership


def _other_admins(project: Project, membership: Membership) -> int:
    return Membership.objects.filter(project=project, role=Membership.Role.ADMIN).exclude(pk=membership.pk).count()


def add_member(
    project: Project, username: str, role: str = Membership.Role.ANNOTATOR, *, actor: User | None = None
) -> Membership:
    """Add the existing user `username` to `project` with `role`."""
    from django.contrib.auth import get_user_model

    username = (username or "").strip()
    _check_role(role)
    if not username:
        raise MembershipError("username", "username is required")
    _require_manager(project, actor, touches_admin=role == Membership.Role.ADMIN)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise MembershipError("username", f"there is no user {username!r}")
    with transaction.atomic():
        _lock_memberships(project)
        if Membership.objects.filter(project=project, user=user).exists():
            raise MembershipError("username", f"{username!r} is already a member of this project")
        return Membership.objects.create(project=project, user=user, role=role)


def set_role(project: Project, username: str, role: str, *, actor: User | None = None) -> Membership:
    """Give member `username` the role `role`; the project keeps at least one admin."""
    _check_role(role)
    with transaction.atomic():
        _lock_memberships(project)
        membership = _member(project, username)
        changes_admin = membership.role != role and Membership.Role.ADMIN in (role, membership.role)
        _require_manager(project, actor, touches_admin=changes_admin)
        if (
            membership.role == Membership.Role.ADMIN
            and role != Membership.Role.ADMIN
            and not _other_admins(project, membership)
        ):
            raise MembershipError("role", f"{username} is the project's only admin; make someone else admin first")
        if membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def remove_member(project: Project, username: str, *, actor: User | None = None) -> None:
    """Take `username` off the project (their judgments stay); the project keeps at least one admin."""
    with transaction.atomic():
        _lock_memberships(project)
        membership = _member(project, username)
        _require_manager(project, actor, touches_admin=membership.role == Membership.Role.ADMIN)
        if membership.role == Membership.Role.ADMIN and not _other_admins(project, membership):
            raise MembershipError("username", f"{username} is the project's only admin; make someone else admin first")
        membership.delete()


def update_project_settings(project: Project, **fields: Any) -> Project:
    """Save edited settings and guidelines (validated by ProjectSettingsForm) in one transaction."""
    with transaction.atomic():
        for name, value in fields.items():
            setattr(project, name, value)
        project.save(update_fields=list(fields))
    return project
