#!/usr/bin/env python
"""Load benchmark of the annotation loop: gunicorn on Postgres, driven over HTTP.

    .venv/bin/python bench/annotation_load.py            # the three runs, 20 s each
    .venv/bin/python bench/annotation_load.py --duration 5 --items 5000   # a quick look

What it does, in order:
1. Database: `DATABASE_URL` when set (migrated and reused: the run makes its own project and
   users), otherwise the local Postgres database `bench_load`, dropped and created afresh.
2. Data, through the ORM and the services in this process: 200 annotators (one password hash
   shared, so creating them is quick; logging in still runs the real hasher on the server), a
   pairwise project with overlap k = 3 and 50 000 items (bulk_create), then ANALYZE.
3. gunicorn (`gthread`, 3 workers x 2 threads by default: 2 cores shared with Postgres and this
   load generator; a request is mostly Python, so more threads only queue on the GIL, while a
   second thread per worker keeps a request from waiting behind a slow one on the same
   keep-alive connection; 2x4 and 4x1 measured worse p99) with DEBUG off and the project's real
   settings and middleware.
4. One asyncio process with aiohttp drives it, over one pool of keep-alive connections (as a
   reverse proxy in front would hold; each client keeps its own cookies). Every client logs in
   for real (GET /login/ for the CSRF token, POST the credentials) and sends the CSRF token from
   the page on every POST. Before each timed run the tables are ANALYZEd, as autovacuum keeps
   them in a live system (they were empty when the data was loaded).
   - capacity: 50 annotators in a closed loop of next + submit: GET /annotate/<slug>/ with
     HX-Request (the workspace partial), parse the judge form's action, client_token and CSRF
     token, POST the judgment with HX-Request. One POST in 50 is a double click: the same form
     sent twice at once (both must answer 200, one row stored).
   - bare: the same 50 clients (same cookies) in a closed loop on /healthz: the same middleware,
     no database work. `ratio` = loop_req_per_s / bare_req_per_s.
   - open: 200 annotators; actions arrive as one Poisson process of rate 200 / 3 s (each
     annotator acts on average every 3 s) whatever the server's speed, each given to an idle
     annotator. Every annotator has loaded the page (an untimed GET of the partial) before the
     clock starts. An action is what the browser does on a click: POST the judge form with
     HX-Request; the response is the next item, whose form the next action posts. Latency is per
     request, counted from the arrival's scheduled time, so a slow server cannot hide its queue
     (coordinated omission).
5. Checks against the database: `duplicates` = (item, annotator) pairs or client tokens with more
   than one judgment, plus items holding more than k judgments (or a judgment_count that is not
   their number of judgments); `lost` = judgments acknowledged with a 200 (the workspace with no
   "not stored" notice) that are not in the database.

The last line printed is one JSON object. Targets: ratio >= 0.6, open_p99_ms < 50,
duplicates == 0, lost == 0 (the process exits 1 when a correctness check fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _stack import ROOT, markdown_answer, sentence, setup_django  # bench/ is on sys.path when run as a script

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/bench_load"
PASSWORD = "bench-password"

# --- arguments --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    p.add_argument("--warmup", type=float, default=3.0, help="untimed closed-loop seconds before the runs")
    p.add_argument("--clients", type=int, default=50, help="closed-loop annotators (capacity and bare runs)")
    p.add_argument("--open-clients", type=int, default=200, help="annotators in the open-loop run")
    p.add_argument("--think", type=float, default=3.0, help="mean seconds between one annotator's actions (open loop)")
    p.add_argument("--items", type=int, default=50_000)
    p.add_argument("--overlap", type=int, default=3)
    p.add_argument("--double-click", type=float, default=0.02, help="share of capacity POSTs sent twice at once")
    p.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 3)))
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 2)))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeline", action="store_true", help="print the open run's latency second by second")
    p.add_argument(
        "--runs", default="capacity,bare,open", help="which runs, comma-separated (for tuning; the JSON has all keys)"
    )
    return p.parse_args()


# --- database and data (this process, through the ORM) -----------------------------------------


def create_data(args: argparse.Namespace, tag: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from labeling import services
    from labeling.models import Item, Membership, Prompt, Response

    rng = random.Random(args.seed)
    User = get_user_model()
    hashed = make_password(PASSWORD)  # the server checks it with the real hasher at login
    n_users = max(args.clients, args.open_clients)
    names = [f"bench-{tag}-{i:03d}" for i in range(n_users)]
    User.objects.bulk_create([User(username=name, password=hashed) for name in names])
    researcher = User.objects.create(username=f"bench-{tag}-researcher", password=hashed)
    project = services.create_project(
        creator=researcher,
        name=f"Load benchmark {tag}",
        slug=f"bench-{tag}",
        kind="pairwise",
        overlap=args.overlap,
        guidelines="Pick the **more helpful** answer.",
    )
    users = list(User.objects.filter(username__in=names).order_by("username"))
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Membership.Role.ANNOTATOR) for u in users])

    prompts = Prompt.objects.bulk_create(
        [Prompt(project=project, text=f"Question {i}: " + sentence(rng, 20)) for i in range(args.items)],
        batch_size=5000,
    )
    responses = Response.objects.bulk_create(
        [
            Response(prompt=p, text=markdown_answer(rng, f"{side}{i}", i), source=f"model:bench-{side}")
            for i, p in enumerate(prompts)
            for side in "ab"
        ],
        batch_size=5000,
    )
    Item.objects.bulk_create(
        [
            Item(project=project, prompt=p, response_a=responses[2 * i], response_b=responses[2 * i + 1])
            for i, p in enumerate(prompts)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "slug": project.slug,
        "project_id": project.pk,
        "usernames": names,
        "user_ids": {u.username: u.pk for u in users},
    }


# --- gunicorn ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, database_url: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=database_url, DEBUG="false", PYTHONUNBUFFERED="1")
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "webapp.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--backlog",
        "2048",
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    sys.exit("gunicorn did not answer /healthz within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the load generator ------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_ACTION = re.compile(r'<form id="judge-form" method="post" action="([^"]+)"')
_TOKEN = re.compile(r'name="client_token" value="([^"]+)"')
_CHOICE = re.compile(r'name="choice" value="([ab])"')


class BenchError(Exception):
    pass


@dataclass
class Stats:
    requests: int = 0  # completed inside the timed window
    votes: int = 0  # new judgments acknowledged inside the timed window
    latencies_ms: list[float] = field(default_factory=list)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, latency ms)
    errors: Counter = field(default_factory=Counter)
    refused: int = 0  # "not stored" notices (late submit on a full item): not acknowledgements


@dataclass
class Form:
    action: str
    client_token: str
    csrf: str
    choices: list[str]


class Annotator:
    """One browser: its own cookies, the judge form it was last shown."""

    def __init__(self, http, base: str, username: str, slug: str):
        self.http, self.base, self.username, self.slug = http, base, username, slug
        self.cookies: dict[str, str] = {}
        self.form: Form | None = None

    async def _send(self, method: str, path: str, data: dict | None = None, htmx: bool = False) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        async with self.http.request(method, self.base + path, data=data, headers=headers, allow_redirects=False) as r:
            body = await r.text()
            for name, morsel in r.cookies.items():
                self.cookies[name] = morsel.value
            return r.status, body

    async def login(self) -> None:
        status, body = await self._send("GET", "/login/")
        match = _CSRF.search(body)
        if status != 200 or not match:
            raise BenchError(f"GET /login/ gave {status}")
        data = {"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": match.group(1), "next": ""}
        status, _ = await self._send("POST", "/login/", data)
        if status != 302 or "sessionid" not in self.cookies:
            raise BenchError(f"login of {self.username} gave {status}")

    def _read_workspace(self, body: str) -> None:
        action, token, csrf = _ACTION.search(body), _TOKEN.search(body), _CSRF.search(body)
        if not (action and token and csrf):
            self.form = None
            raise BenchError("ran out of items" if 'data-testid="done"' in body else "no judge form in the workspace")
        self.form = Form(action.group(1), token.group(1), csrf.group(1), _CHOICE.findall(body) or ["a", "b"])

    async def next(self) -> None:
        status, body = await self._send("GET", f"/annotate/{self.slug}/", htmx=True)
        if status != 200:
            raise BenchError(f"GET next gave {status}")
        self._read_workspace(body)

    async def submit(self, acks: list, double: bool = False) -> int:
        """POST the current form: 1 when a new judgment was acknowledged, -1 when the server said
        it was not stored (a late submit on an item that filled up meanwhile)."""
        form = self.form
        assert form is not None
        data = {
            "csrfmiddlewaretoken": form.csrf,
            "client_token": form.client_token,
            "choice": random.choice(form.choices),
            "ms": str(random.randint(800, 9000)),
        }
        sends = [self._send("POST", form.action, data, htmx=True)]
        if double:
            sends.append(self._send("POST", form.action, data, htmx=True))
        answers = await asyncio.gather(*sends)
        for status, _ in answers:
            if status != 200:
                raise BenchError(f"POST judge gave {status}")
        status, body = answers[0]
        if 'class="notice"' in body:
            self.form = None
            return -1
        acks.append((self.username, form.client_token))
        self._read_workspace(body)
        return 1


async def _timed(stats: Stats, deadline: float, start: float, coro) -> object:
    result = await coro
    end = time.perf_counter()
    if end <= deadline:
        stats.requests += 1
        stats.latencies_ms.append((end - start) * 1000)
    return result


async def closed_loop(
    annotators: list[Annotator], duration: float, bare: bool, acks: list, double_click: float
) -> Stats:
    stats = Stats()
    deadline = time.perf_counter() + duration

    async def run(a: Annotator) -> None:
        while time.perf_counter() < deadline:
            try:
                if bare:
                    t0 = time.perf_counter()
                    status, _ = await _timed(stats, deadline, t0, a._send("GET", "/healthz"))
                    if status != 200:
                        stats.errors[f"healthz {status}"] += 1
                    continue
                t0 = time.perf_counter()
                await _timed(stats, deadline, t0, a.next())
                double = random.random() < double_click
                t0 = time.perf_counter()
                got = await a.submit(acks, double)
                end = time.perf_counter()
                if end <= deadline:
                    stats.requests += 2 if double else 1
                    stats.latencies_ms.append((end - t0) * 1000)
                    if got == 1:
                        stats.votes += 1
                    elif got == -1:
                        stats.refused += 1
            except BenchError as exc:
                stats.errors[str(exc)] += 1
            except Exception as exc:  # connection errors: count and go on
                stats.errors[type(exc).__name__] += 1

    await asyncio.gather(*(run(a) for a in annotators))
    return stats


async def open_loop(annotators: list[Annotator], duration: float, think: float, acks: list, seed: int) -> Stats:
    stats = Stats()
    rng = random.Random(seed)
    rate = len(annotators) / think  # actions per second, all annotators together
    start = time.perf_counter()
    deadline = start + duration
    idle = asyncio.Queue()
    for a in rng.sample(annotators, len(annotators)):
        idle.put_nowait(a)
    tasks = set()

    async def act(scheduled: float) -> None:
        a = await idle.get()  # waits only when all are busy: that wait counts as latency
        try:
            if a.form is None:
                await a.next()
                end = time.perf_counter()
                stats.latencies_ms.append((end - scheduled) * 1000)
                stats.requests += 1
                scheduled = end
            got = await a.submit(acks)
            end = time.perf_counter()
            stats.latencies_ms.append((end - scheduled) * 1000)
            stats.timeline.append((scheduled - start, (end - scheduled) * 1000))
            stats.requests += 1
            stats.votes += got == 1
            stats.refused += got == -1
        except BenchError as exc:
            stats.errors[str(exc)] += 1
        except Exception as exc:
            stats.errors[type(exc).__name__] += 1
        finally:
            idle.put_nowait(a)

    t = start + rng.expovariate(rate)
    while t < deadline:
        delay = t - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(act(t))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        t += rng.expovariate(rate)
    if tasks:
        await asyncio.gather(*tasks)
    return stats


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def analyze(database_url: str) -> None:
    """Planner statistics as a live system has them (autovacuum's ANALYZE): leases and judgments
    exist by now, and the tables were empty when the data was loaded."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE labeling_assignment, labeling_judgment, labeling_item")


async def drive(args: argparse.Namespace, base: str, data: dict, database_url: str) -> dict:
    import aiohttp

    acks: list[tuple[str, str]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as http:
        everyone = [Annotator(http, base, name, data["slug"]) for name in data["usernames"]]
        sem = asyncio.Semaphore(args.workers * 2)

        async def login(a: Annotator) -> None:
            async with sem:
                await a.login()

        t0 = time.perf_counter()
        await asyncio.gather(*(login(a) for a in everyone))
        print(f"logged in {len(everyone)} annotators in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        runs = set(args.runs.split(","))
        loop_clients = everyone[: args.clients]
        capacity = bare = opened = Stats()
        if "capacity" in runs:
            if args.warmup > 0:
                await closed_loop(loop_clients, args.warmup, False, acks, 0.0)
            analyze(database_url)
            capacity = await closed_loop(loop_clients, args.duration, False, acks, args.double_click)
        if "bare" in runs:
            bare = await closed_loop(loop_clients, args.duration, True, acks, 0.0)
        if "open" in runs:
            # Every annotator has the page open before the clock starts (a GET each, untimed), so
            # the run measures their clicks; the first load is not what an annotator waits on.
            async def load(a: Annotator) -> None:
                async with sem:
                    if a.form is None:
                        await a.next()

            await asyncio.gather(*(load(a) for a in everyone[: args.open_clients]))
            analyze(database_url)
            opened = await open_loop(everyone[: args.open_clients], args.duration, args.think, acks, args.seed)

    if args.timeline:
        for second in range(int(args.duration)):
            lat = [ms for t, ms in opened.timeline if second <= t < second + 1]
            print(
                f"  open t={second:2d}s: {len(lat):3d} votes, p50 {_ms(percentile(lat, 50))} ms, "
                f"max {_ms(max(lat, default=0))} ms",
                file=sys.stderr,
            )
    for name, stats in (("capacity", capacity), ("bare", bare), ("open", opened)):
        if name not in runs:
            continue
        print(
            f"{name:>8}: {stats.requests} requests, {stats.votes} votes, p50 {_ms(percentile(stats.latencies_ms, 50))} ms, "
            f"p99 {_ms(percentile(stats.latencies_ms, 99))} ms, max {max(stats.latencies_ms, default=0):.1f} ms, "
            f"refused {stats.refused}, errors {dict(stats.errors)}",
            file=sys.stderr,
        )
    loop_rps = capacity.requests / args.duration
    bare_rps = bare.requests / args.duration
    return {
        "acks": acks,
        "result": {
            "votes_per_s": round(capacity.votes / args.duration, 1),
            "loop_req_per_s": round(loop_rps, 1),
            "bare_req_per_s": round(bare_rps, 1),
            "ratio": round(loop_rps / bare_rps, 3) if bare_rps else 0.0,
            "open_p50_ms": _ms(percentile(opened.latencies_ms, 50)),
            "open_p99_ms": _ms(percentile(opened.latencies_ms, 99)),
            "open_req_per_s": round(opened.requests / args.duration, 1),
            "open_votes": opened.votes,
            "errors": sum(s.errors.total() for s in (capacity, bare, opened)),
            "refused": capacity.refused + opened.refused,
        },
    }


# --- correctness checks ------------------------------------------------------------------------


def check(data: dict, acks: list[tuple[str, str]], overlap: int) -> dict:
    from django.db.models import Count, F

    from labeling.models import Item, Judgment

    judgments = Judgment.objects.filter(item__project_id=data["project_id"])
    per_pair = judgments.values("item_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1).count()
    per_token = Judgment.objects.values("client_token").annotate(n=Count("id")).filter(n__gt=1).count()
    items = Item.objects.filter(project_id=data["project_id"]).annotate(n=Count("judgments"))
    over_k = items.filter(n__gt=overlap).count() + items.filter(judgment_count__gt=overlap).count()
    mismatched = items.exclude(judgment_count=F("n")).count()
    stored = set(judgments.values_list("annotator_id", "client_token"))
    lost = sum((data["user_ids"][name], token) not in stored for name, token in acks)
    return {
        "duplicates": per_pair + per_token + over_k + mismatched,
        "lost": lost,
        "judgments": judgments.count(),
        "acknowledged": len(acks),
    }


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    random.seed(args.seed)
    fresh = not os.environ.get("DATABASE_URL")  # our own database, made anew
    t0 = time.perf_counter()
    database_url = setup_django(DEFAULT_DATABASE_URL, fresh=fresh, DEBUG="false")
    from django.db import connection

    tag = time.strftime("%Y%m%d%H%M%S")
    data = create_data(args, tag)
    connection.close()
    print(
        f"database {'bench_load (fresh)' if fresh else 'from DATABASE_URL'}: {args.items} items, "
        f"k={args.overlap}, ready in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )

    port = free_port()
    server = start_server(args, database_url, port)
    try:
        try:
            import uvloop  # optional: a lighter load generator when it is installed

            uvloop.install()
        except ImportError:
            pass
        outcome = asyncio.run(drive(args, f"http://127.0.0.1:{port}", data, database_url))
    finally:
        stop_server(server)
    result = outcome["result"]
    result.update(check(data, outcome["acks"], args.overlap))
    result.update(workers=args.workers, threads=args.threads, items=args.items, duration_s=args.duration)
    ok = result["duplicates"] == 0 and result["lost"] == 0
    result["targets_met"] = (
        ok and result["errors"] == 0 and result["ratio"] >= 0.6 and (result["open_p99_ms"] or float("inf")) < 50
    )
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
