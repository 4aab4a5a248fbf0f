#!/usr/bin/env python
"""Metric logging benchmark: 20,000 metric points logged to one running job through the real
lifecycle service (training.jobs.record_progress, as a worker's progress callback calls it), on Postgres.

    .venv/bin/python bench/metrics_log.py                  # 20,000 points, one per step
    .venv/bin/python bench/metrics_log.py --points 5000    # a quick look

Each call reports one step with its metrics (--per-step of them, default 1), exactly what a trainer's
logging step sends. Metrics are rows appended to their own table, so a call costs the same at
step 20,000 as at step 1; the JSON list they replaced was rewritten whole on every call (quadratic).

Stack: DATABASE_URL when set (Postgres, migrated), otherwise the local database `bench_metrics`
(created anew, migrated). Nothing is sent to a broker: the job row is created directly, then
claimed and fed through the service. The last line printed is one JSON object:
{"points", "first_1k_ms", "last_1k_ms", "ratio"} (ratio = last_1k_ms / first_1k_ms, target <= 1.5),
plus fresh_1k_ms and paired_ratio (= last_1k_ms / fresh_1k_ms: the last thousand points, each call
paired with one to a fresh job with no rows, so that a machine busier at the end than at the start
does not pass for growth), calls, per_step and total_s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _stack import postgres_database  # noqa: E402 (bench/ is on sys.path when run as a script)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/bench_metrics"
WINDOW = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000, help="metric points to log in all")
    parser.add_argument("--per-step", type=int, default=1, help="metrics logged at each step (one call)")
    args = parser.parse_args()
    if args.points < 2 * WINDOW or args.per_step < 1 or args.points % args.per_step:
        sys.exit(f"--points must be at least {2 * WINDOW} and a multiple of --per-step")

    os.environ["DATABASE_URL"] = postgres_database(DEFAULT_DATABASE_URL, fresh=True)
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-metrics-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from labeling.models import Project
    from training import jobs
    from training.models import Job, JobMetric

    project, _ = Project.objects.get_or_create(slug="bench-metrics", defaults={"name": "Bench metrics"})
    steps = args.points // args.per_step
    job = Job.objects.create(kind=Job.Kind.NOOP, project=project, total=steps)
    assert jobs.claim(job.pk, "bench@metrics") is not None
    names = ["loss", "rewards/margins", "rewards/accuracies", "learning_rate", "grad_norm", "entropy"]
    names += [f"metric_{i}" for i in range(max(0, args.per_step - len(names)))]

    durations: list[float] = []  # seconds per point, one entry per call
    # Control for a noisy machine: during the last WINDOW calls, each call is paired with one to a
    # fresh job (no metric rows yet); last_1k / fresh_1k shows growth with the load factored out.
    fresh = Job.objects.create(kind=Job.Kind.NOOP, project=project, total=steps)
    jobs.claim(fresh.pk, "bench@metrics")
    fresh_s = 0.0
    started = time.perf_counter()
    for step in range(1, steps + 1):
        metrics = {names[i]: math.sin(step / 100 + i) for i in range(args.per_step)}
        t0 = time.perf_counter()
        cancel = jobs.record_progress(
            job.pk, step=step, total=steps, metrics=[{"step": step, **metrics}], log_lines=[f"step {step}/{steps}"]
        )
        durations.extend([(time.perf_counter() - t0) / args.per_step] * args.per_step)
        if cancel:
            sys.exit("the job was cancelled under the benchmark")
        if step > steps - WINDOW // args.per_step:
            t0 = time.perf_counter()
            jobs.record_progress(
                fresh.pk,
                step=step - steps + WINDOW,
                total=steps,
                metrics=[{"step": step - steps + WINDOW, **metrics}],
                log_lines=[f"step {step}"],
            )
            fresh_s += time.perf_counter() - t0
        if step % max(1, steps // 10) == 0:
            print(f"  {step * args.per_step} points, last call {1000 * (time.perf_counter() - t0):.2f} ms", flush=True)
    total = time.perf_counter() - started
    assert JobMetric.objects.filter(job=job).count() == args.points
    fresh_ms = 1000 * fresh_s  # the same number of points as the last window
    first = 1000 * sum(durations[:WINDOW])
    last = 1000 * sum(durations[-WINDOW:])
    jobs.finish(job.pk, Job.Status.SUCCEEDED)
    jobs.finish(fresh.pk, Job.Status.SUCCEEDED)
    print(
        json.dumps(
            {
                "points": args.points,
                "first_1k_ms": round(first, 1),
                "last_1k_ms": round(last, 1),
                "ratio": round(last / first, 3),
                "fresh_1k_ms": round(fresh_ms, 1),
                "paired_ratio": round(last / fresh_ms, 3),
                "calls": steps,
                "per_step": args.per_step,
                "total_s": round(total, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
