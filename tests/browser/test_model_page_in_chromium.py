"""The model page in Chromium: the forms that start work on the model sit side by side under their
heading, each a card, and a refused form comes back with the reason inside it and the values sent."""

import os
from pathlib import Path

import pytest

from tests.browser.conftest import log_in
from training.models import ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_run_forms_sit_side_by_side_and_a_refused_one_keeps_its_values_and_says_why(
    page, live_server, make_user, make_project
):
    user = make_user(username="res")
    project = make_project(n_items=2, members={user: "researcher"})
    v0 = ModelVersion.objects.create(project=project, name="v0", base="org/tiny")
    v1 = ModelVersion.objects.create(project=project, name="v1", base="org/tiny", parent=v0)
    ModelVersion.objects.create(project=project, name="rm", base="org/tiny-rm", kind=ModelVersion.Kind.REWARD)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/training/models/{v1.pk}/")

    cards = [page.locator("form.card").nth(i).bounding_box() for i in range(3)]
    heading = page.get_by_role("heading", name="Run with this model").bounding_box()
    assert heading and all(cards)
    assert all(c["y"] > heading["y"] for c in cards)  # under the heading
    assert abs(cards[0]["y"] - cards[1]["y"]) < 2 and cards[1]["x"] > cards[0]["x"] + cards[0]["width"]  # one row
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    page.screenshot(path=str(shots / "model-page.png"), full_page=True)

    best_of_n = page.locator("form.card").nth(1)
    best_of_n.locator("input[name=n]").fill("6")
    best_of_n.get_by_role("button").click()  # neither a judge nor a reward model
    page.wait_for_load_state()
    error, card = page.get_by_test_id("run-error"), page.locator("form.card").nth(1)
    assert "judge: name either a judge" in error.inner_text()
    box, inside = error.bounding_box(), card.bounding_box()
    assert inside["y"] < box["y"] < inside["y"] + inside["height"]  # in the form that was refused
    assert card.locator("input[name=n]").input_value() == "6"  # what was sent, kept
    page.screenshot(path=str(shots / "model-page-refused.png"), full_page=True)
