"""Pipelines: a recipe of steps run in order, each step's inputs taken from earlier steps' outputs. Torch-free.

A recipe is a list of (step name, action, params). An action has `start(ctx) -> Job | dict`: it either
queues a child job (the pipeline's job waits for it, workers/pipelines.py) or does its work at once
and returns its outputs; `collect(ctx, job) -> dict` then reads a finished child's outputs (a model
name, a snapshot id, ...). `ctx` holds the pipeline, the step's params and everything earlier steps
output, under "<step name>.<key>" and plain "<key>" (the latest wins), plus the pipeline's settings.

Resuming a failed pipeline (`resume_pipeline`, optionally with corrected settings) runs its job again:
succeeded steps are skipped and keep their job ids; a step whose child job failed resumes that job;
a step that failed before queuing anything starts again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import QuerySet

from labeling.models import Project
from training import jobs
from training.models import Job, ModelVersion, Pipeline, PipelineStep

StartFn = Callable[[dict[str, Any]], "Job | dict[str, Any]"]
CollectFn = Callable[[dict[str, Any], Job], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    start: StartFn
    collect: CollectFn = lambda ctx, job: {"job": job.pk}  # noqa: E731


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    steps: tuple[Step, ...]
    defaults: dict[str, Any] = field(default_factory=dict)


ACTIONS: dict[str, Action] = {}
RECIPES: dict[str, Recipe] = {}


def action(name: str, collect: CollectFn | None = None) -> Callable[[StartFn], StartFn]:
    """Register the start function of an action (and how its child's outputs are read)."""

    def register(fn: StartFn) -> StartFn:
        ACTIONS[name] = Action(fn, collect) if collect else Action(fn)
        return fn

    return register


def register_recipe(recipe: Recipe) -> Recipe:
    unknown = [s.action for s in recipe.steps if s.action not in ACTIONS]
    if unknown:
        raise ValueError(f"recipe {recipe.name}: unknown action(s) {', '.join(unknown)}")
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"recipe: unknown recipe {name!r}; one of {', '.join(sorted(RECIPES))}") from None


# ---------------------------------------------------------------- services


def parse_settings(recipe: Recipe, values: dict[str, Any] | None) -> dict[str, Any]:
    """The recipe's defaults with `values` over them; ValueError naming an unknown key."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(recipe.defaults))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a setting of recipe {recipe.name} ({', '.join(sorted(recipe.defaults))})")
    out = {**recipe.defaults, **values}
    json.dumps(out)  # settings are stored as JSON
    return out


def start_pipeline(
    *, project: Project, recipe: str, base: ModelVersion, settings: dict[str, Any] | None = None, user: Any = None
) -> Pipeline:
    """Create a pipeline with its steps (pending) and queue its PIPELINE job; ValueError naming the field."""
    spec = get_recipe(recipe)
    if base.project_id != project.pk:
        raise ValueError(f"base: {base.name} belongs to another project")
    values = parse_settings(spec, settings)
    with transaction.atomic():
        job = jobs.create(Job, kind=Job.Kind.PIPELINE, project=project, user=user, total=len(spec.steps))
        pipeline = Pipeline.objects.create(
            project=project, recipe=spec.name, base=base, settings=values, job=job, created_by=job.created_by
        )
        PipelineStep.objects.bulk_create(
            PipelineStep(pipeline=pipeline, index=i, name=s.name, action=s.action) for i, s in enumerate(spec.steps)
        )
    return pipeline


def resume_pipeline(pipeline: Pipeline, settings: dict[str, Any] | None = None) -> Pipeline:
    """Queue a failed or cancelled pipeline again, with corrected `settings` merged in; finished steps stay."""
    spec = get_recipe(pipeline.recipe)
    with transaction.atomic():
        if settings:
            pipeline.settings = parse_settings(spec, {**pipeline.settings, **settings})
            pipeline.save(update_fields=["settings"])
        jobs.resume(pipeline.job)  # type: ignore[arg-type]  (ValueError unless failed or cancelled)
    return pipeline


def pipeline_of_job(job_id: int) -> Pipeline:
    return Pipeline.objects.select_related("project", "base", "job").get(job_id=job_id)


def context(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    """What a step sees: the settings, every earlier succeeded step's outputs, the step's params."""
    ctx: dict[str, Any] = {**pipeline.settings}
    for done in pipeline.steps.filter(status=PipelineStep.Status.SUCCEEDED).order_by("index"):
        for key, value in done.outputs.items():
            ctx[f"{done.name}.{key}"] = value
            ctx[key] = value
    ctx.update(step.params)
    ctx["pipeline"] = pipeline
    ctx["step"] = step.name
    return ctx


def step_spec(pipeline: Pipeline, row: PipelineStep) -> Step:
    return get_recipe(pipeline.recipe).steps[row.index]


def mark(row: PipelineStep, status: str, **fields: Any) -> None:
    row.status = status
    for key, value in fields.items():
        setattr(row, key, value)
    row.save(update_fields=["status", *fields])


# ---------------------------------------------------------------- selectors


def pipelines_of(project: Project) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(project=project).select_related("job", "base").order_by("-created_at", "-id")


def steps_of(pipeline: Pipeline) -> list[PipelineStep]:
    return list(pipeline.steps.select_related("job").order_by("index"))


def pipeline_summary(pipeline: Pipeline) -> dict[str, Any]:
    """What the CLI prints last: {"pipeline", "status", "steps": [{"name", "job", "status"}]}."""
    pipeline.refresh_from_db()
    return {
        "pipeline": pipeline.pk,
        "status": pipeline.job.status if pipeline.job else "",
        "steps": [{"name": s.name, "job": s.job_id, "status": s.status} for s in steps_of(pipeline)],
    }


# ---------------------------------------------------------------- actions


@action("noop")
def _noop(ctx: dict[str, Any]) -> Job:
    """A no-op job of `total` steps (health checks and tests); fails at start when the setting
    `fail_step` names this step."""
    if ctx.get("fail_step") == ctx["step"]:
        raise ValueError(f"{ctx['step']}: asked to fail (fail_step={ctx['fail_step']!r})")
    return jobs.create(Job, kind=Job.Kind.NOOP, project=ctx["pipeline"].project, total=int(ctx.get("total", 2)))


def _model(ctx: dict[str, Any], name: str) -> ModelVersion:
    version = ModelVersion.objects.filter(project=ctx["pipeline"].project, name=name).first()
    if version is None:
        raise ValueError(f"{ctx['step']}: no model named {name!r} in the project")
    return version


def _trained(ctx: dict[str, Any], job: Job) -> dict[str, Any]:
    version = ModelVersion.objects.filter(produced_by_id=job.pk).first()
    if version is None:
        raise ValueError(f"{ctx['step']}: training job {job.pk} registered no model")
    return {"job": job.pk, "model": version.name}


@action("train", collect=_trained)
def _train(ctx: dict[str, Any]) -> Job:
    """A training job: params algorithm, from (a ctx key naming the start model, or "base"), snapshot
    (a ctx key naming the snapshot id), overrides (ctx keys prefixed "<step>." in the settings)."""
    from labeling.models import DatasetSnapshot
    from training import services

    pipeline: Pipeline = ctx["pipeline"]
    start = pipeline.base if ctx.get("from", "base") == "base" else _model(ctx, ctx[ctx["from"]])
    snapshot = DatasetSnapshot.objects.get(pk=ctx[ctx.get("snapshot", "snapshot")], project=pipeline.project)
    prefix = f"{ctx['step']}."
    overrides = {
        **ctx.get("overrides", {}),
        **{k[len(prefix) :]: v for k, v in pipeline.settings.items() if k.startswith(prefix)},
    }
    for key, source in ctx.get("overrides_from", {}).items():
        overrides[key] = source.format(**{k.replace(".", "_"): v for k, v in ctx.items() if isinstance(v, str | int)})
    return services.launch_job(algorithm=ctx["algorithm"], base_model=start, snapshot=snapshot, overrides=overrides)


def data_path(value: str) -> Path:
    """A data file the recipe reads: absolute, or relative to the project's shared data folder."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(django_settings.BASE_DIR).parent / value
    if not path.is_file():
        raise ValueError(f"data: no file {value!r}")
    return path
