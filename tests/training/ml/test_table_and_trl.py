"""The algorithm table (torch-free) and the ML side agree with each other and with TRL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytestmark = pytest.mark.ml


def test_the_table_and_the_ml_registry_name_the_same_algorithms() -> None:
    from training.algorithms import ALGORITHMS
    from training.ml.registry import ENTRIES

    assert (
        list(ENTRIES)
        == list(ALGORITHMS)
        == ["reward", "sft", "dpo", "kto", "orpo", "ppo", "grpo", "rloo", "online_dpo"]
    )


def test_every_passed_through_field_exists_on_the_trl_config() -> None:
    from training.algorithms import ALGORITHMS, passthrough_fields
    from training.ml.common import trl_config_class

    unknown = {}
    for name, algorithm in ALGORITHMS.items():
        if algorithm.config.trl_config is None:  # ours (ppo): every field is local, nothing passes through
            assert passthrough_fields(algorithm.config) == [], name
            continue
        trl_names = {f.name for f in dataclasses.fields(trl_config_class(algorithm.config))}
        unknown[name] = [f for f in passthrough_fields(algorithm.config) if f not in trl_names]
    assert unknown == {name: [] for name in ALGORITHMS if name != "ppo"}


def test_our_defaults_are_trls_defaults(tmp_path: Path) -> None:
    from trl import ModelConfig

    from training.algorithms import ALGORITHMS, passthrough_fields
    from training.ml.common import device_settings, to_trl_config, trl_config_class

    for name, algorithm in ALGORITHMS.items():
        config_cls = algorithm.config
        if config_cls.trl_config is None:  # ours (ppo): no TRL defaults to match
            continue
        ours = to_trl_config(config_cls(model_name_or_path="x"), tmp_path)
        trls = trl_config_class(config_cls)(output_dir=str(tmp_path), **device_settings())  # TRL's bf16 fails on CPU
        for field in passthrough_fields(config_cls):
            assert getattr(ours, field) == getattr(trls, field), f"{name}.{field}"
    lora = ModelConfig()
    config = ALGORITHMS["dpo"].config(model_name_or_path="x")
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (lora.lora_r, lora.lora_alpha, lora.lora_dropout)


def test_the_dpo_loss_types_are_ones_trl_knows() -> None:
    from trl import DPOConfig

    from training.ml.dpo import LOSS_TYPES

    help_text = next(f for f in dataclasses.fields(DPOConfig) if f.name == "loss_type").metadata["help"]
    for loss_type in LOSS_TYPES:
        assert f"`'{loss_type}'`" in help_text


def test_what_each_algorithm_trains_on_is_what_its_module_reads() -> None:
    """The formats in the table are the exporters' formats, and each module accepts its rows."""
    from datasets import Dataset

    from labeling.data.exporters import FORMATS
    from training.algorithms import ALGORITHMS
    from training.ml.kto import maybe_unpair_preference_dataset
    from training.ml.sft import to_sft_dataset

    for algorithm in ALGORITHMS.values():
        assert set(algorithm.trains_on) <= set(FORMATS), algorithm.name
    preference = Dataset.from_list([{"prompt": "p", "chosen": " a", "rejected": " b"}])
    unpaired = Dataset.from_list([{"prompt": "p", "completion": " a", "label": True}])
    assert ALGORITHMS["sft"].trains_on == ("preference", "unpaired")
    for rows in (preference, unpaired):
        assert to_sft_dataset(rows).column_names == ["prompt", "completion"]
    assert ALGORITHMS["kto"].trains_on == ("unpaired",)
    assert maybe_unpair_preference_dataset(unpaired).column_names == ["prompt", "completion", "label"]
