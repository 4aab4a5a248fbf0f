import subprocess
import sys
from pathlib import Path

import pytest

from webapp.env import envbool, envint, envlist

ROOT = Path(__file__).resolve().parents[2]


def test_env_helpers_read_typed_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.example, b.example")
    assert envbool("X_BOOL", False) is True
    assert envint("X_INT", 0) == 42
    assert envlist("X_LIST", []) == ["a.example", "b.example"]
    monkeypatch.setenv("X_BOOL", "")
    assert envbool("X_BOOL", True) is True  # empty means unset


def test_env_helpers_fail_loudly_on_bad_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "4two")
    with pytest.raises(ValueError, match="X_BOOL='maybe' is not a boolean"):
        envbool("X_BOOL", False)
    with pytest.raises(ValueError, match="X_INT='4two' is not an integer"):
        envint("X_INT", 0)


def _settings_in_fresh_process(tmp_path, **env):
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, len(settings.SECRET_KEY))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"DJANGO_SETTINGS_MODULE": "webapp.settings", "VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", **env},
    )


def test_embedded_defaults_are_sqlite_and_a_sqlite_file_broker_under_var(tmp_path):
    # issue 10: the filesystem transport died on half-written message files; the embedded broker is
    # kombu's SQLAlchemy transport on a SQLite file under var/ (tests/training/test_soak_embedded_worker.py)
    out = _settings_in_fresh_process(tmp_path)
    assert out.returncode == 0, out.stderr
    engine, broker, key_len = out.stdout.split()
    assert engine.endswith("sqlite3") and broker == f"sqla+sqlite:///{tmp_path / 'celery-broker.sqlite3'}"
    assert int(key_len) >= 40
    key = (tmp_path / "secret_key").read_text()
    again = _settings_in_fresh_process(tmp_path)
    assert again.returncode == 0 and (tmp_path / "secret_key").read_text() == key  # generated once


def test_the_real_stack_comes_from_the_environment(tmp_path):
    out = _settings_in_fresh_process(
        tmp_path, DATABASE_URL="postgres://u@db.example:5432/x", REDIS_URL="redis://r.example:6379/0"
    )
    assert out.returncode == 0, out.stderr
    engine, broker, _ = out.stdout.split()
    assert engine.endswith("postgresql") and broker == "redis://r.example:6379/0"


def test_a_missing_secret_key_is_an_error_when_asked_to_be_strict(tmp_path):
    out = _settings_in_fresh_process(tmp_path, DEBUG="false", LOCAL_SECRET_KEY="false")
    assert out.returncode != 0 and "SECRET_KEY must be set" in out.stderr
    bad = _settings_in_fresh_process(tmp_path, DEBUG="sometimes")
    assert bad.returncode != 0 and "DEBUG='sometimes' is not a boolean" in bad.stderr
