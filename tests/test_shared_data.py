"""Tests that need ../shared/data skip outside CI (saying where the data comes from) and fail in CI."""

import pytest
from _pytest.outcomes import Failed, Skipped

from tests import shared_data


def test_a_missing_data_file_skips_outside_ci_with_where_it_comes_from(monkeypatch, tmp_path):
    monkeypatch.setattr(shared_data, "DATA", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped, match=r"the shared data sets live in the sibling folder \.\./shared/data/.*README"):
        shared_data.shared_file("hh.jsonl.gz")


def test_a_missing_data_file_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(shared_data, "DATA", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true: the data must be there"):
        shared_data.shared_file("hh.jsonl.gz")


def test_a_present_data_file_is_returned(monkeypatch, tmp_path):
    (tmp_path / "x.jsonl").write_text("{}\n")
    monkeypatch.setattr(shared_data, "DATA", tmp_path)
    assert shared_data.shared_file("x.jsonl") == tmp_path / "x.jsonl"
