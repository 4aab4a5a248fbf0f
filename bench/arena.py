"""The arena's live path, timed the way a member feels it: time to the first streamed token, and
tokens per second, through web -> queue -> warm worker -> browser channel, on the tiny model.

1. Stack: Postgres (DATABASE_URL, default postgres://root@127.0.0.1:5432/bench_arena, created and
   migrated) and Redis (REDIS_URL, default redis://127.0.0.1:6379/6) as broker and token stream;
   with --embedded, the embedded default instead (SQLite under a temporary VAR_DIR, the filesystem
   broker... i.e. the SQLAlchemy/SQLite broker, and file streams).
2. Web: the Django WSGI app served over real HTTP by a threaded server in this process.
3. Worker: a real `celery -A webapp worker -Q <queue> --pool solo` process; two policy versions (the
   tiny model and a copy of it, two cache entries) loaded by warm-up battles that are not timed.
4. Each timed battle does what the page does: POST the prompt (HX-Request, as htmx sends it), read
   the battle id from HX-Push-Url, open both sides' SSE streams, read until both are done.
   first_token_ms: from before the POST until BOTH sides have shown a piece (the later of the two);
   tok_s: tokens per second of one side as the browser receives them (first piece to done; the
   mean over sides and battles); battle_tok_s: both sides together.

    python bench/arena.py [--battles 30] [--warmup 2] [--embedded]

Prints one line per battle, then last: {"first_token_ms_p50", "first_token_ms_p95", "tok_s",
"battle_tok_s", "battles", "max_new_tokens", "stack"}. Target: first token p95 < 1,000 ms on
Postgres + Redis.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import Worker, bench_environment, postgres_database  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/bench_arena"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A helpful answer is short, correct and kind.",
    "Boil the egg for seven minutes, then cool it in cold water.",
    "Rain falls on the hills and the rivers run to the sea.",
] * 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--battles", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--embedded", action="store_true", help="SQLite + the SQLite broker + file streams")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the worker to start")
    return parser.parse_args()


def configure(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    if args.embedded:
        database_url, redis_url = "", ""
    else:
        database_url = postgres_database(DEFAULT_DATABASE_URL)
        redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    return bench_environment(var_dir, "bench-arena", database_url=database_url, redis_url=redis_url, LOGIN_THROTTLE="0")


def serve() -> tuple[str, int]:
    """The Django app over HTTP from a threaded server in this process (as LiveServerTestCase does)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True, name="web").start()
    return "127.0.0.1", server.server_port


class Browser:
    """What the page does, over plain HTTP: a logged-in session, htmx's POST, two EventSources."""

    def __init__(self, host: str, port: int, session: str):
        self.host, self.port = host, port
        self.cookies = {"sessionid": session}

    def _cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def get(self, path: str) -> str:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request("GET", path, headers={"Cookie": self._cookie()})
        response = conn.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("csrftoken="):
                self.cookies["csrftoken"] = value.split(";")[0].split("=", 1)[1]
        body = response.read().decode()
        conn.close()
        if response.status != 200:
            sys.exit(f"GET {path}: {response.status}\n{body[:2000]}")
        return body

    def start_battle(self, path: str, prompt: str, csrf: str) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        body = urlencode({"prompt": prompt, "csrfmiddlewaretoken": csrf})
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Cookie": self._cookie(),
                "Content-Type": "application/x-www-form-urlencoded",
                "HX-Request": "true",
                "Referer": f"http://{self.host}:{self.port}{path}",
            },
        )
        response = conn.getresponse()
        pushed = response.getheader("HX-Push-Url") or ""
        text = response.read().decode()
        conn.close()
        match = re.search(r"/battles/(\d+)/$", pushed)
        if response.status != 200 or not match:
            sys.exit(f"POST {path}: {response.status}\n{text[:2000]}")
        return int(match.group(1))

    def read_stream(self, path: str, out: dict) -> None:
        """Read one SSE stream to its end: the time of its first piece, of its done, its tokens."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        conn.request("GET", path, headers={"Cookie": self._cookie(), "Accept": "text/event-stream"})
        response = conn.getresponse()
        event = ""
        while True:
            line = response.readline()
            if not line:
                out.setdefault("error", "the stream ended without done")
                break
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "piece":
                    out.setdefault("first", time.perf_counter())
                elif event == "done":
                    out["done"] = time.perf_counter()
                    out["tokens"] = json.loads(line[6:]).get("tokens", 0)
                    break
                elif event == "failed":
                    out["error"] = json.loads(line[6:])
                    break
        conn.close()


def battle(browser: Browser, slug: str, csrf: str, prompt: str) -> dict:
    started = time.perf_counter()
    battle_id = browser.start_battle(f"/training/arena/{slug}/battles/", prompt, csrf)
    sides: dict[str, dict] = {"left": {}, "right": {}}
    threads = [
        threading.Thread(
            target=browser.read_stream, args=(f"/training/arena/{slug}/battles/{battle_id}/stream/{side}/", sides[side])
        )
        for side in sides
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [s["error"] for s in sides.values() if "error" in s]
    if errors:
        sys.exit(f"battle {battle_id} failed: {errors}")
    first = max(s["first"] for s in sides.values())
    rates = [s["tokens"] / (s["done"] - s["first"]) for s in sides.values() if s["done"] > s["first"]]
    tokens = sum(s["tokens"] for s in sides.values())
    end = max(s["done"] for s in sides.values())
    return {
        "battle": battle_id,
        "first_token_ms": round(1000 * (first - started), 1),
        "tok_s": statistics.fmean(rates) if rates else 0.0,
        "battle_tok_s": tokens / (end - min(s["first"] for s in sides.values())),
        "tokens": tokens,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-arena-"))
    env = configure(args, work / "var")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from labeling.models import Membership, Project
    from training import arena
    from training.ml.tiny import build_tiny_policy
    from training.models import ModelVersion

    model_a = build_tiny_policy(work / "tiny-policy", TEXTS)
    model_b = work / "tiny-policy-copy"
    shutil.copytree(model_a, model_b)
    run = uuid.uuid4().hex[:6]
    user = get_user_model().objects.create_user(username=f"bench-arena-{run}", password="x")
    project = Project.objects.create(name=f"Arena bench {run}", slug=f"arena-bench-{run}")
    Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
    ModelVersion.objects.create(project=project, name="policy-a", base=str(model_a))
    ModelVersion.objects.create(project=project, name="policy-b", base=str(model_b))
    client = Client()
    client.force_login(user)

    worker = Worker(env, work / "worker.log", name="bench-arena", loglevel="warning")
    try:
        host, port = serve()
        browser = Browser(host, port, client.cookies["sessionid"].value)
        page = browser.get(f"/training/arena/{project.slug}/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if csrf is None:
            sys.exit("no CSRF token on the arena page")
        started = time.monotonic()
        for i in range(args.warmup):  # the worker imports torch and loads both versions here
            worker.alive()
            warm = battle(browser, project.slug, csrf.group(1), f"warm-up {i}: tell me about the sea")
            print(json.dumps({"warmup": i, **warm, "since_start_s": round(time.monotonic() - started, 1)}), flush=True)
        results = []
        for i in range(args.battles):
            worker.alive()
            result = battle(browser, project.slug, csrf.group(1), f"Battle {i}: how do I boil an egg?")
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        worker.stop()
    firsts = [r["first_token_ms"] for r in results]
    print(
        json.dumps(
            {
                "first_token_ms_p50": round(percentile(firsts, 0.5), 1),
                "first_token_ms_p95": round(percentile(firsts, 0.95), 1),
                "tok_s": round(statistics.fmean(r["tok_s"] for r in results), 1),
                "battle_tok_s": round(statistics.fmean(r["battle_tok_s"] for r in results), 1),
                "battles": len(results),
                "max_new_tokens": arena.SAMPLING["max_new_tokens"],
                "stack": "sqlite+sqlite-broker+files" if args.embedded else "postgres+redis",
            }
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
