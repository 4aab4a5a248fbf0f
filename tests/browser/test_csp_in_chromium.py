"""Under the Content-Security-Policy, the annotation page (htmx swaps), the dashboard and the tokens
page work in Chromium with no CSP violation."""

import os
from pathlib import Path

import pytest

from labeling.models import Judgment
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def watched(page):
    """The page, recording CSP violations and console errors."""
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(COLLECT_VIOLATIONS)
    page.errors = errors
    return page


def _no_violations(page) -> None:
    assert page.evaluate("window.__csp") == []
    assert [e for e in page.errors if "Content Security Policy" in e or "Refused to" in e] == []


def test_annotating_with_htmx_works_under_the_csp(watched, live_server, make_user, make_project):
    page = watched
    user = make_user(username="ann")
    project = make_project(n_items=3, members={user: "annotator"})
    log_in(page, live_server, "ann")
    response = page.goto(f"{live_server.url}/annotate/{project.slug}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    before = page.get_attribute("#workspace", "data-assignment")
    page.keyboard.press("1")
    page.wait_for_function("b => document.querySelector('#workspace').dataset.assignment !== b", arg=before)
    assert Judgment.objects.filter(annotator=user).count() == 1
    _no_violations(page)


def test_the_dashboard_and_the_tokens_page_work_under_the_csp(watched, live_server, make_user, make_project, tmp_path):
    page = watched
    user = make_user(username="res")
    make_project(n_items=2, members={user: "researcher"})
    log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/dashboard/")
    assert page.locator("table").count() >= 1
    _no_violations(page)

    page.goto(f"{live_server.url}/account/tokens/")
    page.fill("input[name=name]", "laptop")
    page.fill("input[name=expires_days]", "30")
    page.click("button.primary")
    secret = page.inner_text("#new-token code")
    assert len(secret) >= 40 and "laptop" in page.inner_text("#tokens")
    page.screenshot(path=str(Path(os.environ.get("SCREENSHOT_DIR", tmp_path)) / "tokens.png"), full_page=True)
    page.click("#tokens button:has-text('Revoke')")
    assert "is revoked" in page.inner_text("main") and "revoked" in page.inner_text("#tokens")
    _no_violations(page)
