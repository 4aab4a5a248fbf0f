"""The pipeline page in Chromium: each step with its job and progress bar, the failed step's error, and
the resume button that queues the pipeline again from that step."""

import os
from pathlib import Path

import pytest

from tests.browser.conftest import log_in
from training import pipelines
from training.models import Job, ModelVersion
from workers.jobs import run_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def three_steps():
    recipe = pipelines.Recipe(
        name="three-steps",
        description="Three no-op jobs.",
        steps=(pipelines.Step("first", "noop"), pipelines.Step("second", "noop"), pipelines.Step("third", "noop")),
        defaults={"fail_step": "", "total": 2},
    )
    pipelines.register_recipe(recipe)
    yield recipe
    pipelines.RECIPES.pop(recipe.name, None)


def test_a_failed_pipeline_shows_its_steps_and_resumes_from_the_failed_one(
    page, live_server, make_user, make_project, three_steps
):
    user = make_user(username="res")
    project = make_project(n_items=0, members={user: "researcher"})
    base = ModelVersion.objects.create(project=project, name="tiny-qwen3", base="/models/tiny-qwen3", kind="policy")
    pipeline = pipelines.start_pipeline(
        project=project, recipe="three-steps", base=base, settings={"fail_step": "second"}
    )
    assert run_job(pipeline.job_id, "test") == "failed"

    page.set_default_timeout(60_000)
    log_in(page, live_server, "res")
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))

    page.goto(f"{live_server.url}/training/projects/{project.slug}/pipelines/{pipeline.pk}/")
    rows = page.locator("#pipeline-steps tbody tr")
    assert rows.count() == 3
    assert "succeeded" in rows.nth(0).inner_text() and rows.nth(0).locator("progress").is_visible()
    assert "asked to fail" in rows.nth(1).inner_text()
    page.screenshot(path=str(shots / "pipeline_failed.png"), full_page=True)

    page.fill("textarea[name=settings]", "fail_step=")
    page.click("text=Resume from the failed step")
    page.wait_for_load_state()
    assert page.locator("#pipeline-steps .status").first.inner_text() == "Queued"
    assert page.locator("text=Resume from the failed step").count() == 0
    assert Job.objects.get(pk=pipeline.job_id).status == Job.Status.QUEUED
    assert run_job(pipeline.job_id, "test") == "succeeded"
    page.reload()
    assert page.locator("#pipeline-steps tbody tr progress").count() == 3

    page.goto(f"{live_server.url}/training/projects/{project.slug}/pipelines/")
    assert page.locator(f"text=#{pipeline.pk}").is_visible()
    page.screenshot(path=str(shots / "pipelines.png"), full_page=True)
