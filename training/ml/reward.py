"""Reward model training (TRL `RewardTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages); `prompt` may be
left out when it is part of `chosen` and `rejected`. The model is loaded as a sequence classifier
with one output, the reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset
from trl import RewardTrainer

from training.algorithms import RewardConfig

from .common import ProgressCallback, TrainResult, run_trainer

__all__ = ["RewardConfig", "train"]


def train(
    config: RewardConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
    *,
    adapters: Sequence[str | Path] = (),
) -> TrainResult:
    """Train a reward model on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    return run_trainer(
        RewardTrainer,
        config=config,
        kind="reward",
        train_dataset=train_dataset,
        output_dir=output_dir,
        callback=callback,
        eval_dataset=eval_dataset,
        resume_from_checkpoint=resume_from_checkpoint,
        adapters=adapters,
    )
