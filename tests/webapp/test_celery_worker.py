"""A task goes through the configured broker to a real worker process and its result comes back.

On the main run that is Redis; on the embedded run, kombu's SQLAlchemy transport on a SQLite file under var/.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings

from webapp.celery import app
from workers.tasks import ping

ROOT = Path(__file__).resolve().parents[2]


def test_a_real_worker_answers_through_the_configured_broker():
    queue = f"test-{uuid.uuid4().hex[:8]}"  # our own queue: other runs on this machine can't take it
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "webapp",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--loglevel",
            "warning",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token = uuid.uuid4().hex
        result = ping.apply_async(args=[token], queue=queue)
        assert result.get(timeout=60) == token
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode is not None, output
    assert app.conf.broker_url.startswith("redis://" if settings.REDIS_URL else "sqla+sqlite:///")
