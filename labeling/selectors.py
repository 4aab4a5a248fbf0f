"""Reads of the annotation domain. Authorisation lives here, in one helper."""

import logging
import time

from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from labeling.models import ANSWERS, BY_A_JUDGE, Assignment, Item, Judgment, Membership, Project

RESEARCH_ROLES = (Membership.Role.RESEARCHER, Membership.Role.ADMIN)

logger = logging.getLogger(__name__)


def is_researcher(user: User | AnonymousUser) -> bool:
    """May see the dashboard and create projects."""
    return user.is_authenticated and (
        user.is_superuser
        or user.has_perm("labeling.add_project")
        or Membership.objects.filter(user=user, role__in=RESEARCH_ROLES).exists()
    )


def get_project_for_user(user: User | AnonymousUser, slug: str, *, research: bool = False) -> Project:
    """The project `slug` if `user` may see it: 404 when not a member, 403 when the role is too low.

    A project the user is not a member of answers exactly as one that does not exist (404 "No such
    project"), so its slug gives nothing away. An annotator on a research page gets 403 with the
    reason. One query: the project with the user's role on it.
    """
    if isinstance(user, AnonymousUser):  # sees no project (login_required sends them to log in first)
        raise Http404("No such project")
    role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    project = Project.objects.filter(slug=slug).annotate(member_role=Subquery(role)).first()
    if project is None:
        raise Http404("No such project")
    if user.is_superuser:
        return project
    if project.member_role is None:
        raise Http404("No such project")
    if research and project.member_role not in RESEARCH_ROLES:
        raise PermissionDenied(
            f"This page is for the researchers and admins of {project.name}; you are one of its annotators. "
            "Your items are in your queue; a project admin can change your role."
        )
    return project


def get_assignment_for_annotator(user: User, slug: str, assignment_id: int) -> Assignment:
    """The user's own assignment `assignment_id` in project `slug`, with its project; 404 otherwise.

    One query, with the same rule as `get_project_for_user`: members (and superusers) only.
    """
    member = Exists(Membership.objects.filter(project=OuterRef("project_id"), user_id=user.pk))
    assignment = (
        Assignment.objects.filter(pk=assignment_id, project__slug=slug, annotator_id=user.pk)
        .annotate(is_member=member)
        .select_related("project")
        .first()
    )
    if assignment is None or not (assignment.is_member or user.is_superuser):
        raise Http404("No such assignment")
    return assignment


def annotator_projects(user: User) -> list[dict]:
    """The annotator's queue: their projects with what is left for them."""
    projects = Project.objects.filter(memberships__user=user).order_by("name")
    return [{"project": p, **annotator_progress(p, user), "skipped": skipped_to_revisit(p, user)} for p in projects]


# "Left in project" needs the project's count of items still short of k: an O(items) read. Below
# this many it is counted on every call (exact where it matters: small projects, the last items);
# above, it is cached for OPEN_ITEMS_TTL seconds, so it may trail other annotators' work that much.
OPEN_ITEMS_EXACT_BELOW = 2000
OPEN_ITEMS_TTL = 30
CACHE_RETRY_SECONDS = 5
_cache_down_until = 0.0  # monotonic time before which the cache is not tried again (per process)


def open_item_count(project: Project) -> int:
    """How many of the project's items still need judgments (see OPEN_ITEMS_TTL).

    The cache is optional: when it fails (Redis down or slow), the count is read from the database.
    After a failure it is left alone for CACHE_RETRY_SECONDS, so that a hung Redis costs one
    socket timeout per process and period, not one per request.
    """
    global _cache_down_until
    key = f"labeling:open-items:{project.pk}:{project.overlap}:{project.created_at.timestamp()}"
    use_cache = time.monotonic() >= _cache_down_until
    n = None
    if use_cache:
        try:
            n = cache.get(key)
        except Exception:  # any cache backend's error: the annotation path must not depend on it
            logger.warning("cache unavailable; counting open items in the database", exc_info=True)
            _cache_down_until, use_cache = time.monotonic() + CACHE_RETRY_SECONDS, False
    if n is None:
        n = Item.objects.filter(project=project, in_queue=True, judgment_count__lt=project.overlap).count()
        if use_cache and n >= OPEN_ITEMS_EXACT_BELOW:
            try:
                cache.set(key, n, OPEN_ITEMS_TTL)
            except Exception:
                logger.warning("cache unavailable; open item count not cached", exc_info=True)
                _cache_down_until = time.monotonic() + CACHE_RETRY_SECONDS
    return n


def annotator_progress(project: Project, user: User) -> dict:
    """Judged today, and items left for this annotator; cheap enough for every swap of the workspace.

    left = items still short of k (see `open_item_count`), minus those among them this annotator
    already answered (judged or skipped). Both counts here read only the annotator's own rows.
    (Two plain counts: measured cheaper than one query with two subqueries, which costs more to build.)
    """
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    judged_today = Judgment.objects.filter(annotator=user, item__project=project, created_at__gte=today).count()
    answered_open = (
        Assignment.objects.filter(annotator=user, project=project, item__judgment_count__lt=project.overlap)
        .exclude(state=Assignment.State.OPEN)
        .count()
    )
    return {"judged_today": judged_today, "left": max(0, open_item_count(project) - answered_open)}


def _total_judgments():
    """Per item: all its judgments, the annotators' and those imported with the data (annotator None)."""
    per_item = (
        Judgment.objects.filter(item=OuterRef("pk")).order_by().values("item").annotate(n=Count("id")).values("n")
    )
    return Coalesce(Subquery(per_item), 0)


def skipped_to_revisit(project: Project, user: User) -> int:
    """How many items this annotator skipped that still need judgments: offered at the end of the queue."""
    return Assignment.objects.filter(
        annotator=user, project=project, state=Assignment.State.SKIPPED, item__judgment_count__lt=project.overlap
    ).count()


def project_skip_counts(project: Project) -> dict:
    """Skips in the project: {"total": n, "by_reason": [(reason, n), ...] most frequent first}.

    Counts the assignments standing skipped now (an item skipped, then answered after all, no
    longer counts as skipped).
    """
    rows = list(
        Assignment.objects.filter(project=project, state=Assignment.State.SKIPPED)
        .values_list("skip_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "skip_reason")
        .values_list("skip_reason", "n")
    )
    return {"total": sum(n for _, n in rows), "by_reason": rows}


def research_projects(user: User) -> list[Project]:
    """Projects on the researcher's dashboard, with their counts (a fixed number of queries).

    n_complete counts items with at least k judgments of any source: labels imported with the data
    count as well as the annotators'. (Only the annotators' count fills their queues.)
    """
    visible = (
        Project.objects.all()
        if user.is_superuser
        else Project.objects.filter(memberships__user=user, memberships__role__in=RESEARCH_ROLES)
    )
    projects = list(visible.order_by("name"))
    ids = [p.pk for p in projects]
    items = dict(Item.objects.filter(project__in=ids).values_list("project").annotate(n=Count("id")).order_by())
    complete = dict(
        Item.objects.filter(project__in=ids)
        .annotate(total=_total_judgments())
        .filter(total__gte=F("project__overlap"))
        .values_list("project")
        .annotate(n=Count("id"))
        .order_by()
    )
    judgments = {
        row["item__project"]: row
        for row in Judgment.objects.filter(item__project__in=ids)
        .values("item__project")
        .annotate(n=Count("id"), imported=Count("id", filter=Q(annotator__isnull=True)))
        .order_by()
    }
    skips = dict(
        Assignment.objects.filter(project__in=ids, state=Assignment.State.SKIPPED)
        .values_list("project")
        .annotate(n=Count("id"))
        .order_by()
    )
    for p in projects:
        p.n_items = items.get(p.pk, 0)
        p.n_complete = complete.get(p.pk, 0)
        row = judgments.get(p.pk)
        p.n_judgments = row["n"] if row else 0
        p.n_imported = row["imported"] if row else 0
        p.n_skips = skips.get(p.pk, 0)
    return projects


def choice_label(choice: str) -> str:
    """An answer in words ("A is better"), not its stored code ("a")."""
    return dict(ANSWERS).get(choice, choice)


def project_stats(project: Project) -> dict:
    """What the project page shows: completion (any source), answers in words, annotators, skips, members."""
    items = Item.objects.filter(project=project)
    n_items = items.count()
    n_complete = items.annotate(total=_total_judgments()).filter(total__gte=project.overlap).count()
    n_open_for_annotators = items.filter(in_queue=True, judgment_count__lt=project.overlap).count()
    judgments = Judgment.objects.filter(item__project=project)
    counts = judgments.aggregate(n=Count("id"), imported=Count("id", filter=Q(annotator__isnull=True)))
    by_choice = [
        {"choice": choice, "label": choice_label(choice), "n": n}
        for choice, n in judgments.values_list("choice")
        .annotate(n=Count("id"))
        .values_list("choice", "n")
        .order_by("-n", "choice")
    ]
    per_annotator = list(  # people: an AI judge's answers are in the judges' table beside it
        judgments.filter(annotator__isnull=False)
        .exclude(BY_A_JUDGE)
        .values("annotator__username")
        .annotate(n=Count("id"))
        .order_by("-n", "annotator__username")
    )
    skips = project_skip_counts(project)
    return {
        "n_items": n_items,
        "n_complete": n_complete,
        "n_open_for_annotators": n_open_for_annotators,
        "n_judgments": counts["n"],
        "n_imported": counts["imported"],
        "completion": (n_complete / n_items) if n_items else 0.0,
        "by_choice": by_choice,
        "per_annotator": per_annotator,
        "n_skips": skips["total"],
        "skip_reasons": skips["by_reason"],
        "members": list(project.memberships.select_related("user").order_by("role", "user__username")),
    }


JUDGMENT_PAGE_MAX = 1000


def judgment_page(project: Project, *, after: int = 0, limit: int = 100) -> dict:
    """One page of the project's judgments in id order, for the API: {"items": [...], "next": cursor}.

    Keyset paging: `after` is the last id of the previous page (0 for the first); `next` is the
    cursor for the following page, None on the last. Each item: id, item, choice, annotator
    (username, None for imported labels), source, left, strength, created_at.
    """
    limit = max(1, min(limit, JUDGMENT_PAGE_MAX))
    rows = list(
        Judgment.objects.filter(item__project=project, id__gt=after)
        .order_by("id")
        .values("id", "item_id", "choice", "annotator__username", "source", "left", "strength", "created_at")[
            : limit + 1
        ]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": r["id"],
            "item": r["item_id"],
            "choice": r["choice"],
            "annotator": r["annotator__username"],
            "source": r["source"],
            "left": r["left"],
            "strength": r["strength"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]
    return {"items": items, "next": rows[-1]["id"] if more else None}


def assignment_for_item(user: User, project: Project, item_id: int) -> Assignment | None:
    """The user's assignment on item `item_id` of `project` (any state), with its project; None if none."""
    assignment = Assignment.objects.filter(project=project, annotator_id=user.pk, item_id=item_id).first()
    if assignment is not None:
        assignment.project = project
    return assignment


def project_counts(project: Project) -> dict:
    """The project's fields with its prompt, item and judgment counts, judgments by choice and by source."""
    judgments = Judgment.objects.filter(item__project=project)
    return {
        "slug": project.slug,
        "name": project.name,
        "kind": project.kind,
        "overlap": project.overlap,
        "prompts": project.prompts.count(),
        "items": Item.objects.filter(project=project).count(),
        "judgments": judgments.count(),
        "judgments_by_choice": dict(judgments.values_list("choice").annotate(n=Count("id")).order_by()),
        "judgments_by_source": dict(judgments.values_list("source").annotate(n=Count("id")).order_by()),
    }
