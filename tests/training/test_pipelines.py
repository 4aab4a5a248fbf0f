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


# ---------------------------------------------------------------- built-in recipes on the tiny Qwen3


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory):
    from tests.training.ml.conftest import TEXTS
    from training.ml.tiny import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3") / "tiny-qwen3", TEXTS)


TINY_TRAINING = {
    "max_new_tokens": 8,
    "sft.max_steps": 2,
    "sft.per_device_train_batch_size": 4,
    "reward.max_steps": 2,
    "reward.per_device_train_batch_size": 2,
    "ppo.max_steps": 1,
    "ppo.per_device_train_batch_size": 2,
    "ppo.num_ppo_epochs": 1,
    "ppo.response_length": 8,
    "bootstrap": 20,
}


@pytest.mark.ml
def test_the_summarise_recipe_runs_end_to_end_on_a_tiny_qwen3(db, make_project, tiny_qwen3):
    from labeling.models import Item
    from tests.shared_data import shared_file
    from training.models import ModelVersion
    from training.services import register_model

    data = shared_file("tldr_dove_test.jsonl")
    project = make_project(n_items=0)
    base = register_model(project=project, name="tiny-qwen3", base=tiny_qwen3, kind="policy")
    pipeline = pipelines.start_pipeline(
        project=project,
        recipe="summarise",
        base=base,
        settings={"data": str(data), "rows": 7, "heldout": 3, **TINY_TRAINING},
    )
    assert run_job(pipeline.job_id, "test") == "succeeded", [s.error for s in pipelines.steps_of(pipeline) if s.error]
    steps = {s.name: s for s in pipelines.steps_of(pipeline)}
    assert all(s.status == "succeeded" for s in steps.values())
    assert steps["import"].outputs["train_rows"] == 4
    assert Item.objects.filter(project=project, response_b__isnull=False).count() >= 3  # summaries + the comparison
    ppo = ModelVersion.objects.get(project=project, name=steps["ppo"].outputs["model"])
    assert ppo.adapters  # PPO trained a LoRA adapter
    assert steps["rm_accuracy"].outputs["n"] > 0 and 0 <= steps["rm_accuracy"].outputs["accuracy"] <= 1
    board = {row["model"] for row in steps["leaderboard"].outputs["leaderboard"]}
    assert len(board) == 3  # base, SFT and PPO met


def test_a_recipe_refuses_a_missing_data_file_naming_the_setting(db, tiny_models):
    pipeline = pipelines.start_pipeline(
        project=tiny_models["policy"].project,
        recipe="summarise",
        base=tiny_models["policy"],
        settings={"data": "/nowhere/posts.jsonl"},
    )
    assert run_job(pipeline.job_id, "test") == "failed"
    first = pipelines.steps_of(pipeline)[0]
    assert first.status == "failed" and first.error.startswith("data: no file '/nowhere/posts.jsonl'")


@pytest.mark.ml
def test_the_self_rewarding_recipe_turns_judged_samples_into_a_dpo_model(db, make_project, tiny_qwen3):
    """k=1 on the tiny Qwen3. A random tiny model writes no parseable verdict (every LLM verdict would
    be a tie, leaving no pair), so the run uses a rule judge; the next test checks the self-judge."""
    from labeling.data.writer import Writer
    from labeling.models import Judgment
    from training.models import ModelVersion
    from training.services import register_model

    project = make_project(n_items=0)
    writer = Writer(project)
    for text in ("Write a haiku about rain.", "Name three colours.", "Say hello.", "Count to five."):
        writer.prompt(text)
    writer.save()
    base = register_model(project=project, name="tiny-qwen3", base=tiny_qwen3, kind="policy")
    pipeline = pipelines.start_pipeline(
        project=project,
        recipe="self-rewarding",
        base=base,
        settings={
            "k": 1, "n": 2, "judge": "rule:length", "max_new_tokens": 8,
            "dpo.max_steps": 1, "dpo.per_device_train_batch_size": 2,
        },
    )  # fmt: skip
    assert run_job(pipeline.job_id, "test") == "succeeded", [s.error for s in pipelines.steps_of(pipeline) if s.error]
    steps = {s.name: s for s in pipelines.steps_of(pipeline)}
    assert list(steps) == ["samples1", "pairs1", "judge1", "judgments1", "dpo1"]
    assert Judgment.objects.filter(item__project=project, item__response_b__isnull=False).exists()
    assert 1 <= steps["judgments1"].outputs["rows"] <= 4  # one best-vs-worst pair per prompt at most
    dpo = ModelVersion.objects.get(project=project, name=steps["dpo1"].outputs["model"])
    assert dpo.produced_by_id == steps["dpo1"].job_id


def test_self_rewarding_judges_with_the_current_policy_as_an_llm_judge(db, tiny_models):
    from training.models import Judge, JudgingRun

    pipeline = pipelines.start_pipeline(
        project=tiny_models["policy"].project, recipe="self-rewarding", base=tiny_models["policy"], settings={"k": 2}
    )
    assert [s.name for s in pipelines.steps_of(pipeline)][5:] == ["samples2", "pairs2", "judge2", "judgments2", "dpo2"]
    step = pipelines.step_spec(pipeline, pipelines.steps_of(pipeline)[2])
    run = pipelines.ACTIONS["judge"].start(pipelines.context(pipeline, step))
    judge = JudgingRun.objects.get(pk=run.pk).judge
    assert judge.kind == Judge.Kind.LLM and judge.settings["model"] == tiny_models["policy"].pk
    with pytest.raises(ValueError, match="^k: cannot change"):
        Job.objects.filter(pk=pipeline.job_id).update(status=Job.Status.FAILED)
        pipelines.resume_pipeline(pipeline, {"k": 3})


def test_the_pipelines_page_launches_a_recipe_and_the_pipeline_page_shows_its_steps_and_resumes_it(
    client, django_user_model, tiny_models, three_steps
):
    project = tiny_models["policy"].project
    user = django_user_model.objects.create_user("researcher", password="pw", is_staff=True)
    project.memberships.create(user=user, role="admin")
    client.force_login(user)
    url = f"/training/projects/{project.slug}/pipelines/"
    refused = client.post(url, {"recipe": "three-steps", "base": tiny_models["policy"].pk, "settings": "colour=red"})
    assert refused.status_code == 422 and "colour: not a setting" in refused.content.decode()
    launched = client.post(
        url, {"recipe": "three-steps", "base": tiny_models["policy"].pk, "settings": "fail_step=second"}
    )
    pipeline = Pipeline.objects.get()
    assert launched.status_code == 302 and launched["Location"].endswith(f"/pipelines/{pipeline.pk}/")
    run_job(pipeline.job_id, "test")
    page = client.get(launched["Location"]).content.decode()
    assert "asked to fail" in page and "Resume from the failed step" in page
    assert page.count('aria-label="progress of step') == 1  # the first step's job; the failed one queued none

    client.post(f"{launched['Location']}resume/", {"settings": "fail_step="})
    assert run_job(pipeline.job_id, "test") == "succeeded"
    page = client.get(launched["Location"]).content.decode()
    assert "Resume from the failed step" not in page and page.count('aria-label="progress of step') == 3
    assert f"#{pipeline.pk}" in client.get(url).content.decode()
