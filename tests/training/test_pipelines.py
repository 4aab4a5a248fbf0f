"""Pipelines: a recipe of steps, each a job fed by earlier steps; a failed step resumes without redoing the others."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from training import pipelines
from training.models import Job, Pipeline, PipelineStep
from workers.jobs import run_job


@pytest.fixture
def three_steps():
    recipe = pipelines.Recipe(
        name="three-steps",
        description="three no-op jobs",
        steps=(pipelines.Step("first", "noop"), pipelines.Step("second", "noop"), pipelines.Step("third", "noop")),
        defaults={"fail_step": "", "total": 2},
    )
    pipelines.register_recipe(recipe)
    yield recipe
    pipelines.RECIPES.pop(recipe.name, None)


def test_a_failed_step_resumes_after_a_fix_and_finished_steps_keep_their_jobs(db, tiny_models, three_steps):
    project = tiny_models["policy"].project
    pipeline = pipelines.start_pipeline(
        project=project, recipe="three-steps", base=tiny_models["policy"], settings={"fail_step": "second"}
    )
    assert run_job(pipeline.job_id, "test") == "failed"
    steps = pipelines.steps_of(pipeline)
    assert [s.status for s in steps] == ["succeeded", "failed", "pending"]
    assert "asked to fail" in steps[1].error and steps[0].job.status == Job.Status.SUCCEEDED
    first_job = steps[0].job_id

    pipelines.resume_pipeline(pipeline, {"fail_step": ""})
    assert run_job(pipeline.job_id, "test") == "succeeded"
    summary = pipelines.pipeline_summary(pipeline)
    assert summary["status"] == "succeeded"
    assert [s["status"] for s in summary["steps"]] == ["succeeded"] * 3
    assert summary["steps"][0]["job"] == first_job  # not redone
    assert Job.objects.filter(kind=Job.Kind.NOOP).count() == 3


def test_a_step_whose_job_failed_resumes_that_same_job(db, tiny_models, three_steps):
    project = tiny_models["policy"].project
    pipeline = pipelines.start_pipeline(project=project, recipe="three-steps", base=tiny_models["policy"])
    run_job(pipeline.job_id, "test")
    second = PipelineStep.objects.get(pipeline=pipeline, name="second")
    Job.objects.filter(pk=pipeline.job_id).update(status=Job.Status.FAILED)
    Job.objects.filter(pk=second.job_id).update(status=Job.Status.FAILED)
    PipelineStep.objects.filter(pk=second.pk).update(status=PipelineStep.Status.FAILED)
    PipelineStep.objects.filter(pipeline=pipeline, name="third").update(status=PipelineStep.Status.PENDING, job=None)
    pipelines.resume_pipeline(pipeline)
    assert run_job(pipeline.job_id, "test") == "succeeded"
    second.refresh_from_db()
    assert second.status == "succeeded" and Job.objects.get(pk=second.job_id).status == "succeeded"


def test_a_pipeline_is_refused_with_the_setting_named(db, tiny_models, three_steps):
    with pytest.raises(ValueError, match="^recipe: "):
        pipelines.start_pipeline(project=tiny_models["policy"].project, recipe="nope", base=tiny_models["policy"])
    with pytest.raises(ValueError, match="^colour: "):
        pipelines.start_pipeline(
            project=tiny_models["policy"].project,
            recipe="three-steps",
            base=tiny_models["policy"],
            settings={"colour": 1},
        )
    assert not Pipeline.objects.exists()


def test_the_pipeline_command_creates_the_project_for_its_user_and_prints_the_steps(
    db, tiny_dirs, three_steps, django_user_model
):
    django_user_model.objects.create_user("owner", password="pw")
    out = io.StringIO()
    call_command(
        "pipeline",
        "three-steps",
        project="fresh",
        user="owner",
        base=tiny_dirs["tiny-policy"],
        set=["total=1"],
        inline=True,
        stdout=out,
    )
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["status"] == "succeeded" and [s["name"] for s in last["steps"]] == ["first", "second", "third"]
    assert all(s["job"] for s in last["steps"])
    with pytest.raises(CommandError, match="--project"):
        call_command("pipeline", "three-steps", project="other", base="tiny-policy")
