"""Reward model training (TRL `RewardTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages); `prompt` may be
left out when it is part of `chosen` and `rejected`. The model is loaded as a sequence classifier
with one output, the reward.
"""

from __future__ import annotations

from trl import RewardTrainer

from training.algorithms import RewardConfig

from .common import trainer_entry

__all__ = ["RewardConfig", "train"]


train = trainer_entry(
    RewardTrainer,
    kind="reward",
    doc="Train a reward model on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`.",
)
