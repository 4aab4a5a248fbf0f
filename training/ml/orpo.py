"""Odds Ratio Preference Optimization (TRL `experimental.orpo.ORPOTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages). ORPO needs no
reference model: it adds an odds-ratio penalty to the SFT loss on `chosen`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from datasets import Dataset
from transformers import TrainingArguments
from trl.experimental.orpo import ORPOConfig as TRLORPOConfig
from trl.experimental.orpo import ORPOTrainer

from .common import CommonConfig, ProgressCallback, TrainResult, param, run_trainer


@dataclass(kw_only=True)
class ORPOConfig(CommonConfig):
    """ORPO; fields mirror `trl.experimental.orpo.ORPOConfig`."""

    trl_config: ClassVar[type[TrainingArguments]] = TRLORPOConfig

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", minimum=0)
    beta: float = param(0.1, "Weight of the odds-ratio loss relative to the SFT loss (lambda in the paper).", minimum=0)


def train(
    config: ORPOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train a policy with ORPO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    return run_trainer(
        ORPOTrainer, config, "causal", train_dataset, output_dir, callback, eval_dataset, resume_from_checkpoint
    )
