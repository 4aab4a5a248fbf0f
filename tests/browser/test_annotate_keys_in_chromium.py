"""The annotator's keyboard in Chromium: strength keys, a key per skip reason, undo, skipped items
at the end, the end-of-queue state; and the page resending an answer after a 503 or a dropped
connection, stored once."""

import os
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from labeling.models import Assignment, Judgment
from tests.browser.conftest import log_in, wait_for_htmx

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/var-h_annot/screenshots"))


def _log_in(page, live_server, username):
    log_in(page, live_server, username)
    page.wait_for_url(f"{live_server.url}/queue/")


def _current(page):
    return page.get_attribute("#workspace", "data-assignment")


def _press_and_wait_for_swap(page, key):
    page.evaluate("() => { document.querySelector('#workspace').dataset.swapped = 'old'; }")
    page.keyboard.press(key)
    page.wait_for_function("() => document.querySelector('#workspace').dataset.swapped === undefined")
    wait_for_htmx(page)


def test_strength_skip_reasons_undo_and_the_end_of_the_queue_by_keyboard(page, live_server, make_user, make_project):
    user = make_user(username="keys")
    project = make_project(
        n_items=3,
        overlap=1,
        members={user: "annotator"},
        ask_strength=True,
        guidelines="Prefer the **more helpful** answer.",
    )
    _log_in(page, live_server, "keys")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "annotate-pairwise-strength.png"), full_page=True)
    assert page.locator(".keys").is_visible() and "q" in page.inner_text(".keys")

    first = _current(page)
    page.keyboard.press("w")  # strength: clear
    assert page.locator("input[name=strength][value='2']").is_checked()
    _press_and_wait_for_swap(page, "1")
    judgment = Judgment.objects.get()
    assert judgment.strength == 2 and judgment.choice == Assignment.objects.get(pk=first).item.judgments.get().choice
    assert page.locator("#undo-form").is_visible()

    _press_and_wait_for_swap(page, "u")  # undo: the same item again, nothing stored
    assert _current(page) == first and Judgment.objects.count() == 0
    assert "Answer taken back" in page.inner_text("[data-testid=notice]")

    page.keyboard.press("e")  # strength: strong
    _press_and_wait_for_swap(page, "2")
    assert Judgment.objects.get().strength == 3

    skipped = _current(page)
    _press_and_wait_for_swap(page, "o")  # skip: offensive or unsafe content
    assert Assignment.objects.get(pk=skipped).skip_reason == "Offensive or unsafe content"
    _press_and_wait_for_swap(page, "3")  # tie, no strength
    assert Judgment.objects.count() == 2

    # the end of the queue: no item, no key legend; the skipped item is offered last
    assert page.locator("[data-testid=done]").is_visible()
    assert page.locator(".keys").count() == 0 and page.locator("#judge-form").count() == 0
    assert "You skipped 1 item" in page.inner_text("[data-testid=skipped]")
    page.screenshot(path=str(SHOTS / "annotate-end-of-queue.png"), full_page=True)
    _press_and_wait_for_swap(page, "r")
    assert _current(page) == skipped
    _press_and_wait_for_swap(page, "4")
    assert Judgment.objects.count() == 3
    assert page.locator("[data-testid=done]").is_visible() and page.locator("[data-testid=skipped]").count() == 0

    page.goto(f"{live_server.url}/queue/")
    assert page.locator("[data-testid=all-done]").is_visible()
    assert page.get_by_role("link", name="Start").count() == 0
    page.screenshot(path=str(SHOTS / "queue-all-done.png"), full_page=True)


@pytest.mark.parametrize("failure", ["503", "network"])
def test_the_page_resends_an_answer_after_a_failure_and_it_is_stored_once(
    page, live_server, make_user, make_project, failure
):
    user = make_user(username=f"resend-{failure}")
    project = make_project(n_items=3, overlap=1, members={user: "annotator"})
    _log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    sent = []

    def flaky(route):
        sent.append(parse_qs(route.request.post_data)["client_token"][0])
        if len(sent) == 1:
            if failure == "503":
                route.fulfill(status=503, body="Service Unavailable")
            else:
                route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/judge/", flaky)
    first = _current(page)
    page.keyboard.press("1")
    page.wait_for_function("before => document.querySelector('#workspace').dataset.assignment !== before", arg=first)
    assert len(sent) == 2 and sent[0] == sent[1]  # resent, with the same client token
    assert Judgment.objects.filter(annotator=user).count() == 1
    assert Assignment.objects.get(pk=first).state == "done"
    assert page.inner_text("#flash") == ""
