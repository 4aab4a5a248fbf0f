"""Reads of the annotation domain. Authorisation lives here, in one helper."""

import logging
import time

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.http import Http404
from django.utils import timezone

from labeling.models import Assignment, Item, Judgment, Membership, Project

RESEARCH_ROLES = (Membership.Role.RESEARCHER, Membership.Role.ADMIN)

logger = logging.getLogger(__name__)


def is_researcher(user) -> bool:
    """May see the dashboard and create projects."""
    return user.is_authenticated and (
        user.is_superuser
        or user.has_perm("labeling.add_project")
        or Membership.objects.filter(user=user, role__in=RESEARCH_ROLES).exists()
    )


def get_project_for_user(user, slug: str, *, research: bool = False) -> Project:
    """The project `slug` if `user` may see it: 404 when not a member, 403 when the role is too low.

    One query: the project with the user's role on it.
    """
    role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    project = Project.objects.filter(slug=slug).annotate(member_role=Subquery(role)).first()
    if project is None:
        raise Http404("No such project")
    if user.is_superuser:
        return project
    if project.member_role is None:
        raise Http404("No such project")
    if research and project.member_role not in RESEARCH_ROLES:
        raise PermissionDenied("Only the project's researchers may see this page")
    return project


def get_assignment_for_annotator(user, slug: str, assignment_id: int) -> Assignment:
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


def annotator_projects(user) -> list[dict]:
    """The annotator's queue: their projects with what is left for them."""
    projects = Project.objects.filter(memberships__user=user).order_by("name")
    return [
        {"project": p, **annotator_progress(p, user), "skipped": skipped_to_revisit(p, user)} for p in projects
    ]


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
        n = Item.objects.filter(project=project, judgment_count__lt=project.overlap).count()
        if use_cache and n >= OPEN_ITEMS_EXACT_BELOW:
            try:
                cache.set(key, n, OPEN_ITEMS_TTL)
            except Exception:
                logger.warning("cache unavailable; open item count not cached", exc_info=True)
                _cache_down_until = time.monotonic() + CACHE_RETRY_SECONDS
    return n


def annotator_progress(project: Project, user) -> dict:
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


def skipped_to_revisit(project: Project, user) -> int:
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


def research_projects(user) -> list[Project]:
    """Projects on the researcher's dashboard, with item and judgment counts and completion."""
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(
        memberships__user=user, memberships__role__in=RESEARCH_ROLES
    )
    projects = projects.annotate(
        n_items=Count("items", distinct=True),
        n_judgments=Count("items__judgments", distinct=True),
        n_complete=Count("items", filter=Q(items__judgment_count__gte=F("overlap")), distinct=True),
    ).order_by("name")
    return list(projects)


def project_stats(project: Project) -> dict:
    items = Item.objects.filter(project=project)
    n_items = items.count()
    n_complete = items.filter(judgment_count__gte=project.overlap).count()
    judgments = Judgment.objects.filter(item__project=project)
    by_choice = dict(judgments.values_list("choice").annotate(n=Count("id")).values_list("choice", "n"))
    per_annotator = list(
        judgments.filter(annotator__isnull=False)
        .values("annotator__username")
        .annotate(n=Count("id"))
        .order_by("-n", "annotator__username")
    )
    return {
        "n_items": n_items,
        "n_complete": n_complete,
        "n_judgments": judgments.count(),
        "completion": (n_complete / n_items) if n_items else 0.0,
        "by_choice": by_choice,
        "per_annotator": per_annotator,
        "members": list(project.memberships.select_related("user").order_by("role", "user__username")),
    }
