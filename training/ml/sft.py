"""Supervised fine-tuning (TRL `SFTTrainer`).

Accepted datasets (standard text or conversational messages):
- language modeling: `text`, or `messages`;
- prompt-completion: `prompt`, `completion` (loss on the completion only, TRL's default);
- preference: `prompt`, `chosen`, `rejected` trains on `chosen` as the completion (`rejected` is
  dropped); without `prompt`, `chosen` is the whole text or conversation;
- unpaired preference: `prompt`, `completion`, `label` trains on the rows labelled True only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from datasets import Dataset
from transformers import TrainingArguments
from trl import SFTConfig as TRLSFTConfig
from trl import SFTTrainer

from .common import CommonConfig, ProgressCallback, TrainResult, param, run_trainer


@dataclass(kw_only=True)
class SFTConfig(CommonConfig):
    """Supervised fine-tuning; fields mirror `trl.SFTConfig`."""

    trl_config: ClassVar[type[TrainingArguments]] = TRLSFTConfig

    learning_rate: float = param(2e-5, "Initial learning rate for AdamW.", minimum=0)
    packing: bool = param(False, "Pack several sequences into each max_length row.")


def to_sft_dataset(dataset: Dataset) -> Dataset:
    """Map a preference or unpaired-preference dataset to a format `SFTTrainer` reads; others pass."""
    columns = dataset.column_names
    if "label" in columns:
        dataset = dataset.filter(lambda row: bool(row["label"])).remove_columns("label")
    if "chosen" not in columns:
        return dataset
    dataset = dataset.remove_columns([c for c in ("rejected", "completion") if c in columns])
    if "prompt" in columns:
        return dataset.rename_column("chosen", "completion")
    conversational = isinstance(dataset[0]["chosen"], list)
    return dataset.rename_column("chosen", "messages" if conversational else "text")


def train(
    config: SFTConfig,
    train_dataset: Dataset,
    output_dir: str | Path,
    callback: ProgressCallback | None = None,
    eval_dataset: Dataset | None = None,
    resume_from_checkpoint: str | Path | None = None,
) -> TrainResult:
    """Fine-tune a causal LM on `train_dataset` (see the module docstring for accepted columns)."""
    return run_trainer(
        SFTTrainer,
        config,
        "causal",
        to_sft_dataset(train_dataset),
        output_dir,
        callback,
        to_sft_dataset(eval_dataset) if eval_dataset is not None else None,
        resume_from_checkpoint,
    )
