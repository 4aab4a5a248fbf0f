"""Kahneman-Tversky Optimization (TRL `KTOTrainer`) on binary (thumbs up / down) feedback.

Dataset: `prompt`, `completion`, `label` (True = desirable), standard text or conversational
messages. A paired preference dataset (`prompt`, `chosen`, `rejected`) is unpaired first.

Balance: TRL (after Eq. 8 of the KTO paper) recommends desirable_weight * n_desirable /
(undesirable_weight * n_undesirable) in [1, 4/3]. Outside that range `train` warns and reports
`kto_weights_out_of_range` in the result metrics, next to the ratio itself (`kto_weight_ratio`).
"""

from __future__ import annotations

import warnings
from typing import Any

from datasets import Dataset
from trl import KTOTrainer, maybe_unpair_preference_dataset

from training.algorithms import KTOConfig

from .common import trainer_entry

__all__ = ["KTOConfig", "train", "weight_ratio"]

RECOMMENDED_RATIO = (1.0, 4 / 3)


def weight_ratio(n_desirable: int, n_undesirable: int, desirable_weight: float, undesirable_weight: float) -> float:
    """desirable_weight * n_desirable / (undesirable_weight * n_undesirable); each count at least 1, as TRL does."""
    return (desirable_weight * max(n_desirable, 1)) / (undesirable_weight * max(n_undesirable, 1))


def check_balance(config: KTOConfig, train_dataset: Dataset) -> dict[str, Any]:
    """Warn when the weighted desirable / undesirable ratio is outside TRL's recommended range; the metrics."""
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
            stacklevel=3,
        )
    return {"kto_weight_ratio": ratio, "kto_weights_out_of_range": out_of_range}


train = trainer_entry(
    KTOTrainer,
    prepare=maybe_unpair_preference_dataset,
    check=check_balance,
    doc="Train a policy with KTO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`.",
)
