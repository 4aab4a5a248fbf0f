"""Group Relative Policy Optimization (TRL `GRPOTrainer`) on a prompts dataset.

Per prompt, num_generations completions are sampled and scored by the job's reward source; each
completion's advantage is its reward against its group's mean (scaled per scale_rewards).

Dataset: `prompt` (text or conversational messages). Reference: the starting version (see
`training.ml.online`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import GRPOTrainer

from training.algorithms import GRPOConfig

from .common import ProgressCallback, TrainResult
from .online import train_online

__all__ = ["GRPOConfig", "train"]


def train(
    config: GRPOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
    *,
    adapters: Sequence[str | Path] = (),
    reward: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a policy with GRPO on the prompts of `train_dataset`, rewarded by `reward` (the resolved
    reward source); save it (or its LoRA adapter) to `output_dir/final`."""
    return train_online(
        GRPOTrainer,
        config,
        train_dataset,
        output_dir,
        callback,
        eval_dataset,
        resume_from_checkpoint,
        adapters=adapters,
        reward=reward,
        layout="groups",
        num_generations=config.num_generations,
        reference_reloaded=config.beta > 0,
    )
