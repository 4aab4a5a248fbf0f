#!/usr/bin/env python
"""Training overhead benchmark: one DPO run through the app (queued, warm Celery worker, registered)
against the same run as a bare TRL script, on the same model, data and config.

    .venv/bin/python bench/training_overhead.py                 # one run each way, 20 steps (~40 s each)
    .venv/bin/python bench/training_overhead.py --repeats 3     # three each, interleaved; medians
    .venv/bin/python bench/training_overhead.py --steps 4       # a quick look (runs well under 30 s)

This machine is a 2-vCPU VM that other sessions share: a run that overlaps someone else's work, or
a noisy host, can be 20-30 % slower whichever path it is. So the worker starts before anything is
timed, every timed run first waits (up to --quiet-wait s) for the machine to go idle, each run
reports the CPU the rest of the machine used meanwhile (`others_cpu_s_*`), and --repeats N
alternates the order (bare, app, app, bare, ...) and reports medians. Use --repeats 3 for a verdict.

What it does, in order:
1. Stack: `DATABASE_URL` when set (Postgres, migrated), otherwise the local Postgres database
   `bench_training` (created when missing, migrated); `REDIS_URL` when set, otherwise
   redis://127.0.0.1:6379/5. A temporary VAR_DIR (snapshots, job outputs, the worker's log) and
   Celery queues named for this run, so nothing collides with other runs or tests on the machine.
2. Data and model: the first `--rows` valid pairs of Anthropic HH-RLHF helpful-base (test split),
   read from ../shared/data/ (never copied into the repo): prompt = the transcript both sides
   share up to and including the last "\\n\\nAssistant:", chosen / rejected = the two last
   Assistant turns (standard text form). A random Qwen2 causal LM (default 4 layers x 256 wide,
   8192-token vocabulary, about 6M parameters) with a byte-level BPE trained locally on those
   texts, saved to a directory: nothing comes from the hub (HF_HUB_OFFLINE=1). The rows are stored
   as a preference `DatasetSnapshot` (its JSONL file written at `snapshot.path`) and the model is
   registered with `register_model`.
3. Config: `training.algorithms.validate("dpo", overrides)` (max_steps, batch size, max_length,
   learning rate, seed, use_lora=False; TRL's defaults for the rest) gives the job's config; the
   bare run gets the same values, minus our LoRA fields, plus the device settings the app uses.
4. Bare: a fresh Python process running plain `trl.DPOTrainer` / `trl.DPOConfig` code (inline
   below, not training.ml), timed from just after its imports to after `trainer.save_model`: the
   app's worker has imported torch/TRL before the job arrives, so imports are left out of both.
5. App: a real worker (`celery -A webapp worker -Q <queue> --pool solo`), ready once it answers
   `workers.tasks.ping` on the training queue (it preloads torch/TRL at start), then
   `launch_job(algorithm="dpo", ...)`; the job row is polled until it is finished.
   `app_s` = finished_at - queued_at, `queue_to_first_step_s` = first_step_at - queued_at.
6. Both runs use the same seed, so they train on the same batches: their final train loss and
   token counts must agree (printed; a mismatch is reported as a warning).

The last line printed is one JSON object with bare_s, app_s, ratio (= app_s / bare_s) and
queue_to_first_step_s, plus steps, params_m, tokens (trained, per run) and tokens/s of both paths
(end to end), phases (to the first step, first step to end, queue to claim), the CPU seconds of
the training process of each path (`cpu_s_*`) and of everything else on the machine meanwhile
(`others_cpu_s_*`; for the app that includes Postgres, Redis and this process's polling).
Targets: ratio <= 1.10, queue_to_first_step_s < 10.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _stack import Worker, bench_environment, postgres_database  # noqa: E402 (bench/ is on sys.path when run as a script)
from tests.shared_data import script_shared_file  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/bench_training"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
HH_NAME = "hh_rlhf_helpful_base_test.jsonl.gz"  # from ../shared/data (tests/shared_data.py)
ASSISTANT = "\n\nAssistant:"
PROJECT_SLUG = "bench-training"
MODEL_NAME = "bench-dpo-policy"
OUR_FIELDS = (
    "use_lora",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
)  # training.ml.common.LOCAL_FIELDS, less the model path

# The bare run: plain TRL, as someone would write it without this app. argv[1] is a JSON file with
# the model directory, the rows, the output directory and the DPOConfig keyword arguments. Its
# stdout carries one line, the JSON result: whatever TRL prints meanwhile is sent to stderr.
BARE_SCRIPT = r"""
import json, sys, time
result_out, sys.stdout = sys.stdout, sys.stderr
import torch
from datasets import Dataset
from transformers import AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer

spec = json.loads(open(sys.argv[1]).read())
t0, c0 = time.perf_counter(), time.process_time()
marks = {}

class FirstStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            marks["first_step_s"] = time.perf_counter() - t0

with open(spec["rows"]) as f:
    rows = [json.loads(line) for line in f if line.strip()]
tokenizer = AutoTokenizer.from_pretrained(spec["model"])
cuda = torch.cuda.is_available()
args = DPOConfig(
    output_dir=spec["output_dir"],
    bf16=cuda and torch.cuda.is_bf16_supported(),
    activation_checkpointing=cuda,
    use_cpu=not cuda,
    report_to="none",
    disable_tqdm=True,
    dataloader_num_workers=0,
    **spec["trl_kwargs"],
)
trainer = DPOTrainer(
    model=spec["model"], args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
    callbacks=[FirstStep()],
)
marks["init_s"] = time.perf_counter() - t0
output = trainer.train()
marks["train_end_s"] = time.perf_counter() - t0
trainer.save_model(spec["output_dir"] + "/final")
total = time.perf_counter() - t0
metrics = {}
for logged in trainer.state.log_history:
    metrics.update({k: v for k, v in logged.items() if isinstance(v, (int, float))})
metrics.update(output.metrics)
marks["cpu_s"] = time.process_time() - c0
print(json.dumps({"seconds": total, "steps": trainer.state.global_step, "metrics": metrics, **marks}), file=result_out)
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256, help="preference pairs taken from HH-RLHF")
    parser.add_argument("--steps", type=int, default=20, help="DPO max_steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hidden", type=int, default=256, help="Qwen2 hidden size (heads of 64)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=8192, help="BPE vocabulary trained on the rows")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run both paths this many times (alternating which goes first); medians are reported",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="before each timed run, wait up to this many seconds for other work on the machine to stop",
    )
    parser.add_argument("--worker-timeout", type=float, default=300, help="seconds to wait for the worker to be ready")
    parser.add_argument("--keep", action="store_true", help="keep the temporary VAR_DIR (model, outputs, worker log)")
    return parser.parse_args()


# --- stack ---------------------------------------------------------------------------------------


def configure_environment(var_dir: Path) -> dict[str, str]:
    """Environment of this process, the bare run and the worker: same stack, this run's queues."""
    return bench_environment(
        var_dir,
        "bench-train",
        database_url=postgres_database(DEFAULT_DATABASE_URL),
        redis_url=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
    )


# --- data and model ------------------------------------------------------------------------------


def hh_pairs(n: int) -> list[dict[str, str]]:
    """The first n usable HH pairs: prompt = the shared transcript up to the last Assistant turn."""
    rows: list[dict[str, str]] = []
    with gzip.open(script_shared_file(HH_NAME), "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            chosen, rejected = record["chosen"], record["rejected"]
            cut = chosen.rfind(ASSISTANT)
            if cut < 0:
                continue
            prompt = chosen[: cut + len(ASSISTANT)]
            a, b = chosen[len(prompt) :], rejected[len(prompt) :]
            if not rejected.startswith(prompt) or ASSISTANT in b or not a.strip() or not b.strip() or a == b:
                continue  # the conversations differ before the last answer, or an answer is empty
            rows.append({"prompt": prompt, "chosen": a, "rejected": b})
            if len(rows) == n:
                break
    return rows


def build_model(out_dir: Path, rows: list[dict[str, str]], args: argparse.Namespace) -> float:
    """A random Qwen2 causal LM with a tokenizer trained on the rows, as training.ml.tiny builds
    its tiny one but wider and deeper; returns its parameter count in millions."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from training.ml.tiny import build_tokenizer

    tokenizer = build_tokenizer((row[k] for row in rows for k in ("prompt", "chosen", "rejected")), args.vocab)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.hidden // 64),
        num_key_value_heads=max(1, args.hidden // 128),
        max_position_embeddings=max(1024, args.max_length),
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(args.seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return sum(p.numel() for p in model.parameters()) / 1e6


def store_snapshot(rows: list[dict[str, str]]):
    """The rows as a preference snapshot, its file written where the worker reads it (as the tests do).

    All rows are training rows: the spec says split "train" with no test_size, so launch_job
    freezes no held-out side and the worker runs no evaluation after training; the bare script
    has none to match.
    """
    from labeling.models import DatasetSnapshot, Project

    project, _ = Project.objects.get_or_create(slug=PROJECT_SLUG, defaults={"name": "Training overhead benchmark"})
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
    spec = {"format": "preference", "form": "standard", "split": "train", "test_size": 0, "source": HH_NAME}
    snapshot = DatasetSnapshot(
        project=project,
        format="preference",
        file_type="jsonl",
        spec=spec,
        sha256=hashlib.sha256(data).hexdigest(),
        rows=len(rows),
        size_bytes=len(data),
    )
    snapshot.path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.path.write_bytes(data)
    snapshot.save()
    return snapshot


# --- the two runs --------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def children_cpu_s() -> float:
    """CPU seconds used by this process's waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process `pid` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_for_quiet(max_wait_s: float, window_s: float = 3.0, busy_below: float = 0.15) -> float:
    """Wait (at most `max_wait_s`) until the machine has been nearly idle for `window_s`: other jobs on
    a 2-core machine would skew whichever path they overlap. Returns the busy fraction last seen."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + max_wait_s
    while True:
        before = busy_cpu_s()
        time.sleep(window_s)
        busy = (busy_cpu_s() - before) / (window_s * cores)
        if busy < busy_below:
            return busy
        if time.monotonic() > deadline:
            print(
                f"  (the machine is still {busy:.0%} busy with other work after {max_wait_s:.0f} s; timing anyway)",
                flush=True,
            )
            return busy


def run_bare(work: Path, run: int, model_dir: Path, rows_path: Path, config: dict, env: dict[str, str]) -> dict:
    spec = {
        "model": str(model_dir),
        "rows": str(rows_path),
        "output_dir": str(work / f"bare-out-{run}"),
        "trl_kwargs": {k: v for k, v in config.items() if k not in OUR_FIELDS},
    }
    spec_path = work / "bare-spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / f"bare-{run}.log"
    busy, children = busy_cpu_s(), children_cpu_s()
    with open(log_path, "w") as log:
        done = subprocess.run(
            [sys.executable, "-c", BARE_SCRIPT, str(spec_path)],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=3600,
        )
    if done.returncode != 0:
        sys.exit(f"bare run failed ({done.returncode}):\n{log_path.read_text()[-5000:]}")
    result = json.loads(done.stdout)
    # CPU the rest of the machine used meanwhile (the bare process's imports are its own, not others')
    result["others_cpu_s"] = busy_cpu_s() - busy - (children_cpu_s() - children)
    shutil.rmtree(spec["output_dir"], ignore_errors=True)
    return result


def wait_for_job(job, worker: Worker, timeout: float, *, show_steps: bool = False):
    """Poll the job's row until it is finished; exit with the worker's log if the worker dies, the
    timeout passes or the job does not succeed."""
    from training.models import Job

    deadline = time.monotonic() + timeout
    shown = 0
    while True:
        time.sleep(0.5)
        job.refresh_from_db()
        if show_steps and job.step > shown:
            shown = job.step
            print(f"  app: step {job.step}/{job.max_steps}", flush=True)
        if job.is_finished:
            break
        worker.alive()
        if time.monotonic() > deadline:
            sys.exit(f"job {job.pk} did not finish within {timeout:.0f} s:\n{worker.output()}")
    if job.status != Job.Status.SUCCEEDED:
        sys.exit(f"job {job.pk} ended {job.status}:\n{job.error}\n{worker.output()}")
    return job


def run_app(model, snapshot, overrides: dict, worker: Worker, timeout: float) -> dict:
    """Queue the job, poll its row until it is finished; seconds from the job's own timestamps."""
    from training.models import ModelVersion
    from training.services import launch_job

    busy, worker_cpu, own_cpu = busy_cpu_s(), process_cpu_s(worker.process.pid), time.process_time()
    job = wait_for_job(
        launch_job(algorithm="dpo", base_model=model, snapshot=snapshot, overrides=overrides),
        worker,
        timeout,
        show_steps=True,
    )
    cpu_s = process_cpu_s(worker.process.pid) - worker_cpu
    # the rest of the machine: this process's polling, Postgres, Redis, and anything else running
    others_cpu_s = busy_cpu_s() - busy - cpu_s
    output = ModelVersion.objects.get(produced_by=job)
    seconds = (job.finished_at - job.queued_at).total_seconds()
    return {
        "job": job.pk,
        "output_model": output.name,
        "steps": job.step,
        "metrics": output.evaluation.get("train", {}),
        "seconds": seconds,
        "claim_s": (job.started_at - job.queued_at).total_seconds(),
        "first_step_s": (job.first_step_at - job.queued_at).total_seconds(),
        "cpu_s": cpu_s,
        "poll_cpu_s": time.process_time() - own_cpu,
        "others_cpu_s": others_cpu_s,
    }


def start(prefix: str) -> tuple[Path, dict[str, str]]:
    """A work folder, this run's environment (configure_environment) and Django, set up and migrated."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = configure_environment(work / "var")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return work, env


def cleanup_redis(env: dict[str, str]) -> None:
    """Forget this run's queues in Redis: kombu keeps their bindings after the worker is gone."""
    try:
        import redis

        client = redis.Redis.from_url(env["REDIS_URL"])
        queues = [q.encode() for q in (env["TRAINING_QUEUE"], env["CELERY_DEFAULT_QUEUE"])]
        for key in list(client.scan_iter("_kombu.binding*")):
            if any(q in key for q in queues):
                client.delete(key)
                continue
            kind = client.type(key)
            members = client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1) if kind == b"zset" else []
            for member in members:
                if any(q in member for q in queues):
                    (client.srem if kind == b"set" else client.zrem)(key, member)
        client.delete(*queues)
    except Exception as exc:  # tidying up only
        print(f"(could not clean this run's queues out of Redis: {exc})", file=sys.stderr)


# --- main ----------------------------------------------------------------------------------------


def same_work(bare: dict, app: dict) -> bool:
    """Same steps, same tokens, same final loss: the two paths trained on the same batches."""
    b, a = bare["metrics"], app["metrics"]
    loss_b, loss_a = b.get("train_loss"), a.get("train_loss")
    return (
        bare["steps"] == app["steps"]
        and b.get("num_tokens") == a.get("num_tokens")
        and loss_b is not None
        and loss_a is not None
        and abs(loss_b - loss_a) <= 1e-4 * max(1.0, abs(loss_b))
    )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    args = parse_args()
    work, env = start("bench-training-")
    from training import algorithms
    from training.services import register_model

    worker = None
    bares: list[dict] = []
    apps: list[dict] = []
    try:
        rows = hh_pairs(args.rows)
        model_dir = work / "var" / "models" / MODEL_NAME  # VAR_DIR/models: always a model root
        params_m = build_model(model_dir, rows, args)
        snapshot = store_snapshot(rows)
        model = register_model(
            project=snapshot.project,
            name=f"{MODEL_NAME}-{work.name.rsplit('-', 1)[-1]}",
            base=str(model_dir),
            kind="policy",
        )  # a name of its own: the database is kept
        overrides = {
            "max_steps": args.steps,
            "per_device_train_batch_size": args.batch_size,
            "max_length": args.max_length,
            "learning_rate": args.learning_rate,
            "seed": args.seed,
            "use_lora": False,
        }
        config = algorithms.validate("dpo", overrides)  # exactly what launch_job stores on the job
        print(f"data: {len(rows)} HH-RLHF pairs ({snapshot.size_bytes / 1e3:.0f} kB), snapshot {snapshot.sha256[:12]}")
        print(
            f"model: random Qwen2, {args.layers} layers x {args.hidden}, vocab {args.vocab}, {params_m:.1f}M parameters"
        )
        print(f"config: {json.dumps(config, sort_keys=True)}", flush=True)

        # The worker starts (and preloads torch/TRL) before anything is timed; idle, it uses no CPU.
        worker = Worker(env, work / "worker.log")
        ready_s = worker.wait_ready(env["TRAINING_QUEUE"], args.worker_timeout)
        print(f"worker ready (torch/TRL preloaded) in {ready_s:.1f} s", flush=True)
        for run in range(args.repeats):
            # alternate the order, so that neither path always runs first
            for path in ("bare", "app") if run % 2 == 0 else ("app", "bare"):
                wait_for_quiet(args.quiet_wait)
                if path == "bare":
                    bare = run_bare(work, run, model_dir, snapshot.path, config, env)
                    bares.append(bare)
                    print(
                        f"bare: {bare['seconds']:.1f} s: trainer ready at {bare['init_s']:.1f} s, first step at "
                        f"{bare['first_step_s']:.1f} s, training done at {bare['train_end_s']:.1f} s; "
                        f"{bare['cpu_s']:.1f} CPU s (others {bare['others_cpu_s']:.1f})",
                        flush=True,
                    )
                else:
                    app = run_app(model, snapshot, overrides, worker, timeout=max(600.0, 40.0 * args.steps))
                    apps.append(app)
                    print(
                        f"app: {app['seconds']:.1f} s: job {app['job']} claimed at {app['claim_s']:.2f} s, first "
                        f"step at {app['first_step_s']:.1f} s, output model {app['output_model']}; worker "
                        f"{app['cpu_s']:.1f} CPU s (others {app['others_cpu_s']:.1f}, of which polling "
                        f"{app['poll_cpu_s']:.1f})",
                        flush=True,
                    )
    finally:
        if worker is not None:
            worker.stop()
        cleanup_redis(env)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for bare, app in zip(bares, apps, strict=True):
        b, a = bare["metrics"], app["metrics"]
        print(
            f"same run? steps {bare['steps']} / {app['steps']}, tokens {b.get('num_tokens')} / "
            f"{a.get('num_tokens')}, train_loss {b.get('train_loss')} / {a.get('train_loss')}"
        )
        if not same_work(bare, app):
            print("WARNING: the two paths did not train on the same batches; the ratio compares different work")
    bare_s, app_s = median([b["seconds"] for b in bares]), median([a["seconds"] for a in apps])
    tokens = apps[0]["metrics"].get("num_tokens")
    # phases: until the first step ends (bare: loads, dataset prep, trainer, step 1; app: the same
    # plus queueing, claim and the snapshot read), then the remaining steps, checkpoint and save
    # (app: plus registering the output model)
    breakdown = {
        "bare_to_first_step_s": median([b["first_step_s"] for b in bares]),
        "bare_first_step_to_end_s": median([b["seconds"] - b["first_step_s"] for b in bares]),
        "app_queue_to_claim_s": median([a["claim_s"] for a in apps]),
        "app_first_step_to_end_s": median([a["seconds"] - a["first_step_s"] for a in apps]),
        "cpu_s_bare": median([b["cpu_s"] for b in bares]),
        "cpu_s_app": median([a["cpu_s"] for a in apps]),
        "others_cpu_s_bare": median([b["others_cpu_s"] for b in bares]),
        "others_cpu_s_app": median([a["others_cpu_s"] for a in apps]),
    }
    result = {
        "bare_s": round(bare_s, 2),
        "app_s": round(app_s, 2),
        "ratio": round(app_s / bare_s, 3),
        "queue_to_first_step_s": round(median([a["first_step_s"] for a in apps]), 2),
        "steps": apps[0]["steps"],
        "params_m": round(params_m, 2),
        "tokens": tokens,
        "tokens_per_s_bare": round(tokens / bare_s, 1) if tokens else None,
        "tokens_per_s_app": round(tokens / app_s, 1) if tokens else None,
        **{k: round(v, 3) for k, v in breakdown.items()},
    }
    if args.repeats > 1:
        result["bare_runs_s"] = [round(b["seconds"], 2) for b in bares]
        result["app_runs_s"] = [round(a["seconds"], 2) for a in apps]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
