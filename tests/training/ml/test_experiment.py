"""The online-vs-offline experiment runs end to end through its command and reports finite figures."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.shared_data import shared_file

pytestmark = pytest.mark.ml


def test_a_small_experiment_writes_its_json_and_plot_and_prints_the_summary_last(tmp_path: Path) -> None:
    shared_file("self_instruct_user_oriented.jsonl")  # the start policy's pre-training text (skips outside CI)
    out = io.StringIO()
    call_command(
        "experiment",
        "online-vs-offline",
        "--seeds=2",
        "--budget=8",
        "--rounds=2",
        "--pretrain-steps=100",
        "--held-out=4",
        "--eval-samples=2",
        "--max-new-tokens=12",
        f"--cache={tmp_path / 'cache'}",
        f"--out={tmp_path / 'out'}",
        stdout=out,
        stderr=io.StringIO(),
    )
    printed = json.loads(out.getvalue().strip().splitlines()[-1])
    written = json.loads((tmp_path / "out" / "experiment.json").read_text())
    assert (printed["seeds"], printed["budget"], printed["rounds"]) == (2, 8, 2)
    for summary in (printed, written):
        for arm in ("offline", "online", "difference"):
            low, high = summary[arm]["ci"]
            assert all(math.isfinite(x) for x in (summary[arm]["mean"], low, high))
            assert low <= summary[arm]["mean"] <= high
    assert [s["seed"] for s in written["per_seed"]] == [0, 1]
    assert all(0 <= s[arm]["reward"] <= 1 for s in written["per_seed"] for arm in ("offline", "online"))
    svg = (tmp_path / "out" / "experiment.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "online" in svg and "offline" in svg
    assert (tmp_path / "cache").is_dir() and any((tmp_path / "cache").glob("start-*/config.json"))


def test_a_budget_that_does_not_split_into_the_rounds_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--budget"):
        call_command("experiment", "online-vs-offline", "--budget=10", "--rounds=4", f"--out={tmp_path}")
