"""Supervised fine-tuning (TRL `SFTTrainer`).

Accepted datasets (standard text or conversational messages):
- language modeling: `text`, or `messages`;
- prompt-completion: `prompt`, `completion` (loss on the completion only, TRL's default);
- preference: `prompt`, `chosen`, `rejected` trains on `chosen` as the completion (`rejected` is
  dropped); without `prompt`, `chosen` is the whole text or conversation;
- unpaired preference: `prompt`, `completion`, `label` trains on the rows labelled True only.
"""

from __future__ import annotations

from datasets import Dataset
from trl import SFTTrainer

from training.algorithms import SFTConfig

from .common import trainer_entry

__all__ = ["SFTConfig", "to_sft_dataset", "train"]


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


train = trainer_entry(
    SFTTrainer,
    prepare=to_sft_dataset,
    doc="Fine-tune a causal LM on `train_dataset` (see the module docstring for accepted columns).",
)
