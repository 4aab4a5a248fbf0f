"""The project page fetches the judges' agreement table with htmx in Chromium (screenshot under $SCREENSHOT_DIR)."""

import os
from pathlib import Path

import pytest

from labeling.models import Item, Judgment
from tests.browser.conftest import log_in
from training import judging

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_project_page_shows_each_judges_agreement_with_the_humans(page, live_server, make_user, make_project):
    user = make_user(username="res")
    project = make_project(n_items=4, members={user: "researcher"})
    for i, item in enumerate(Item.objects.filter(project=project).order_by("id")):
        Judgment.objects.create(item=item, annotator=user, choice="ab"[i % 2], client_token=f"h{item.pk}")
    run = judging.start_run(project=project, judge="rule:regex:B")
    from workers.jobs import run_job

    run_job(run.pk, "test")
    log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    table = page.locator("[data-testid=judge-agreement] table")
    table.wait_for()
    row = table.locator("tbody tr").first.inner_text()
    assert "rule-regex-b" in row and "0.500" in row  # answers b on all four; humans a, b, a, b
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    page.screenshot(path=str(shots / "judges-agreement.png"), full_page=True)
