"""Direct Preference Optimization (TRL `DPOTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages).
Reference model: the starting model (its base plus its adapters). With LoRA, that is the trained
model with the new adapter disabled; without LoRA, a second copy loaded the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset
from trl import DPOTrainer

from training.algorithms import DPO_LOSS_TYPES as LOSS_TYPES
from training.algorithms import DPOConfig

from .common import ProgressCallback, TrainResult, load_model_and_tokenizer, run_trainer

__all__ = ["LOSS_TYPES", "DPOConfig", "train"]


def train(
    config: DPOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
    *,
    adapters: Sequence[str | Path] = (),
) -> TrainResult:
    """Train a policy with DPO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    # the reference is the starting model (base + adapters); with LoRA, the trained model with its adapter off
    ref_model = None if config.use_lora else load_model_and_tokenizer(config.model_name_or_path, adapters=adapters)[0]
    return run_trainer(
        DPOTrainer,
        config=config,
        kind="causal",
        train_dataset=train_dataset,
        output_dir=output_dir,
        callback=callback,
        eval_dataset=eval_dataset,
        resume_from_checkpoint=resume_from_checkpoint,
        adapters=adapters,
        ref_model=ref_model,
    )
