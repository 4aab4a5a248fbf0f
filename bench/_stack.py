"""What the benchmarks share: the Postgres database they run on."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit


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
