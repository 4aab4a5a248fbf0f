"""REINFORCE Leave-One-Out (TRL `RLOOTrainer`) on a prompts dataset.

Per prompt, num_generations completions are sampled and scored by the job's reward source; each
completion's baseline is the mean reward of the prompt's other completions; beta > 0 puts a KL
penalty against the reference into the reward.

Dataset: `prompt` (text or conversational messages). Reference: the starting version (see
`training.ml.online`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import RLOOTrainer

from training.algorithms import RLOOConfig

from .common import ProgressCallback, TrainResult
from .online import train_online

__all__ = ["RLOOConfig", "train"]


def train(
    config: RLOOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
    *,
    adapters: Sequence[str | Path] = (),
    reward: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a policy with RLOO on the prompts of `train_dataset`, rewarded by `reward` (the resolved
    reward source); save it (or its LoRA adapter) to `output_dir/final`."""
    return train_online(
        RLOOTrainer,
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
