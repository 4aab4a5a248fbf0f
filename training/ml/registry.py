"""The ML side of the algorithm table: each algorithm's entry function, and the worker's two calls.

`training.algorithms.ALGORITHMS` says what each algorithm is (formats, model kinds, config); this
module says which function trains it. A test fails when the two name different algorithms.

- `train(algorithm, base=..., adapters=[...], values=..., train_rows=..., output_dir=...)`: start
  from `base` with `adapters` merged in order (the starting version), train, save
  `output_dir/final` (the new LoRA adapter, or the full model).
- `evaluate(algorithm, model_dir=..., base=..., adapters=[...], values=..., test_rows=...)`:
  held-out metrics of what `train` produced; DPO's reference is the starting version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from training import algorithms

from . import dpo, grpo, kto, online_dpo, orpo, ppo, reward, rloo, sft
from .common import CommonConfig, ModelKind, ProgressCallback, TrainResult, is_adapter_dir

ENTRIES: dict[str, Callable[..., TrainResult]] = {
    "reward": reward.train,
    "sft": sft.train,
    "dpo": dpo.train,
    "kto": kto.train,
    "orpo": orpo.train,
    "ppo": ppo.train,
    "grpo": grpo.train,
    "rloo": rloo.train,
    "online_dpo": online_dpo.train,
}


def make_config(algorithm: str, model_name_or_path: str, values: dict[str, Any]) -> CommonConfig:
    """The typed config for `algorithm` from a job's stored (already validated) values."""
    return algorithms.get(algorithm).config(model_name_or_path=model_name_or_path, **values)


def model_kind(algorithm: str) -> ModelKind:
    """How the models of `algorithm` are loaded: a sequence classifier for reward models, else a causal LM."""
    return "reward" if algorithms.get(algorithm).produces == "reward" else "causal"


def train(
    algorithm: str,
    *,
    base: str,
    adapters: Sequence[str],
    values: dict[str, Any],
    train_rows: list[dict[str, Any]],
    output_dir: Path,
    callback: ProgressCallback | None = None,
    resume_from_checkpoint: str | Path | None = None,
    reward: dict[str, Any] | None = None,
    value_from: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `algorithm` from `base` + `adapters` (merged in order) on `train_rows`; see the module docstring.

    `reward`: the resolved reward source of an online algorithm (see `training.ml.rewards`);
    `value_from`: PPO's value model start ({"base", "adapters"} of a reward version), when the job names one.
    """
    from datasets import Dataset

    row = algorithms.get(algorithm)
    entry = ENTRIES[row.name]
    extra: dict[str, Any] = {"reward": reward} if row.reward_required or reward is not None else {}
    if value_from is not None:
        extra["value_from"] = value_from
    return entry(
        make_config(algorithm, base, values),
        Dataset.from_list(train_rows),
        output_dir,
        callback,
        resume_from_checkpoint=resume_from_checkpoint,
        adapters=list(adapters),
        **extra,
    )


def output_chain(model_dir: str, base: str, adapters: Sequence[str]) -> tuple[str, list[str]]:
    """(base, adapters) that load a job's output: a LoRA adapter goes on top of the starting chain."""
    return (base, [*adapters, model_dir]) if is_adapter_dir(model_dir) else (model_dir, [])


def evaluate(
    algorithm: str,
    *,
    model_dir: str,
    base: str,
    adapters: Sequence[str],
    values: dict[str, Any],
    test_rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Held-out metrics of a job's output `model_dir` that started from `base` + `adapters` ({} without rows).

    Reward models: pairwise accuracy. DPO: implicit-reward accuracy, against the job's real reference
    (the starting version, whether or not the job used LoRA). Other algorithms: nothing yet.
    """
    from . import evaluate as ev

    algorithms.get(algorithm)
    if not test_rows:
        return {}
    policy = output_chain(model_dir, base, adapters)
    if algorithm == "reward":
        accuracy = ev.reward_model_accuracy(policy[0], test_rows, adapters=policy[1])
        return {"pairwise_accuracy": accuracy, "test_pairs": len(test_rows)}
    if algorithm == "dpo":
        beta = values.get("beta", algorithms.defaults("dpo")["beta"])
        accuracy = ev.dpo_chain_accuracy(policy, (base, list(adapters)), test_rows, beta)
        return {"implicit_reward_accuracy": accuracy, "test_pairs": len(test_rows)}
    return {}
