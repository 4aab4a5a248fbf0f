#!/usr/bin/env python
"""Online training overhead: one GRPO run through the app (queued, warm Celery worker, the reward
source resolved, the output registered) against the same run as a bare TRL script.

    .venv/bin/python bench/online_overhead.py                 # one run each way, 40 steps
    .venv/bin/python bench/online_overhead.py --repeats 3     # three each, interleaved; medians

Same stack, worker, quiet-machine wait and timing as bench/training_overhead.py (its helpers are
reused): the model is a random Qwen2 (`--hidden`/`--layers`, tokenizer trained on the prompts), the
data a prompts snapshot of `--rows` short prompts, the reward the rule `vocab-share` (share of
completion tokens with id % 4 == 0), GRPO without LoRA, beta 0 (TRL's default). The bare script
is plain `trl.GRPOTrainer` with that rule written inline. Both run with OMP_NUM_THREADS=1 (tiny
models on a shared 2-core machine sample ~10x slower with two spinning threads).

Last line: {"ratio", "queue_to_first_step_s", "bare_s", "app_s", "steps", "params_m", ...}.
Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import training_overhead as base  # noqa: E402

PROJECT_SLUG = "bench-online"
TOPICS = (
    "cats dogs rain coffee trains music winter gardens rivers books chess bread kites maps owls boats tea snow "
    "clocks lamps shoes bells ropes caves foxes clouds ponds hats forests candles bridges stars"
).split()

BARE_SCRIPT = r"""
import json, sys, time
result_out, sys.stdout = sys.stdout, sys.stderr
import torch
from datasets import Dataset
from transformers import AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

spec = json.loads(open(sys.argv[1]).read())
t0 = time.perf_counter()
marks = {}

class FirstStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            marks["first_step_s"] = time.perf_counter() - t0

def vocab_share(prompts, completions, completion_ids, **kwargs):
    return [sum(1 for t in ids if t % 4 == 0) / len(ids) if ids else 0.0 for ids in completion_ids]

with open(spec["rows"]) as f:
    rows = [json.loads(line) for line in f if line.strip()]
tokenizer = AutoTokenizer.from_pretrained(spec["model"])
cuda = torch.cuda.is_available()
args = GRPOConfig(
    output_dir=spec["output_dir"], bf16=cuda and torch.cuda.is_bf16_supported(), activation_checkpointing=cuda,
    use_cpu=not cuda, report_to="none", disable_tqdm=True, dataloader_num_workers=0, **spec["trl_kwargs"],
)
trainer = GRPOTrainer(
    model=spec["model"], reward_funcs=[vocab_share], args=args, train_dataset=Dataset.from_list(rows),
    processing_class=tokenizer, callbacks=[FirstStep()],
)
output = trainer.train()
trainer.save_model(spec["output_dir"] + "/final")
metrics = {}
for logged in trainer.state.log_history:
    metrics.update({k: v for k, v in logged.items() if isinstance(v, (int, float))})
metrics.update(output.metrics)
print(json.dumps({"seconds": time.perf_counter() - t0, "steps": trainer.state.global_step, "metrics": metrics,
                  **marks}), file=result_out)
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=32, help="prompts in the snapshot")
    parser.add_argument("--steps", type=int, default=40, help="GRPO max_steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--intermediate", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--max-length", type=int, default=256, help="position embeddings of the model")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quiet-wait", type=float, default=60)
    parser.add_argument("--worker-timeout", type=float, default=300)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def store_snapshot(rows: list[dict[str, str]]):
    from labeling.models import DatasetSnapshot, Project

    project, _ = Project.objects.get_or_create(slug=PROJECT_SLUG, defaults={"name": "Online overhead benchmark"})
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
    snapshot = DatasetSnapshot(project=project, format="prompts", file_type="jsonl",
                               spec={"format": "prompts", "split": "train", "test_size": 0},
                               sha256=hashlib.sha256(data).hexdigest(), rows=len(rows), size_bytes=len(data))  # fmt: skip
    snapshot.path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.path.write_bytes(data)
    snapshot.save()
    return snapshot


def run_bare(work: Path, run: int, model_dir: Path, rows_path: Path, config: dict, env: dict[str, str]) -> dict:
    from training.algorithms import GRPOConfig, passthrough_fields

    spec = {
        "model": str(model_dir), "rows": str(rows_path), "output_dir": str(work / f"bare-out-{run}"),
        "trl_kwargs": {k: config[k] for k in passthrough_fields(GRPOConfig)},
    }  # fmt: skip
    spec_path = work / "bare-spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / f"bare-{run}.log"
    with open(log_path, "w") as log:
        done = subprocess.run([sys.executable, "-c", BARE_SCRIPT, str(spec_path)], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=log, text=True, timeout=3600)  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"bare run failed ({done.returncode}):\n{log_path.read_text()[-5000:]}")
    shutil.rmtree(spec["output_dir"], ignore_errors=True)
    return json.loads(done.stdout)


def run_app(model, snapshot, overrides: dict, worker, timeout: float) -> dict:
    from training.models import ModelVersion
    from training.services import launch_job

    job = launch_job(algorithm="grpo", base_model=model, snapshot=snapshot, overrides=overrides)
    job = base.wait_for_job(job, worker, timeout)
    output = ModelVersion.objects.get(produced_by=job)
    return {
        "job": job.pk, "steps": job.step, "metrics": output.evaluation.get("train", {}),
        "seconds": (job.finished_at - job.queued_at).total_seconds(),
        "first_step_s": (job.first_step_at - job.queued_at).total_seconds(),
    }  # fmt: skip


def main() -> None:
    args = parse_args()
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    work, env = base.start("bench-online-")
    from training import algorithms
    from training.services import register_model

    worker = None
    bares: list[dict] = []
    apps: list[dict] = []
    try:
        rows = [{"prompt": f"Tell me about {TOPICS[i % len(TOPICS)]} ({i})."} for i in range(args.rows)]
        model_dir = work / "var" / "models" / "bench-online-policy"
        texts = [{"prompt": r["prompt"], "chosen": r["prompt"], "rejected": r["prompt"]} for r in rows]
        params_m = base.build_model(model_dir, texts, args)
        snapshot = store_snapshot(rows)
        model = register_model(project=snapshot.project, name=f"bench-online-{work.name.rsplit('-', 1)[-1]}",
                               base=str(model_dir), kind="policy")  # fmt: skip
        overrides = {
            "max_steps": args.steps, "per_device_train_batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "seed": args.seed, "num_generations": args.num_generations, "logging_steps": 10,
            "max_completion_length": args.max_completion_length, "reward": "rule:vocab-share",
        }  # fmt: skip
        config = algorithms.validate("grpo", overrides)
        print(f"model: random Qwen2, {args.layers} x {args.hidden}, {params_m:.2f}M parameters; {len(rows)} prompts")
        worker = base.Worker(env, work / "worker.log")
        print(f"worker ready in {worker.wait_ready(env['TRAINING_QUEUE'], args.worker_timeout):.1f} s", flush=True)
        for run in range(args.repeats):
            for path in ("bare", "app") if run % 2 == 0 else ("app", "bare"):
                base.wait_for_quiet(args.quiet_wait)
                if path == "bare":
                    bares.append(run_bare(work, run, model_dir, snapshot.path, config, env))
                    print(f"bare: {bares[-1]['seconds']:.1f} s (first step {bares[-1]['first_step_s']:.1f} s)")
                else:
                    apps.append(run_app(model, snapshot, overrides, worker, timeout=max(600.0, 30.0 * args.steps)))
                    print(
                        f"app: {apps[-1]['seconds']:.1f} s (first step {apps[-1]['first_step_s']:.1f} s after queueing)"
                    )
    finally:
        if worker is not None:
            worker.stop()
        base.cleanup_redis(env)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for bare, app in zip(bares, apps, strict=True):
        print(f"same run? steps {bare['steps']} / {app['steps']}, reward {bare['metrics'].get('reward')} / "
              f"{app['metrics'].get('reward')}")  # fmt: skip
    bare_s = base.median([b["seconds"] for b in bares])
    app_s = base.median([a["seconds"] for a in apps])
    result = {
        "ratio": round(app_s / bare_s, 3),
        "queue_to_first_step_s": round(base.median([a["first_step_s"] for a in apps]), 2),
        "bare_s": round(bare_s, 2),
        "app_s": round(app_s, 2),
        "bare_to_first_step_s": round(base.median([b["first_step_s"] for b in bares]), 2),
        "steps": apps[0]["steps"],
        "params_m": round(params_m, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
