"""Direct Preference Optimization (TRL `DPOTrainer`) on a preference dataset.

Dataset: `prompt`, `chosen`, `rejected` (standard text or conversational messages).
Reference model: with LoRA, the starting model with the adapter disabled; without LoRA, a second
copy loaded from the same directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from datasets import Dataset
from transformers import TrainingArguments
from trl import DPOConfig as TRLDPOConfig
from trl import DPOTrainer

from .common import CommonConfig, ProgressCallback, TrainResult, load_model_and_tokenizer, param, run_trainer

LOSS_TYPES = ["sigmoid", "ipo", "hinge", "robust"]


@dataclass(kw_only=True)
class DPOConfig(CommonConfig):
    """Direct Preference Optimization; fields mirror `trl.DPOConfig`."""

    trl_config: ClassVar[type[TrainingArguments]] = TRLDPOConfig

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", minimum=0)
    beta: float = param(
        0.1,
        "Strength of the pull towards the reference model: higher beta, less deviation. "
        "For loss_type='ipo' it is the regularization parameter tau.",
        minimum=0,
    )
    loss_type: str = param(
        "sigmoid",
        "sigmoid: the DPO loss; ipo: IPO (squared loss on the log-ratio margin); hinge: SLiC hinge loss; "
        "robust: Robust DPO, unbiased under label noise of rate label_smoothing.",
        choices=LOSS_TYPES,
    )
    label_smoothing: float = param(
        0.0,
        "Robust DPO: assumed probability that a preference label is flipped, in [0, 0.5); 0.1 is typical.",
        minimum=0,
        maximum=0.5,
    )


def train(
    config: DPOConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train a policy with DPO on `train_dataset`; save it (or its LoRA adapter) to `output_dir/final`."""
    ref_model = None if config.use_lora else load_model_and_tokenizer(config.model_name_or_path)[0]
    return run_trainer(
        DPOTrainer,
        config,
        "causal",
        train_dataset,
        output_dir,
        callback,
        eval_dataset,
        resume_from_checkpoint,
        ref_model=ref_model,
    )
