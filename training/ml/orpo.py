"""Odds Ratio Preference Optimization (TRL `experimental.orpo.ORPOTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages). ORPO needs no
reference model: it adds an odds-ratio penalty to the SFT loss on `chosen`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset
from trl.experimental.orpo import ORPOTrainer

from training.algorithms import ORPOConfig

from .common import ProgressCallback, TrainResult, run_trainer

__all__ = ["ORPOConfig", "train"]


def train(
    config: ORPOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
    *,
    adapters: Sequence[str | Path] = (),
) -> TrainResult:
    """Train a policy with ORPO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    return run_trainer(
        ORPOTrainer,
        config=config,
        kind="causal",
        train_dataset=train_dataset,
        output_dir=output_dir,
        callback=callback,
        eval_dataset=eval_dataset,
        resume_from_checkpoint=resume_from_checkpoint,
        adapters=adapters,
    )
