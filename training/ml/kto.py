"""Kahneman-Tversky Optimization (TRL `KTOTrainer`) on binary (thumbs up / down) feedback.

Dataset: `prompt`, `completion`, `label` (True = desirable), standard text or conversational
messages. A paired preference dataset (`prompt`, `chosen`, `rejected`) is unpaired first.

Balance: TRL (after Eq. 8 of the KTO paper) recommends desirable_weight * n_desirable /
(undesirable_weight * n_undesirable) in [1, 4/3]. Outside that range `train` warns and reports
`kto_weights_out_of_range` in the result metrics, next to the ratio itself (`kto_weight_ratio`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from datasets import Dataset
from transformers import TrainingArguments
from trl import KTOConfig as TRLKTOConfig
from trl import KTOTrainer, maybe_unpair_preference_dataset

from .common import CommonConfig, ProgressCallback, TrainResult, param, run_trainer

RECOMMENDED_RATIO = (1.0, 4 / 3)


@dataclass(kw_only=True)
class KTOConfig(CommonConfig):
    """KTO; fields mirror `trl.KTOConfig`."""

    trl_config: ClassVar[type[TrainingArguments]] = TRLKTOConfig

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", minimum=0)
    per_device_train_batch_size: int = param(
        8, "Batch size per device for training; KTO needs at least 2 to estimate its KL term.", minimum=2
    )
    beta: float = param(
        0.1, "Strength of the pull towards the reference model: higher beta, less deviation.", minimum=0
    )
    desirable_weight: float = param(
        1.0, "Weight of the loss on desirable (label True) examples, to counter class imbalance.", minimum=0
    )
    undesirable_weight: float = param(
        1.0, "Weight of the loss on undesirable (label False) examples, to counter class imbalance.", minimum=0
    )


def weight_ratio(n_desirable: int, n_undesirable: int, desirable_weight: float, undesirable_weight: float) -> float:
    """desirable_weight * n_desirable / (undesirable_weight * n_undesirable); each count at least 1, as TRL does."""
    return (desirable_weight * max(n_desirable, 1)) / (undesirable_weight * max(n_undesirable, 1))


def train(
    config: KTOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train a policy with KTO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    train_dataset = maybe_unpair_preference_dataset(train_dataset)
    n_desirable = sum(bool(label) for label in train_dataset["label"])
    ratio = weight_ratio(
        n_desirable, len(train_dataset) - n_desirable, config.desirable_weight, config.undesirable_weight
    )
    out_of_range = not RECOMMENDED_RATIO[0] <= ratio <= RECOMMENDED_RATIO[1]
    if out_of_range:
        warnings.warn(
            f"KTO: desirable_weight * n_desirable / (undesirable_weight * n_undesirable) = {ratio:.2f} "
            f"({n_desirable} desirable, {len(train_dataset) - n_desirable} undesirable); TRL recommends [1, 4/3]. "
            "Adjust desirable_weight or undesirable_weight.",
            stacklevel=2,
        )
    result = run_trainer(
        KTOTrainer,
        config,
        "causal",
        train_dataset,
        output_dir,
        callback,
        maybe_unpair_preference_dataset(eval_dataset) if eval_dataset is not None else None,
        resume_from_checkpoint,
    )
    result.metrics.update(kto_weight_ratio=ratio, kto_weights_out_of_range=out_of_range)
    return result
