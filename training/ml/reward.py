"""Reward model training (TRL `RewardTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages); `prompt` may be
left out when it is part of `chosen` and `rejected`. The model is loaded as a sequence classifier
with one output, the reward.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from datasets import Dataset
from transformers import TrainingArguments
from trl import RewardConfig as TRLRewardConfig
from trl import RewardTrainer

from .common import CommonConfig, ProgressCallback, TrainResult, param, run_trainer


@dataclass(kw_only=True)
class RewardConfig(CommonConfig):
    """Reward model training; fields mirror `trl.RewardConfig`."""

    trl_config: ClassVar[type[TrainingArguments]] = TRLRewardConfig

    learning_rate: float = param(1e-4, "Initial learning rate for AdamW.", minimum=0)
    center_rewards_coefficient: float | None = param(
        None,
        "Coefficient of a penalty that pushes rewards towards mean zero (Eisenstein et al. 2023); "
        "0.01 is a recommended value. Unset: no penalty.",
        minimum=0,
    )


def train(
    config: RewardConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train a reward model on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    return run_trainer(
        RewardTrainer, config, "reward", train_dataset, output_dir, callback, eval_dataset, resume_from_checkpoint
    )
