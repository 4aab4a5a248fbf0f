#!/usr/bin/env python
"""Do the online algorithms learn? Each of ppo, grpo, rloo and online_dpo trains the tiny policy on the
closed-form rule reward `vocab-share` (share of completion tokens with id % 4 == 0; about 0.25 for the
random tiny policy) for a fixed budget of steps, over 3 seeds; the mean reward of sampled completions on
held-out prompts is compared with the starting policy's.

    .venv/bin/python bench/online_rl.py                  # 3 seeds, every algorithm the registry has
    .venv/bin/python bench/online_rl.py --seeds 1 --only grpo

Per algorithm, last line: {"start", "end", "stderr", "seconds", "raised"}: start / end are the held-out
mean rewards of the starting and trained policies (averaged over the seeds), stderr the standard error
of the per-seed differences end - start, seconds the mean training time; raised is true when
end - start > 2 stderr. An algorithm missing from the registry is {"absent": true}. Runs on CPU, one
torch thread (tiny models on a shared machine sample faster with one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.training.ml.conftest import HELD_OUT_TOPICS, TEXTS, TRAIN_TOPICS  # noqa: E402

RULE = {"kind": "rule", "rule": "vocab-share"}
COMMON = {"logging_steps": 10, "save_steps": 100_000, "per_device_train_batch_size": 8, "learning_rate": 1e-2}
# the fixed budget per algorithm: steps and settings (the in-suite test runs fewer steps, one seed)
BUDGETS: dict[str, tuple[int, dict[str, Any]]] = {
    "ppo": (40, {"response_length": 16, "temperature": 1.0, "learning_rate": 3e-3}),
    "grpo": (60, {"num_generations": 4, "max_completion_length": 16}),
    "rloo": (80, {"num_generations": 4, "max_completion_length": 16}),
    "online_dpo": (60, {"max_new_tokens": 16, "max_length": 64}),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--samples", type=int, default=4, help="completions per held-out prompt")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(1)
    from training.algorithms import ALGORITHMS
    from training.ml import registry
    from training.ml.online import sampled_rewards
    from training.ml.tiny import build_tiny_policy

    work = Path(tempfile.mkdtemp(prefix="bench-online-rl-"))
    train_rows = [{"prompt": f"Tell me about {topic}."} for topic in TRAIN_TOPICS]
    held_out = [f"Tell me about {topic}." for topic in HELD_OUT_TOPICS]
    results: dict[str, dict[str, Any]] = {}
    for algorithm in BUDGETS:
        if algorithm not in args.only:
            continue
        if algorithm not in registry.ENTRIES or algorithm not in ALGORITHMS:
            results[algorithm] = {"absent": True}
            continue
        steps, settings = BUDGETS[algorithm]
        starts, ends, seconds = [], [], []
        for seed in range(args.seeds):
            policy = build_tiny_policy(work / f"policy-{seed}", TEXTS, seed=seed)
            values = {**COMMON, **settings, "seed": seed, "max_steps": steps, "reward": "rule:vocab-share"}
            t0 = time.perf_counter()
            result = registry.train(
                algorithm, base=policy, adapters=[], values=values, train_rows=train_rows,
                output_dir=work / f"{algorithm}-{seed}", reward=RULE,
            )  # fmt: skip
            seconds.append(time.perf_counter() - t0)
            out_base, out_adapters = registry.output_chain(result.model_dir, policy, [])
            start = sampled_rewards(policy, [], held_out, RULE, samples=args.samples, max_new_tokens=16, seed=seed)
            end = sampled_rewards(out_base, out_adapters, held_out, RULE, samples=args.samples, max_new_tokens=16,
                                  seed=seed)  # fmt: skip
            starts.append(statistics.mean(start))
            ends.append(statistics.mean(end))
            print(f"{algorithm} seed {seed}: {starts[-1]:.3f} -> {ends[-1]:.3f} in {seconds[-1]:.1f} s", flush=True)
        diffs = [e - s for s, e in zip(starts, ends, strict=True)]
        stderr = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
        results[algorithm] = {
            "start": round(statistics.mean(starts), 4),
            "end": round(statistics.mean(ends), 4),
            "stderr": round(stderr, 4),
            "seconds": round(statistics.mean(seconds), 1),
            "raised": bool(statistics.mean(diffs) > 2 * stderr) if len(diffs) > 1 else None,
            "steps": steps,
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
