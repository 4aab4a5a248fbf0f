"""Training pages: launch form, job list, live job page, model registry with lineage. Thin views."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_POST

from labeling.models import Project
from labeling.selectors import get_project_for_user
from training import algorithms, charts, selectors, services
from training import jobs as jobs_lifecycle
from training.forms import LaunchForm, RegisterModelForm
from webapp.http import SignedInRequest


def start_form_page(
    request: HttpRequest,
    slug: str,
    template: str,
    context: Callable[[Project], dict[str, Any]],
    start: Callable[[Project], HttpResponse],
) -> HttpResponse:
    """A research page of one project whose form starts something (a round, a pipeline, a campaign).

    On a POST, `start(project)` queues it and answers (a message and a redirect); a ValueError it
    raises, naming the field, is shown on the page again with status 422. `context(project)` is
    what the page shows besides the project, the error and the worker warning.
    """
    project = get_project_for_user(request.user, slug, research=True)
    error = ""
    if request.method == "POST":
        try:
            return start(project)
        except ValueError as exc:
            error = str(exc)
    page = {"project": project, **context(project), "error": error, "worker_warning": selectors.worker_warning()}
    return render(request, template, page, status=422 if error else 200)


@login_required
def jobs(request: SignedInRequest) -> HttpResponse:
    selectors.require_researcher(request.user)
    return render(
        request,
        "training/jobs.html",
        {
            "jobs": selectors.jobs_for(request.user)[:200],
            "worker_warning": selectors.worker_warning(),
        },
    )


@login_required
def job_new(request: SignedInRequest) -> HttpResponse:
    selectors.require_researcher(request.user)
    algorithm = request.POST.get("algorithm") or request.GET.get("algorithm") or "dpo"
    try:
        algorithms.get(algorithm)  # an unknown name is an error, never a fallback to another algorithm
    except algorithms.ConfigError as exc:
        return HttpResponseBadRequest(escape(str(exc)))
    form = LaunchForm(
        request.POST if request.method == "POST" else None,
        algorithm=algorithm,
        models=selectors.models_for(request.user),
        snapshots=selectors.snapshots_for(request.user),
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = services.launch_job(
                algorithm=algorithm,
                base_model=form.cleaned_data["base_model"],
                snapshot=form.cleaned_data["snapshot"],
                overrides=form.overrides(),
                user=request.user,
            )
        except algorithms.ConfigError as exc:
            target = (
                f"cfg_{exc.field}"
                if f"cfg_{exc.field}" in form.fields
                else exc.field
                if exc.field in form.fields
                else None
            )
            form.add_error(target if target else "advanced", str(exc))
        else:
            return redirect("training:job", job.pk)
    template = (
        "training/partials/launch_fields.html" if request.htmx and request.method == "GET" else "training/job_new.html"
    )
    return render(
        request, template, {"form": form, "algorithm": algorithm, "worker_warning": selectors.worker_warning()}
    )


@login_required
def job_detail(request: SignedInRequest, job_id: int) -> HttpResponse:
    job = selectors.get_job_for_user(request.user, job_id)
    context = {
        "job": job,
        "charts": charts.metric_charts(job),
        "worker_warning": selectors.worker_warning(),
    }
    if job.status in (job.Status.FAILED, job.Status.CANCELLED):
        context.update(resume_note=selectors.resume_note(job), resume_from=selectors.resume_step(job))
    template = "training/partials/job_status.html" if request.htmx else "training/job.html"
    return render(request, template, context)


@login_required
def job_chart(request: SignedInRequest, job_id: int, name: str) -> HttpResponse:
    """One metric of a job as an SVG chart; 404 for a metric the job never logged."""
    svg = charts.metric_chart(selectors.get_job_for_user(request.user, job_id), name)
    if svg is None:
        raise Http404("This job has logged no metric of that name")
    return HttpResponse(svg, content_type="image/svg+xml")


@login_required
@require_POST
def job_cancel(request: SignedInRequest, job_id: int) -> HttpResponse:
    jobs_lifecycle.cancel(selectors.get_job_for_user(request.user, job_id))
    return redirect("training:job", job_id)


@login_required
@require_POST
def job_resume(request: SignedInRequest, job_id: int) -> HttpResponse:
    job = selectors.get_job_for_user(request.user, job_id)
    note = selectors.resume_note(job)
    try:
        jobs_lifecycle.resume(job)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, note)
    return redirect("training:job", job_id)


@login_required
def models(request: SignedInRequest) -> HttpResponse:
    selectors.require_researcher(request.user)
    form = RegisterModelForm(request.POST or None, projects=selectors.projects_for(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            model = services.register_model(**form.cleaned_data)
        except ValueError as exc:
            field = str(exc).split(":", 1)[0]
            form.add_error(field if field in form.fields else None, str(exc))
        else:
            return redirect("training:model", model.pk)
    return render(request, "training/models.html", {"models": selectors.models_for(request.user), "form": form})
