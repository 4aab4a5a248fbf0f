"""Direct Preference Optimization (TRL `DPOTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages).
Reference model: the starting model (its base plus its adapters). With LoRA, that is the trained
model with the new adapter disabled; without LoRA, a second copy loaded the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import DPOTrainer

from training.algorithms import DPO_LOSS_TYPES as LOSS_TYPES
from training.algorithms import DPOConfig

from .common import load_model_and_tokenizer, trainer_entry

__all__ = ["LOSS_TYPES", "DPOConfig", "train"]


def reference_model(config: DPOConfig, adapters: Sequence[str | Path]) -> dict[str, Any]:
    """The reference is the starting model (base + adapters); with LoRA, the trained model with its adapter off."""
    return {
        "ref_model": None
        if config.use_lora
        else load_model_and_tokenizer(config.model_name_or_path, adapters=adapters)[0]
    }


train = trainer_entry(
    DPOTrainer,
    trainer_kwargs=reference_model,
    doc="Train a policy with DPO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`.",
)
