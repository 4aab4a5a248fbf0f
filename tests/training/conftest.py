"""Fixtures for training jobs: tiny models registered as ModelVersions, snapshots, real Celery workers."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.training.ml.conftest import HELD_OUT_ROWS, TEXTS, TRAIN_ROWS, unpaired_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    from workers.demo import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("models"), TEXTS)


@pytest.fixture(autouse=True)
def _tiny_dirs_are_a_model_root(settings, tmp_path_factory):
    """Models built by the tests live under pytest's temporary folder: make it a model root."""
    settings.MODEL_ROOTS = [*settings.MODEL_ROOTS, str(tmp_path_factory.getbasetemp())]


@pytest.fixture
def training_project(make_project):
    """The project the tiny models and the snapshots of a test belong to."""
    return make_project(n_items=0)


@pytest.fixture
def tiny_models(db, tiny_dirs, training_project):
    from training.services import register_model

    return {
        "policy": register_model(
            project=training_project, name="tiny-policy", base=tiny_dirs["tiny-policy"], kind="policy"
        ),
        "reward": register_model(
            project=training_project, name="tiny-reward", base=tiny_dirs["tiny-reward"], kind="reward"
        ),
    }


def _write_snapshot(project, fmt: str, rows: list[dict]):
    from labeling.models import DatasetSnapshot

    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    snapshot = DatasetSnapshot(
        project=project,
        format=fmt,
        file_type="jsonl",
        spec={"format": fmt},
        sha256=hashlib.sha256(data).hexdigest(),
        rows=len(rows),
        size_bytes=len(data),
    )
    snapshot.path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.path.write_bytes(data)
    snapshot.save()
    return snapshot


@pytest.fixture
def make_snapshot(db, training_project):
    """Stored (train, held-out test) snapshots of the closed-form marker task, in the tiny models' project."""

    def make(fmt="preference", train=TRAIN_ROWS, test=HELD_OUT_ROWS):
        if fmt == "unpaired":
            train, test = unpaired_rows(train), unpaired_rows(test)
        project = training_project
        return _write_snapshot(project, fmt, train), _write_snapshot(project, fmt, test)

    return make


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """A real `celery worker` process on this test's own queues, talking to the test database."""

    def __init__(self, queues: dict[str, str], heartbeat_s: int, beat: bool, consume: tuple[str, ...]):
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "CELERY_DEFAULT_QUEUE": queues["default"],
            "TRAINING_QUEUE": queues["training"],
            "TRAINING_HEARTBEAT_SECONDS": str(heartbeat_s),
        }
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "webapp",
            "worker",
            "-Q",
            ",".join(queues[q] for q in consume),
            "--pool",
            "solo",
            "--loglevel",
            "info",
            "-n",
            f"test-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            args += ["-B", "--schedule", str(Path(settings.VAR_DIR) / f"beat-{uuid.uuid4().hex[:6]}")]
        self.log = open(Path(settings.VAR_DIR) / f"worker-{uuid.uuid4().hex[:6]}.log", "w+")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        """kill -9 the worker and everything it started."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """End of the test: nothing the worker still does matters (its database is flushed next), so
        it is killed rather than shut down warmly, which costs seconds per test."""
        if self.process.poll() is None:
            self.kill()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-5000:]


@pytest.fixture
def start_worker(settings):
    """Start real workers on queues of their own; the test process sends to the same queues."""
    queues = {"default": f"default-{uuid.uuid4().hex[:8]}", "training": f"train-{uuid.uuid4().hex[:8]}"}
    settings.CELERY_TASK_DEFAULT_QUEUE = queues["default"]
    settings.TRAINING_QUEUE = queues["training"]
    workers = []

    def start(heartbeat_s: int = 10, beat: bool = False, consume=("default", "training")) -> Worker:
        worker = Worker(queues, heartbeat_s, beat, consume)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, timeout: float, what: str, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f"\n{worker.output()}" if worker else ""))
