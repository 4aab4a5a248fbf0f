"""The launch form in Chromium: changing the algorithm swaps the base models and snapshots it offers."""

import os
from pathlib import Path

import pytest

from labeling.models import DatasetSnapshot
from tests.browser.conftest import log_in, wait_for_htmx
from training.models import ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _options(page, name: str) -> list[str]:
    return page.eval_on_selector_all(f"select[name={name}] option", "els => els.map(e => e.textContent.trim())")


def test_the_base_model_and_snapshot_lists_follow_the_algorithm(page, live_server, make_user, make_project):
    user = make_user(username="res")
    project = make_project(n_items=0, members={user: "researcher"})
    for i, fmt in enumerate(["preference", "unpaired", "preference"]):
        DatasetSnapshot.objects.create(
            project=project,
            format=fmt,
            file_type="jsonl",
            rows=100 + i,
            size_bytes=1,
            spec={"format": fmt, "split": "train", "test_size": 0.1} if i == 2 else {},
            sha256=f"{i:064d}",
        )
    ModelVersion.objects.create(project=project, name="tiny-policy", base="org/tiny-policy", kind="policy")
    ModelVersion.objects.create(project=project, name="tiny-reward", base="org/tiny-reward", kind="reward")
    page.set_default_timeout(60_000)  # a loaded CI machine
    log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/training/jobs/new/?algorithm=dpo")

    models = _options(page, "base_model")
    assert any("tiny-policy" in m for m in models) and not any("tiny-reward" in m for m in models)
    snapshots = [s for s in _options(page, "snapshot") if s.startswith("#")]
    assert len(snapshots) == 2 and "102 rows" in snapshots[0] and "train side of a 0.1 test split" in snapshots[0]
    assert page.input_value("input[name=cfg_num_train_epochs]") == "3"
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    page.screenshot(path=str(shots / "launch-form-dpo.png"), full_page=True)

    page.select_option("select[name=algorithm]", "kto")
    page.wait_for_function(
        "() => document.querySelector('select[name=algorithm]').value === 'kto'"
        " && document.querySelector('input[name=cfg_desirable_weight]') !== null"
    )
    wait_for_htmx(page)  # the swapped-in select is bound once the swap has settled
    snapshots = [s for s in _options(page, "snapshot") if s.startswith("#")]
    assert len(snapshots) == 1 and "unpaired" in snapshots[0] and "101 rows" in snapshots[0]
    page.select_option("select[name=algorithm]", "reward")
    page.wait_for_function("() => document.querySelector('input[name=cfg_desirable_weight]') === null")
    models = _options(page, "base_model")
    assert any("tiny-reward" in m for m in models) and any("tiny-policy" in m for m in models)
    page.screenshot(path=str(shots / "launch-form-reward.png"), full_page=True)
