"""Annotator and researcher pages. Thin: parse input, call one service or selector, render."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling import selectors, services
from labeling.forms import JudgmentForm, ProjectForm, SkipForm

SKIP_REASONS = ["Unsure", "Offensive or unsafe content", "Needs expertise I lack", "Broken or empty item"]


def _workspace(request, project, notice: str = ""):
    """The current item (leasing one if needed) as the full page, or as the htmx partial."""
    assignment = services.lease_next_item(project, request.user)
    context = {
        "project": project,
        "assignment": assignment,
        "notice": notice,
        "client_token": services.new_client_token(),
        "skip_reasons": SKIP_REASONS,
        "progress": selectors.annotator_progress(project, request.user),
    }
    if assignment is not None:
        item = assignment.item
        left, right = (item.response_a, item.response_b) if assignment.a_on_left else (item.response_b, item.response_a)
        context.update(item=item, left=left, right=right,
                       left_value="a" if assignment.a_on_left else "b",
                       right_value="b" if assignment.a_on_left else "a")
    template = "labeling/partials/workspace.html" if request.htmx else "labeling/annotate.html"
    return render(request, template, context)


@login_required
def queue(request):
    return render(request, "labeling/queue.html", {"rows": selectors.annotator_projects(request.user)})


@login_required
def annotate(request, slug):
    project = selectors.get_project_for_user(request.user, slug)
    return _workspace(request, project)


@login_required
@require_POST
def judge(request, slug, assignment_id):
    assignment = selectors.get_assignment_for_annotator(request.user, slug, assignment_id)
    project = assignment.project
    form = JudgmentForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid answer: {form.errors.as_text()}")
    data = form.cleaned_data
    try:
        services.submit_judgment(
            assignment,
            choice=data["choice"],
            client_token=data["client_token"],
            strength=data["strength"],
            rationale=data["rationale"],
            ms_taken=data["ms"],
        )
    except services.ItemAlreadyComplete as exc:
        return _workspace(request, project, notice=str(exc)) if request.htmx else redirect("labeling:annotate", slug)
    except services.SubmitError as exc:
        return HttpResponseBadRequest(str(exc))
    if not request.htmx:
        return redirect("labeling:annotate", slug)
    return _workspace(request, project)


@login_required
@require_POST
def skip(request, slug, assignment_id):
    assignment = selectors.get_assignment_for_annotator(request.user, slug, assignment_id)
    project = assignment.project
    form = SkipForm(request.POST)
    services.skip_item(assignment, form.cleaned_data["reason"] if form.is_valid() else "")
    return _workspace(request, project) if request.htmx else redirect("labeling:annotate", slug)


@login_required
def guidelines(request, slug):
    project = selectors.get_project_for_user(request.user, slug)
    return render(request, "labeling/guidelines.html", {"project": project})


@login_required
def dashboard(request):
    if not selectors.is_researcher(request.user):
        raise PermissionDenied("The dashboard is for researchers")
    return render(request, "labeling/dashboard.html", {"projects": selectors.research_projects(request.user)})


@login_required
def project_detail(request, slug):
    project = selectors.get_project_for_user(request.user, slug, research=True)
    return render(request, "labeling/project.html", {"project": project, "stats": selectors.project_stats(project)})


@login_required
def project_create(request):
    if not selectors.is_researcher(request.user):
        raise PermissionDenied("Only researchers may create projects")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.create_project(creator=request.user, **form.cleaned_data)
        return redirect("labeling:project", project.slug)
    return render(request, "labeling/project_form.html", {"form": form})
