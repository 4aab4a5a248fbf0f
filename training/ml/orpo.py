"""Odds Ratio Preference Optimization (TRL `experimental.orpo.ORPOTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages). ORPO needs no
reference model: it adds an odds-ratio penalty to the SFT loss on `chosen`.
"""

from __future__ import annotations

from trl.experimental.orpo import ORPOTrainer

from training.algorithms import ORPOConfig

from .common import trainer_entry

__all__ = ["ORPOConfig", "train"]


train = trainer_entry(
    ORPOTrainer,
    doc="Train a policy with ORPO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`.",
)
