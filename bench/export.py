#!/usr/bin/env python
"""Export benchmark: the app's streaming writers against Postgres' own COPY, on 1,000,000 judgments.

    .venv/bin/python bench/export.py                        # 1,000,000 judgments
    .venv/bin/python bench/export.py --judgments 100000     # a quick look

What it does, in order:
1. Database: `DATABASE_URL` when set (it must be Postgres; it is migrated), otherwise the local
   Postgres database `bench_export`, created when missing and migrated. The data of an earlier
   run of the same size is reused (`--refill` rebuilds it).
2. Data, written with COPY ... FROM STDIN (psycopg `cursor.copy`): one pairwise project with
   N/4 prompts and N items of two responses each (a few hundred characters of Markdown with
   quotes, newlines and non-ASCII text), one judgment per item ("a" or "b") from 10 annotators;
   then ANALYZE.
3. Timed, in this process, after one untimed warm-up of the COPY:
   - `copy_s`: Postgres' `COPY (SELECT prompt, chosen, rejected ... ORDER BY item, judgment) TO
     STDOUT` of the same rows in the same order, received and written to a file (the same COPY
     without ORDER BY is timed too and printed for reference: the cheapest Postgres can do);
   - `jsonl_s`, `parquet_s`: `labeling.data.exporters.export` of the preference rows (standard form,
     majority policy) to JSONL and to Parquet, sha256 included, as the app does it.
   `ratio_jsonl` = jsonl_s / copy_s, `ratio_parquet` = parquet_s / copy_s.
4. `peak_rss_mb`: this process's peak resident memory over the whole run (ru_maxrss).

The last line printed is one JSON object with rows, jsonl_s, parquet_s, copy_s, ratio_jsonl,
ratio_parquet and peak_rss_mb. Targets: both ratios <= 2, peak_rss_mb < 300.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _stack import markdown_answer, postgres_database, sentence  # noqa: E402 (bench/ is on sys.path when run as a script)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/bench_export"
SLUG = "bench-export"
CREATED = "2025-01-01 00:00:00+00"
ANNOTATORS = 10

COPY_SQL = """
COPY (
    SELECT p.text,
           CASE WHEN j.choice = 'b' THEN rb.text ELSE ra.text END,
           CASE WHEN j.choice = 'b' THEN ra.text ELSE rb.text END
    FROM labeling_judgment j
    JOIN labeling_item i ON i.id = j.item_id
    JOIN labeling_prompt p ON p.id = i.prompt_id
    JOIN labeling_response ra ON ra.id = i.response_a_id
    JOIN labeling_response rb ON rb.id = i.response_b_id
    WHERE i.project_id = {project} AND j.choice IN ('a', 'b')
    ORDER BY j.item_id, j.id
) TO STDOUT
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--refill", action="store_true", help="rebuild the data even when a run of this size left it")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# --- data --------------------------------------------------------------------------------------


def _copy_text(value: str) -> str:
    """A value in COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_rows(cursor, table: str, columns: str, lines) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= 10_000:
                copy.write("".join(buffer))
                buffer.clear()
        copy.write("".join(buffer))


def fill(n: int, seed: int) -> int:
    """The project with n judgments (reused when a run of this size left it); returns its id."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labeling.models import Judgment, Membership, Project

    project = Project.objects.filter(slug=SLUG).first()
    if project is not None and Judgment.objects.filter(item__project=project).count() == n:
        print(f"reusing {n:,} judgments of project {SLUG}", flush=True)
        return project.pk
    started = time.perf_counter()
    rng = random.Random(seed)
    prompts_pool = [
        _copy_text(f"Question {k}: {sentence(rng, 12)} Explain *why*, with an example?") for k in range(1024)
    ]
    answers_pool = [_copy_text(markdown_answer(rng, str(k), k)) for k in range(4096)]
    n_prompts = max(1, n // 4)
    with transaction.atomic():
        if project is not None:
            with connection.cursor() as cursor:
                items = "SELECT id FROM labeling_item WHERE project_id = %s"
                cursor.execute(f"DELETE FROM labeling_judgment WHERE item_id IN ({items})", [project.pk])
                cursor.execute("DELETE FROM labeling_assignment WHERE project_id = %s", [project.pk])
                cursor.execute("DELETE FROM labeling_item WHERE project_id = %s", [project.pk])
                cursor.execute(
                    "DELETE FROM labeling_response WHERE prompt_id IN "
                    "(SELECT id FROM labeling_prompt WHERE project_id = %s)",
                    [project.pk],
                )
                cursor.execute("DELETE FROM labeling_prompt WHERE project_id = %s", [project.pk])
        else:
            project = Project.objects.create(name="Export benchmark", slug=SLUG, overlap=1)
        users = []
        for k in range(ANNOTATORS):
            user, _ = get_user_model().objects.get_or_create(username=f"bench-export-{k}")
            Membership.objects.get_or_create(project=project, user=user)
            users.append(user.pk)
        with connection.cursor() as cursor:
            raw = cursor.cursor
            ids = {}
            for table in ("labeling_prompt", "labeling_response", "labeling_item", "labeling_judgment"):
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                ids[table] = cursor.fetchone()[0] + 1
            p0, r0, i0, j0 = ids.values()
            pid = project.pk
            _copy_rows(
                raw,
                "labeling_prompt",
                "id, project_id, text, conversation, external_id, metadata, split, content_hash, created_at",
                (
                    f"{p0 + k}\t{pid}\t{prompts_pool[k % 1024]} (#{k})\t\\N\t\t{{}}\ttrain\t\t{CREATED}\n"
                    for k in range(n_prompts)
                ),
            )
            # item k: prompt k % n_prompts, responses 2k and 2k + 1 (of that prompt)
            _copy_rows(
                raw,
                "labeling_response",
                "id, prompt_id, text, source, sampling, created_at",
                (
                    f"{r0 + k}\t{p0 + (k // 2) % n_prompts}\t{answers_pool[k % 4096]} (#{k})\tmodel:bench\t{{}}\t{CREATED}\n"
                    for k in range(2 * n)
                ),
            )
            _copy_rows(
                raw,
                "labeling_item",
                "id, project_id, prompt_id, response_a_id, response_b_id, gold, judgment_count, in_queue, created_at",
                (
                    f"{i0 + k}\t{pid}\t{p0 + k % n_prompts}\t{r0 + 2 * k}\t{r0 + 2 * k + 1}\t\t1\tt\t{CREATED}\n"
                    for k in range(n)
                ),
            )
            choices = "ab"
            _copy_rows(
                raw,
                "labeling_judgment",
                'id, item_id, annotator_id, choice, strength, rationale, "left", ms_taken, client_token, source, created_at',
                (
                    f"{j0 + k}\t{i0 + k}\t{users[k % ANNOTATORS]}\t{choices[(k * 7919) % 3 == 0]}\t\\N\t\ta\t\\N\t"
                    f"bench-{pid}-{k}\thuman\t{CREATED}\n"
                    for k in range(n)
                ),
            )
            for table, next_id in (
                ("labeling_prompt", p0 + n_prompts),
                ("labeling_response", r0 + 2 * n),
                ("labeling_item", i0 + n),
                ("labeling_judgment", j0 + n),
            ):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [next_id])
    with connection.cursor() as cursor:
        for table in ("labeling_prompt", "labeling_response", "labeling_item", "labeling_judgment"):
            cursor.execute(f"ANALYZE {table}")
    print(f"filled {n:,} judgments in {time.perf_counter() - started:.1f} s", flush=True)
    return project.pk


# --- timings -----------------------------------------------------------------------------------


def time_copy(project_id: int, out: Path, *, ordered: bool = True) -> tuple[float, int]:
    from django.db import connection

    sql = COPY_SQL.format(project=int(project_id))
    if not ordered:
        sql = sql.replace("ORDER BY j.item_id, j.id", "")
    started = time.perf_counter()
    lines = 0
    with connection.cursor() as cursor, open(out, "wb") as f:
        with cursor.cursor.copy(sql) as copy:
            for block in copy:
                f.write(block)
                lines += bytes(block).count(b"\n")
    return time.perf_counter() - started, lines


def time_export(project_id: int, file_type: str, out: Path):
    from labeling.data import exporters
    from labeling.models import Project

    project = Project.objects.get(pk=project_id)
    spec = exporters.ExportSpec(format="preference", file_type=file_type, form="standard", policy="majority")
    started = time.perf_counter()
    result = exporters.export(project, spec, out)
    return time.perf_counter() - started, result


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = postgres_database(DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    project_id = fill(args.judgments, args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        time_copy(project_id, work / "warm.tsv")  # untimed: brings the tables into the cache
        copy_s, copy_rows = time_copy(project_id, work / "copy.tsv")
        print(
            f"copy: {copy_rows:,} rows, {(work / 'copy.tsv').stat().st_size / 1e6:.0f} MB in {copy_s:.2f} s", flush=True
        )
        unordered_s, _ = time_copy(project_id, work / "unordered.tsv", ordered=False)
        print(f"copy without ORDER BY (for reference, not the baseline): {unordered_s:.2f} s", flush=True)
        jsonl_s, jsonl = time_export(project_id, "jsonl", work / "export.jsonl")
        print(f"jsonl: {jsonl.rows:,} rows, {jsonl.size_bytes / 1e6:.0f} MB in {jsonl_s:.2f} s", flush=True)
        parquet_s, parquet = time_export(project_id, "parquet", work / "export.parquet")
        print(f"parquet: {parquet.rows:,} rows, {parquet.size_bytes / 1e6:.0f} MB in {parquet_s:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not copy_rows == jsonl.rows == parquet.rows:
        sys.exit(f"row counts differ: copy {copy_rows}, jsonl {jsonl.rows}, parquet {parquet.rows}")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": jsonl.rows,
                "jsonl_s": round(jsonl_s, 2),
                "parquet_s": round(parquet_s, 2),
                "copy_s": round(copy_s, 2),
                "ratio_jsonl": round(jsonl_s / copy_s, 2),
                "ratio_parquet": round(parquet_s / copy_s, 2),
                "peak_rss_mb": round(peak_rss_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
