import pytest

from labeling.models import Judgment
from tests.browser.conftest import log_in, wait_for_htmx

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _log_in(page, live_server, username):
    log_in(page, live_server, username)
    page.wait_for_url(f"{live_server.url}/queue/")


def _press_and_wait_for_next(page, key):
    before = page.get_attribute("#workspace", "data-assignment")
    page.keyboard.press(key)
    page.wait_for_function("before => document.querySelector('#workspace').dataset.assignment !== before", arg=before)
    wait_for_htmx(page)


def test_an_annotator_judges_five_items_with_the_keyboard_across_a_reload(page, live_server, make_user, make_project):
    user = make_user(username="ann")
    project = make_project(n_items=8, overlap=1, members={user: "annotator"}, texts=(SCRIPT, IMG))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _log_in(page, live_server, "ann")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")

    # outside text is shown as text, and nothing in it runs
    assert SCRIPT in page.inner_text("#workspace .responses")
    assert IMG in page.inner_text("#workspace .responses")
    assert page.locator("#workspace img").count() == 0

    keys = ["1", "2", "3"]
    for key in keys:
        _press_and_wait_for_next(page, key)
    assert page.locator("html").count() == 1 and Judgment.objects.count() == 3  # swapped, not reloaded

    page.reload()
    for key in ["4", "1"]:
        _press_and_wait_for_next(page, key)
    keys += ["4", "1"]

    judgments = list(Judgment.objects.filter(annotator=user).order_by("created_at"))
    assert len(judgments) == 5
    for key, judgment in zip(keys, judgments, strict=True):
        assert judgment.left in ("a", "b")
        right = "b" if judgment.left == "a" else "a"
        expected = {"1": judgment.left, "2": right, "3": "tie", "4": "both_bad"}[key]
        assert judgment.choice == expected, (key, judgment.left, judgment.choice)
        assert judgment.ms_taken is not None
    assert page.inner_text("[data-testid=judged-today]") == "5"
    assert dialogs == []


def test_binary_items_take_the_arrow_keys_and_skip(page, live_server, make_user, make_project):
    user = make_user(username="bin")
    project = make_project(kind="binary", n_items=3, members={user: "annotator"})
    _log_in(page, live_server, "bin")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    _press_and_wait_for_next(page, "ArrowUp")
    _press_and_wait_for_next(page, "s")
    _press_and_wait_for_next(page, "ArrowDown")
    assert page.locator("[data-testid=done]").is_visible()
    assert sorted(Judgment.objects.values_list("choice", flat=True)) == ["down", "up"]
    assert user.assignments.filter(state="skipped").count() == 1


def test_the_page_is_usable_on_a_phone(browser, live_server, make_user, make_project):
    user = make_user(username="phone")
    project = make_project(n_items=1, members={user: "annotator"}, texts=("x " * 300, "y " * 300))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    _log_in(page, live_server, "phone")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    left = page.locator("article[data-testid=left]").bounding_box()
    right = page.locator("article[data-testid=right]").bounding_box()
    assert right["y"] > left["y"] + left["height"] - 1  # stacked, not squeezed side by side
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.tap("button[data-key='1']")
    page.wait_for_function("() => document.querySelector('[data-testid=done]') !== null")
    assert Judgment.objects.count() == 1
    context.close()
