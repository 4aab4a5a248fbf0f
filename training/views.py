"""Training pages: launch form, job list, live job page, model registry with lineage. Thin views."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from training import charts, configs, selectors, services
from training.forms import LaunchForm, RegisterModelForm
from training.models import ModelVersion


@login_required
def jobs(request):
    selectors.require_researcher(request.user)
    return render(request, "training/jobs.html", {"jobs": selectors.jobs_for(request.user)[:200]})


@login_required
def job_new(request):
    selectors.require_researcher(request.user)
    algorithm = request.POST.get("algorithm") or request.GET.get("algorithm") or "dpo"
    if algorithm not in configs.ALGORITHM_LABELS:
        algorithm = "dpo"
    form = LaunchForm(
        request.POST if request.method == "POST" else None, algorithm=algorithm,
        models=ModelVersion.objects.all(), snapshots=selectors.snapshots_for(request.user),
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = services.launch_job(
                algorithm=algorithm, base_model=form.cleaned_data["base_model"], snapshot=form.cleaned_data["snapshot"],
                overrides=form.overrides(), user=request.user,
            )
        except configs.ConfigError as exc:
            target = f"cfg_{exc.field}" if f"cfg_{exc.field}" in form.fields else exc.field if exc.field in form.fields else None
            form.add_error(target if target else "advanced", str(exc))
        else:
            return redirect("training:job", job.pk)
    template = "training/partials/launch_fields.html" if request.htmx and request.method == "GET" else "training/job_new.html"
    return render(request, template, {"form": form, "algorithm": algorithm})


@login_required
def job_detail(request, job_id):
    job = selectors.get_job_for_user(request.user, job_id)
    context = {"job": job, "charts": charts.metric_charts(job.metrics)}
    template = "training/partials/job_status.html" if request.htmx else "training/job.html"
    return render(request, template, context)


@login_required
@require_POST
def job_cancel(request, job_id):
    services.request_cancel(selectors.get_job_for_user(request.user, job_id))
    return redirect("training:job", job_id)


@login_required
@require_POST
def job_resume(request, job_id):
    try:
        services.resume_job(selectors.get_job_for_user(request.user, job_id))
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("training:job", job_id)


@login_required
def models(request):
    selectors.require_researcher(request.user)
    form = RegisterModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.register_model(**form.cleaned_data)
        except ValueError as exc:
            form.add_error("base", str(exc))
        else:
            return redirect("training:model", model.name)
    return render(request, "training/models.html", {"models": ModelVersion.objects.select_related("parent"), "form": form})


@login_required
def model_detail(request, name):
    model = selectors.get_model_for_user(request.user, name)
    return render(request, "training/model.html", {"model": model, "lineage": selectors.lineage(model)})
