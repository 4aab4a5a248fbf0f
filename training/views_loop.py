"""Rounds and pipelines pages. Thin: parse input, call training.rounds / training.pipelines, render."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling.models import Project
from labeling.selectors import get_project_for_user
from training import rounds, services
from training.models import ModelVersion, Round
from training.views import start_form_page


def parse_settings_text(text: str, field: str = "settings") -> dict[str, Any]:
    """A settings box: a JSON object, or KEY=VALUE lines (a VALUE that reads as JSON is that value)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{field}: not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{field}: must be a JSON object")
        return value
    try:
        return services.parse_key_values(line for line in text.splitlines() if line.strip())
    except services.NotKeyValue as exc:
        raise ValueError(f"{field}: expected KEY=VALUE lines, not {exc.pair.strip()[:60]!r}") from None


def _version(project: Project, value: Any, field: str, kind: str) -> ModelVersion:
    """The project's model version whose id the form gave in `field`; ValueError naming the field otherwise."""
    version = ModelVersion.objects.filter(project=project, pk=_int(value, field)).first()
    if version is None:
        raise ValueError(f"{field}: choose a {kind} version of this project")
    return version


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: choose one") from None


def _policies(project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.POLICY).order_by("-created_at")


@login_required
def project_rounds(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's rounds (items, judgments, snapshot, job, new version, rating change), and the form that starts one."""

    def context(project: Project) -> dict[str, Any]:
        choices = list(rounds.ROUND_ALGORITHMS.items())
        return {"rows": rounds.round_rows(project), "policies": _policies(project), "algorithms": choices}

    def start(project: Project) -> HttpResponse:
        round_ = rounds.start_round(
            project=project,
            policy=_version(project, request.POST.get("policy"), "policy", "policy"),
            algorithm=request.POST.get("algorithm", "dpo"),
            judge=request.POST.get("judge", ""),
            humans=bool(request.POST.get("humans")),
            settings=parse_settings_text(request.POST.get("settings", "")),
            user=request.user,
        )
        messages.success(request, f"Round {round_.number} queued.")
        return redirect("training:rounds", project.slug)

    return start_form_page(request, slug, "training/rounds.html", context, start)


@login_required
@require_POST
def round_close(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Stop waiting for the annotators: the round goes on with the judgments it has."""
    project = get_project_for_user(request.user, slug, research=True)
    round_ = Round.objects.filter(project=project, number=number).first()
    if round_ is None:
        raise Http404("No such round")
    rounds.close_round(round_)
    messages.success(request, f"Round {number} closed: it goes on with the judgments it has.")
    return redirect("training:rounds", project.slug)


# ---------------------------------------------------------------- pipelines


@login_required
def project_pipelines(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's pipelines, and the form that launches a recipe (recipe, base model, settings)."""
    from training import pipelines

    def context(project: Project) -> dict[str, Any]:
        return {
            "pipelines": pipelines.pipelines_of(project)[:50],
            "recipes": [(r, sorted(r.defaults.items())) for r in pipelines.RECIPES.values()],
            "bases": _policies(project),
        }

    def start(project: Project) -> HttpResponse:
        pipeline = pipelines.start_pipeline(
            project=project,
            recipe=str(request.POST.get("recipe", "")),
            base=_version(project, request.POST.get("base"), "base", "model"),
            settings=parse_settings_text(request.POST.get("settings", "")),
            user=request.user,
        )
        messages.success(request, f"Pipeline {pipeline.pk} queued.")
        return redirect("training:pipeline", project.slug, pipeline.pk)

    return start_form_page(request, slug, "training/pipelines.html", context, start)


def _pipeline(request: HttpRequest, slug: str, pipeline_id: int) -> tuple[Any, Any]:
    from training.models import Pipeline

    project = get_project_for_user(request.user, slug, research=True)
    pipeline = Pipeline.objects.select_related("job", "base").filter(project=project, pk=pipeline_id).first()
    if pipeline is None:
        raise Http404("No such pipeline")
    return project, pipeline


@login_required
def pipeline_detail(request: HttpRequest, slug: str, pipeline_id: int) -> HttpResponse:
    """Each step with its child job's status and progress; resume when the pipeline failed. htmx polls the steps."""
    from training import pipelines

    project, pipeline = _pipeline(request, slug, pipeline_id)
    steps = _with_error_heads(pipelines.steps_of(pipeline))
    context = {
        "project": project,
        "pipeline": pipeline,
        "recipe": pipelines.RECIPES.get(pipeline.recipe),
        "steps": steps,
        "done": sum(1 for s in steps if s.status == "succeeded"),
        "settings_text": "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(pipeline.settings.items())),
    }
    template = (
        "training/partials/pipeline_steps.html" if request.headers.get("HX-Request") else "training/pipeline.html"
    )
    return render(request, template, context)


def _with_error_heads(steps: list[Any]) -> list[Any]:
    for step in steps:
        step.error_head = (step.error or "").strip().split("\n", 1)[0][:300]
    return steps


@login_required
@require_POST
def pipeline_resume(request: HttpRequest, slug: str, pipeline_id: int) -> HttpResponse:
    """Queue a failed or cancelled pipeline again (with corrected settings); finished steps are kept."""
    from training import pipelines

    project, pipeline = _pipeline(request, slug, pipeline_id)
    try:
        changed = parse_settings_text(request.POST.get("settings", ""))
        changed = {k: v for k, v in changed.items() if pipeline.settings.get(k) != v}
        pipelines.resume_pipeline(pipeline, changed)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Pipeline {pipeline.pk} resumed from its first unfinished step.")
    return redirect("training:pipeline", project.slug, pipeline.pk)
