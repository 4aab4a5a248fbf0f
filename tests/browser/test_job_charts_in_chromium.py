"""Job charts in Chromium: every chart of a running and of a finished job has a visible size (an SVG
with only a viewBox renders 0x0 in the `.charts` flex row), and a running job's charts follow its
progress through htmx polling."""

import os
from pathlib import Path

import pytest

from tests.browser.conftest import log_in
from training import jobs
from training.models import Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = "() => [...document.querySelectorAll('.charts figure svg')].map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])"


def _metrics(first: int, last: int) -> list[dict]:
    return [
        {"step": s, "loss": 1 / s, "rewards/margins": s / 10, "rewards/accuracies": 0.5} for s in range(first, last + 1)
    ]


def _assert_visible(sizes: list) -> None:
    assert len(sizes) == 3, sizes  # loss, reward margin, accuracy
    for width, height in sizes:
        assert width >= 200 and height >= 100, sizes


def test_each_chart_is_visible_and_follows_a_running_job(page, live_server, make_user, make_project):
    user = make_user(username="res")
    project = make_project(n_items=0, members={user: "researcher"})
    running = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=40)
    jobs.claim(running.pk, "w@test")
    jobs.record_progress(running.pk, step=5, total=40, metrics=_metrics(1, 5))
    finished = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)
    jobs.claim(finished.pk, "w@test")
    jobs.record_progress(finished.pk, step=10, total=10, metrics=_metrics(1, 10))
    jobs.finish(finished.pk, "succeeded")

    page.set_default_timeout(60_000)  # a loaded CI machine
    log_in(page, live_server, "res")
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))

    page.goto(f"{live_server.url}/training/jobs/{finished.pk}/")
    _assert_visible(page.evaluate(SIZES))
    page.screenshot(path=str(shots / "job-finished-charts.png"), full_page=True)

    page.goto(f"{live_server.url}/training/jobs/{running.pk}/")
    _assert_visible(page.evaluate(SIZES))
    points_before = page.evaluate("() => document.querySelector('.charts figure svg').outerHTML.length")
    jobs.record_progress(running.pk, step=30, total=40, metrics=_metrics(6, 30))
    page.wait_for_function("() => document.querySelector('[data-testid=step]').textContent.trim() === '30'")
    _assert_visible(page.evaluate(SIZES))
    assert page.evaluate("() => document.querySelector('.charts figure svg').outerHTML.length") > points_before
    page.screenshot(path=str(shots / "job-running-charts.png"), full_page=True)
