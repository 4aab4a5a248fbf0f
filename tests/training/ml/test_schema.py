"""The JSON schema the web process validates against stays equal to our configs and to TRL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytestmark = pytest.mark.ml


def test_the_committed_schema_is_what_the_generator_writes_now() -> None:
    from training.ml.schema import SCHEMA_PATH, render_schema

    assert SCHEMA_PATH == Path(__file__).resolve().parents[3] / "training" / "trl_schema.json"
    assert SCHEMA_PATH.read_text() == render_schema(), "run: python -m training.ml.schema"


def test_every_passed_through_field_exists_on_the_trl_config() -> None:
    from training.ml.schema import unknown_trl_fields

    assert unknown_trl_fields() == {"reward": [], "sft": [], "dpo": [], "kto": [], "orpo": []}


def test_our_defaults_are_trls_defaults(tmp_path: Path) -> None:
    from trl import ModelConfig

    from training.ml.common import device_settings, passthrough_fields, to_trl_config
    from training.ml.registry import ALGORITHMS

    for name, (config_cls, _, _) in ALGORITHMS.items():
        ours = to_trl_config(config_cls(model_name_or_path="x"), tmp_path)
        trls = config_cls.trl_config(output_dir=str(tmp_path), **device_settings())  # TRL's bf16 default fails on CPU
        for field in passthrough_fields(config_cls):
            assert getattr(ours, field) == getattr(trls, field), f"{name}.{field}"
    lora = ModelConfig()
    config = ALGORITHMS["dpo"][0](model_name_or_path="x")
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (lora.lora_r, lora.lora_alpha, lora.lora_dropout)


def test_every_field_has_help_a_type_and_a_default() -> None:
    from training.ml.schema import build_schema

    schema = build_schema()
    assert set(schema) == {"reward", "sft", "dpo", "kto", "orpo"}
    for fields in schema.values():
        assert "model_name_or_path" not in fields
        for field in fields.values():
            assert field["help"] and field["type"] in {"boolean", "integer", "number", "string"}
            assert "default" in field
    assert schema["dpo"]["loss_type"]["choices"] == ["sigmoid", "ipo", "hinge", "robust"]
    assert schema["reward"]["center_rewards_coefficient"] == {
        "type": "number",
        "default": None,
        "nullable": True,
        "min": 0,
        "help": schema["reward"]["center_rewards_coefficient"]["help"],
    }


def test_the_dpo_loss_types_are_ones_trl_knows() -> None:
    from trl import DPOConfig

    from training.ml.dpo import LOSS_TYPES

    help_text = next(f for f in dataclasses.fields(DPOConfig) if f.name == "loss_type").metadata["help"]
    for loss_type in LOSS_TYPES:
        assert f"`'{loss_type}'`" in help_text
