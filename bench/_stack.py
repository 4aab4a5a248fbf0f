"""What the benchmarks share: the project on sys.path, the Postgres database they run on, Django set
up on it, the Markdown answers they fill it with, and a real Celery worker (`Worker`).

    from _stack import ROOT, markdown_answer, setup_django   # bench/ is on sys.path when run as a script
"""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def postgres_database(default_url: str, *, fresh: bool = False) -> str:
    """DATABASE_URL when set (used as it is), else `default_url`, created if missing (anew when `fresh`)."""
    url = os.environ.get("DATABASE_URL") or default_url
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        sys.exit(f"this benchmark needs Postgres; DATABASE_URL is {url!r}")
    if os.environ.get("DATABASE_URL"):
        return url
    import psycopg

    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


def setup_django(default_url: str, *, fresh: bool = False, migrate: bool = True, **environ: str) -> str:
    """Django on the benchmark's Postgres database (see `postgres_database`), migrated; `environ` is set
    in os.environ first (and so reaches any server or worker started later). Returns the database URL."""
    url = postgres_database(default_url, fresh=fresh)
    os.environ.update(environ, DATABASE_URL=url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return url


def bench_environment(var_dir: Path, name: str, *, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of this process, of its bare runs and of its worker: the stack named, this run's
    own queues (`name`-RUN and `name`-default-RUN), models and datasets offline, plus `extra`."""
    run = uuid.uuid4().hex[:8]
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        VAR_DIR=str(var_dir),
        TRAINING_QUEUE=f"{name}-{run}",
        CELERY_DEFAULT_QUEUE=f"{name}-default-{run}",
        DJANGO_SETTINGS_MODULE="webapp.settings",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        **extra,
    )
    return dict(os.environ)


WORDS = (
    "model answer policy reward helpful honest harmless context detail example reason step result "
    "question user assistant data value function number list table code test case clear short long "
    "better worse because therefore however first second finally note check simple correct café naïve"
).split()


def sentence(rng: random.Random, n: int) -> str:
    """n random words, capitalised, with a full stop."""
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def markdown_answer(rng: random.Random, label: str, k: int) -> str:
    """A few hundred characters of Markdown, like a model's answer: a bold opening with a quotation, a
    paragraph, a list, and (every fourth k) a code block; quotes, newlines, `<`, a backslash and
    non-ASCII text, so that escaping is exercised."""
    parts = [
        f'**Answer {label}.** "{sentence(rng, 14)}"',
        sentence(rng, 20),
        "\n".join(f"- {sentence(rng, 5)}" for _ in range(3)),
    ]
    if k % 4 == 0:
        parts.append(f"```python\ndef f(x):\n    return x * {k % 97} + 1  # <ok> \\ done\n```")
    return "\n\n".join(parts)


class Worker:
    """A real `celery worker` on the run's training queue (env["TRAINING_QUEUE"]), in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path, *, name: str = "bench", loglevel: str = "info"):
        self.log_path = log_path
        self.log = open(log_path, "w")
        args = [
            *(sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", env["TRAINING_QUEUE"]),
            *("--pool", "solo", "--loglevel", loglevel, "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, queue: str, timeout: float) -> float:
        """Seconds until the worker answered a ping on `queue` (it preloads torch/TRL before consuming)."""
        from celery.exceptions import TimeoutError as ResultTimeout

        from webapp.celery import app

        result = app.send_task("workers.tasks.ping", args=["ready"], queue=queue)
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            self.alive()
            try:
                if result.get(timeout=1) == "ready":
                    result.forget()
                    return time.monotonic() - self.started
            except ResultTimeout:
                continue
        sys.exit(f"the worker did not answer a ping within {timeout:.0f} s:\n{self.output()}")

    def alive(self) -> None:
        """Exit the bench, with the worker's log, if the worker has exited."""
        if self.process.poll() is not None:
            sys.exit(f"the worker exited ({self.process.returncode}):\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()
