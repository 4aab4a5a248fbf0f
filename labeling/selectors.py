"""Reads of the annotation domain. Authorisation lives here, in one helper."""

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, F, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from labeling.models import Assignment, Item, Judgment, Membership, Project

RESEARCH_ROLES = (Membership.Role.RESEARCHER, Membership.Role.ADMIN)


def is_researcher(user) -> bool:
    """May see the dashboard and create projects."""
    return user.is_authenticated and (
        user.is_superuser
        or user.has_perm("labeling.add_project")
        or Membership.objects.filter(user=user, role__in=RESEARCH_ROLES).exists()
    )


def get_project_for_user(user, slug: str, *, research: bool = False) -> Project:
    """The project `slug` if `user` may see it: 404 when not a member, 403 when the role is too low."""
    try:
        project = Project.objects.get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project") from None
    if user.is_superuser:
        return project
    role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    if role is None:
        raise Http404("No such project")
    if research and role not in RESEARCH_ROLES:
        raise PermissionDenied("Only the project's researchers may see this page")
    return project


def get_assignment_for_user(user, project: Project, assignment_id: int) -> Assignment:
    try:
        return Assignment.objects.select_related("project").get(pk=assignment_id, project=project, annotator=user)
    except Assignment.DoesNotExist:
        raise Http404("No such assignment") from None


def annotator_projects(user) -> list[dict]:
    """The annotator's queue: their projects with what is left for them."""
    projects = Project.objects.filter(memberships__user=user).order_by("name")
    return [{"project": p, **annotator_progress(p, user)} for p in projects]


def annotator_progress(project: Project, user) -> dict:
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    judged_today = Judgment.objects.filter(annotator=user, item__project=project, created_at__gte=today).count()
    open_items = Item.objects.filter(project=project, judgment_count__lt=project.overlap)
    answered = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(state=Assignment.State.OPEN)
    left = open_items.exclude(Exists(answered)).count()
    return {"judged_today": judged_today, "left": left}


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
