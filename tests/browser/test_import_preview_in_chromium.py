"""The import preview in Chromium: the total row count and the Confirm button are in the first
viewport, whatever the file's size; conversations are shown as turns, not as raw JSON."""

import json
import os

import pytest

from labeling.models import Item
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")


def test_a_long_conversational_file_previews_with_totals_turns_and_confirm_in_view(
    page, live_server, make_user, make_project, tmp_path
):
    user = make_user(username="rita")
    project = make_project(n_items=0, members={user: "researcher"})
    long_answer = "A long answer. " * 80
    rows = [
        {
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Question {i}?"}],
            "chosen": [{"role": "assistant", "content": f"Answer {i}. {long_answer}"}],
            "rejected": [{"role": "assistant", "content": f"No idea {i}."}],
        }
        for i in range(300)
    ]
    path = tmp_path / "conversations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/projects/{project.slug}/import/")
    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=format]", "trl")
    page.click("button[type=submit].primary")
    page.wait_for_selector("[data-testid=confirm]")
    page.evaluate("window.scrollTo(0, 0)")
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "import_preview.png"), full_page=False)

    assert "300 records in the file: 300 rows to import" in page.inner_text("[data-testid=import-totals]")
    confirm = page.locator("[data-testid=confirm]").bounding_box()
    assert confirm is not None and confirm["y"] + confirm["height"] <= 800, confirm  # no scrolling needed
    totals = page.locator("[data-testid=import-totals]").bounding_box()
    assert totals["y"] + totals["height"] <= 800

    turns = page.locator("[data-testid=parsed-rows] .turn")
    assert turns.count() >= 2 * 5
    assert turns.nth(0).locator(".role").inner_text().lower() == "system"
    assert turns.nth(1).inner_text().endswith("Question 0?")
    shown = page.inner_text("[data-testid=parsed-rows]")
    assert '"role"' not in shown and '"content"' not in shown  # turns, not JSON

    page.click("[data-testid=confirm]")
    page.wait_for_selector("[data-testid=import-counts]")
    assert Item.objects.filter(project=project).count() == 300
