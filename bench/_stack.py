"""What the benchmarks share: the project on sys.path, the Postgres database they run on, Django set
up on it, and the Markdown answers they fill it with.

    from _stack import ROOT, markdown_answer, setup_django   # bench/ is on sys.path when run as a script
"""

import os
import random
import sys
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
