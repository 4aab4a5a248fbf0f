"""Annotator and researcher pages. Thin: parse input, call one service or selector, render."""

import copy
import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape, format_html
from django.views.decorators.http import require_POST

from labeling import selectors, services
from labeling.forms import (
    JudgmentForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    SkipForm,
)
from labeling.models import Judgment, Membership, Project
from webapp.http import SignedInRequest

logger = logging.getLogger(__name__)


AnnotatorRequest = SignedInRequest  # what the views behind login_required see


# One key per reason; "s" stays the plain "skip, unsure".
SKIP_REASONS = [
    ("s", "Unsure"),
    ("o", "Offensive or unsafe content"),
    ("x", "Needs expertise I lack"),
    ("b", "Broken or empty item"),
]
STRENGTHS = [("q", 1, "slight"), ("w", 2, "clear"), ("e", 3, "strong")]


def _workspace(
    request: AnnotatorRequest, project: Project, notice: str = "", undo: Judgment | None = None
) -> HttpResponse:
    """The current item (leasing one if needed) as the full page, or as the htmx partial.

    `undo`: the judgment just stored, offered for UNDO_SECONDS with the `u` key.
    """
    assignment = services.lease_next_item(project, request.user)
    context: dict[str, Any] = {
        "project": project,
        "assignment": assignment,
        "notice": notice,
        "client_token": services.new_client_token(),
        "skip_reasons": SKIP_REASONS,
        "strengths": STRENGTHS,
        "undo": undo,
        "undo_seconds": services.UNDO_SECONDS,
        "progress": selectors.annotator_progress(project, request.user),
    }
    if assignment is not None:
        item = assignment.item
        left, right = (item.response_a, item.response_b) if assignment.a_on_left else (item.response_b, item.response_a)
        context.update(
            item=item,
            left=left,
            right=right,
            left_value="a" if assignment.a_on_left else "b",
            right_value="b" if assignment.a_on_left else "a",
        )
    else:
        context["skipped"] = selectors.skipped_to_revisit(project, request.user)
    template = "labeling/partials/workspace.html" if request.htmx else "labeling/annotate.html"
    return render(request, template, context)


def _after_write(
    request: AnnotatorRequest, project: Project, *, saved: str, undo: Judgment | None = None
) -> HttpResponse:
    """The answer to a committed write: without htmx, back to the workspace; with htmx, the next item,
    and if showing it fails, still say the write is saved.

    The write is committed by then, so the answer is never a failure: a 200 that says so and
    asks for a reload (the page's `n` key), instead of a 500 that reads as "not sent".
    """
    if not request.htmx:
        return redirect("labeling:annotate", project.slug)
    try:
        return _workspace(request, project, undo=undo)
    except Exception:
        logger.exception("showing the next item failed after a committed write in project %s", project.slug)
        url = reverse("labeling:annotate", args=[project.slug])
        return HttpResponse(
            format_html(
                '<div id="workspace" data-assignment="" data-state="saved">'
                '<p class="notice" role="status" data-testid="saved">{} The next item could not be shown just now.</p>'
                '<p><a class="button primary" href="{}" data-key="n">Reload for the next item <kbd>n</kbd></a></p></div>',
                saved,
                url,
            )
        )


@login_required
def queue(request: AnnotatorRequest) -> HttpResponse:
    return render(request, "labeling/queue.html", {"rows": selectors.annotator_projects(request.user)})


@login_required
def annotate(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug)
    return _workspace(request, project)


@login_required
@require_POST
def judge(request: AnnotatorRequest, slug: str, assignment_id: int) -> HttpResponse:
    assignment = selectors.get_assignment_for_annotator(request.user, slug, assignment_id)
    form = JudgmentForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(escape(f"Invalid answer: {form.errors.as_text()}"))
    answer = dict(form.cleaned_data)  # the form's fields are submit_judgment's keywords, but for ms
    answer["ms_taken"] = answer.pop("ms")
    try:
        result = services.submit_judgment(assignment, **answer)
    except services.AssignmentClosed as exc:
        # skipped, lapsed and taken by someone else, or complete: say so and move on
        if not request.htmx:
            messages.info(request, str(exc))
            return redirect("labeling:annotate", slug)
        return _workspace(request, assignment.project, notice=str(exc))
    except services.SubmitError as exc:
        return HttpResponseBadRequest(escape(str(exc)))
    return _after_write(request, assignment.project, saved="Your answer was saved.", undo=result.judgment)


@login_required
@require_POST
def skip(request: AnnotatorRequest, slug: str, assignment_id: int) -> HttpResponse:
    assignment = selectors.get_assignment_for_annotator(request.user, slug, assignment_id)
    form = SkipForm(request.POST)
    services.skip_item(assignment, form.cleaned_data["reason"] if form.is_valid() else "")
    return _after_write(request, assignment.project, saved="Skipped.")


@login_required
@require_POST
def undo(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug)
    try:
        judgment_id = int(request.POST.get("judgment", ""))
    except ValueError:
        return HttpResponseBadRequest("judgment: the id of the answer to undo is missing or not a number")
    try:
        services.undo_judgment(project, request.user, judgment_id)
    except services.UndoError as exc:
        notice = str(exc)
    else:
        notice = "Answer taken back: judge this item again."
    if not request.htmx:
        messages.info(request, notice)
        return redirect("labeling:annotate", slug)
    return _workspace(request, project, notice=notice)


@login_required
@require_POST
def revisit_skipped(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug)
    reopened = services.reopen_skipped_item(project, request.user)
    notice = "" if reopened else "None of your skipped items needs an answer any more."
    if not request.htmx:
        if notice:
            messages.info(request, notice)
        return redirect("labeling:annotate", slug)
    return _workspace(request, project, notice=notice)


@login_required
def guidelines(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug)
    return render(request, "labeling/guidelines.html", {"project": project})


@login_required
def dashboard(request: AnnotatorRequest) -> HttpResponse:
    if not selectors.is_researcher(request.user):
        raise PermissionDenied(
            "The dashboard is for researchers: you are not a researcher on any project. Your items are in your queue."
        )
    return render(request, "labeling/dashboard.html", {"projects": selectors.research_projects(request.user)})


def _project_page(
    request: AnnotatorRequest,
    project: Project,
    *,
    settings_form: ProjectSettingsForm | None = None,
    member_form: MemberAddForm | None = None,
    status: int = 200,
) -> HttpResponse:
    # member_role: the viewer's role, annotated on the project by selectors.get_project_for_user
    can_manage_admins = request.user.is_superuser or getattr(project, "member_role", None) == Membership.Role.ADMIN
    context = {
        "project": project,
        "stats": selectors.project_stats(project),
        "settings_form": settings_form or ProjectSettingsForm(instance=project),
        "member_form": member_form or MemberAddForm(offer_admin=can_manage_admins),
        "roles": Membership.Role.choices,
        "can_manage_admins": can_manage_admins,
    }
    return render(request, "labeling/project.html", context, status=status)


@login_required
def project_detail(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug, research=True)
    return _project_page(request, project)


@login_required
def project_create(request: AnnotatorRequest) -> HttpResponse:
    if not selectors.is_researcher(request.user):
        raise PermissionDenied(
            "Only researchers may create projects: you are not a researcher on any project. "
            "Ask an admin for the researcher role."
        )
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.create_project(creator=request.user, **form.cleaned_data)
        return redirect("labeling:project", project.slug)
    return render(request, "labeling/project_form.html", {"form": form})


@login_required
@require_POST
def project_settings(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug, research=True)
    form = ProjectSettingsForm(request.POST, instance=copy.copy(project))  # the page keeps showing what is saved
    if not form.is_valid():
        return _project_page(request, project, settings_form=form, status=400)
    services.update_project_settings(project, **form.cleaned_data)
    messages.success(request, "Settings and guidelines saved.")
    return redirect("labeling:project", slug)


@login_required
@require_POST
def member_add(request: AnnotatorRequest, slug: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug, research=True)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            member = services.add_member(
                project, form.cleaned_data["username"], form.cleaned_data["role"], actor=request.user
            )
        except services.MembershipError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Added {member.user.username} as {member.role}.")
            return redirect("labeling:project", slug)
    return _project_page(request, project, member_form=form, status=400)


@login_required
@require_POST
def member_role(request: AnnotatorRequest, slug: str, username: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug, research=True)
    form = MemberRoleForm(request.POST)
    try:
        if not form.is_valid():
            raise services.MembershipError("role", f"role must be one of {', '.join(Membership.Role.values)}")
        member = services.set_role(project, username, form.cleaned_data["role"], actor=request.user)
    except services.MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{member.user.username} is now {member.role}.")
    return redirect("labeling:project", slug)


@login_required
@require_POST
def member_remove(request: AnnotatorRequest, slug: str, username: str) -> HttpResponse:
    project = selectors.get_project_for_user(request.user, slug, research=True)
    try:
        services.remove_member(project, username, actor=request.user)
    except services.MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed {username} from the project.")
    return redirect("labeling:project", slug)
