"""Projects in Chromium: the slug follows the name, members are managed on the page, refusals explain."""

import os
from pathlib import Path

import pytest

from labeling.models import Judgment, Membership, Project
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep PNGs of the pages for a look


def _shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_a_researcher_creates_a_project_whose_slug_follows_the_name_then_adds_a_member(
    page, live_server, make_user, make_project
):
    researcher = make_user(username="rita")
    make_user(username="nico")
    other = make_project(n_items=4, overlap=2, members={researcher: "admin"})
    for i, item in enumerate(other.items.all()):
        for j, choice in enumerate(["a", "b"]):
            Judgment.objects.create(
                item=item, choice=choice if i else "both_bad", client_token=f"t{i}{j}", source="import:pandalm.json"
            )
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/dashboard/")
    _shot(page, "dashboard")
    assert page.get_attribute("th:has-text('Complete')", "title").startswith("Items with at least k")

    page.goto(f"{live_server.url}/projects/new/")
    page.type("#id_name", "Helpful & Harmless: Round 2")
    assert page.input_value("#id_slug") == "helpful-harmless-round-2"
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/projects/helpful-harmless-round-2/")
    project = Project.objects.get(slug="helpful-harmless-round-2")

    page.fill("input[name=username]", "nico")
    page.select_option("select[name=role]", "annotator")
    page.click("text=Add member")
    page.wait_for_selector("text=Added nico as annotator.")
    assert Membership.objects.get(project=project, user__username="nico").role == "annotator"

    page.goto(f"{live_server.url}/projects/{other.slug}/")
    assert "4 of 4 items complete" in page.inner_text(".completion")
    assert "A is better: 3" in page.inner_text(".answers") and "Both bad: 2" in page.inner_text(".answers")
    assert page.get_attribute("text=Train on this", "href") == f"/training/jobs/new/?project={other.slug}"
    _shot(page, "project-researcher")


def test_an_annotator_sees_only_their_queue_and_a_reason_where_they_may_not_go(
    page, live_server, make_user, make_project
):
    annotator = make_user(username="ann")
    project = make_project(members={annotator: "annotator"})
    log_in(page, live_server, "ann")
    links = page.locator("header nav a").all_inner_texts()
    assert "My queue" in links and not {"Dashboard", "Training", "Models"} & set(links)
    response = page.goto(f"{live_server.url}/projects/{project.slug}/")
    assert response.status == 403
    assert "you are one of its annotators" in page.inner_text("main")
    _shot(page, "project-annotator")
    assert page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"
