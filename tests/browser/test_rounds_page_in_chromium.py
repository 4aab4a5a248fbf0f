"""The rounds page in Chromium: the start form sits under its heading, not beside it (an unclosed header
row once put the whole page in one flex row)."""

import os
from pathlib import Path

import pytest

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_start_form_sits_under_its_heading_and_offers_rm_ppo(page, live_server, make_user, make_project):
    user = make_user(username="res")
    project = make_project(n_items=0, members={user: "researcher"})
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/training/projects/{project.slug}/rounds/")

    heading = page.get_by_role("heading", name="Start a round").bounding_box()
    form = page.locator("form:has(select[name=algorithm])").bounding_box()
    table = page.locator("table.grid").bounding_box()
    assert heading and form and table
    assert form["y"] >= heading["y"] + heading["height"]  # under the heading
    assert abs(form["x"] - heading["x"]) < 2 and abs(table["x"] - heading["x"]) < 2  # one column
    assert form["width"] > 200 and table["width"] > 600
    assert "rm-ppo" in page.eval_on_selector_all("select[name=algorithm] option", "els => els.map(e => e.value)")
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    page.screenshot(path=str(shots / "rounds-page.png"), full_page=True)
