"""The algorithm table: torch-free, complete, and strict about names and bounds (no database)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training import algorithms
from training.algorithms import ALGORITHMS, ConfigError, validate


def test_the_table_loads_without_torch_or_django() -> None:
    code = "import sys, training.algorithms; print(sorted(m for m in ('torch', 'django', 'trl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_algorithm_has_a_label_formats_model_kinds_and_documented_fields() -> None:
    assert list(ALGORITHMS) == ["reward", "sft", "dpo", "kto", "orpo", "ppo", "grpo", "rloo", "online_dpo"]
    for algorithm in ALGORITHMS.values():
        assert algorithm.label and algorithm.trains_on and algorithm.starts_from
        assert algorithm.produces in ("policy", "reward")
        fields = algorithm.fields()
        assert "model_name_or_path" not in fields
        for spec in fields.values():
            assert spec["help"] and spec["type"] in {"boolean", "integer", "number", "string"}
            assert "default" in spec
    assert ALGORITHMS["reward"].produces == "reward" and ALGORITHMS["dpo"].starts_from == ("policy",)


def test_every_field_has_help_a_type_and_a_default() -> None:
    schema = algorithms.schema()
    assert set(schema) == {"reward", "sft", "dpo", "kto", "orpo", "ppo", "grpo", "rloo", "online_dpo"}
    assert schema["dpo"]["loss_type"]["choices"] == ["sigmoid", "ipo", "hinge", "robust"]
    assert schema["reward"]["center_rewards_coefficient"] == {
        "type": "number",
        "default": None,
        "nullable": True,
        "min": 0,
        "help": schema["reward"]["center_rewards_coefficient"]["help"],
    }


def test_every_default_is_itself_valid() -> None:
    for name in ALGORITHMS:
        assert validate(name, {}) == algorithms.defaults(name)
        assert validate(name, algorithms.defaults(name)) == algorithms.defaults(name)


def test_an_unknown_algorithm_is_an_error_not_a_fallback() -> None:
    with pytest.raises(
        ConfigError, match="algorithm: must be one of reward, sft, .*, ppo, .*, not .reinforce."
    ) as error:
        validate("reinforce", {})
    assert error.value.field == "algorithm"
    with pytest.raises(ConfigError, match="algorithm"):
        algorithms.check_snapshot_format("reinforce", "preference")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("learning_rate", 0, "must be greater than 0"),
        ("learning_rate", 2, "must be at most 1"),
        ("learning_rate", "nan", "must be a number"),
        ("per_device_train_batch_size", 0, "must be at least 1"),
        ("per_device_train_batch_size", 4097, "must be at most 4096"),
        ("max_length", 0, "must be at least 1"),
        ("max_length", 131073, "must be at most 131072"),
        ("max_steps", -2, "must be at least -1"),
        ("max_steps", 10_000_001, "must be at most 10000000"),
        ("max_steps", "1" * 5000, "must be a integer"),
        ("max_steps", 1.5, "must be a whole number"),
        ("loss_type", ["sigmoid"], "must be a string"),
    ],
)
def test_an_out_of_range_setting_is_refused_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        validate("dpo", {field: value})
    assert error.value.field == field and str(error.value).startswith(f"{field}: ")


def test_settings_at_the_bounds_are_accepted() -> None:
    config = validate(
        "sft", {"learning_rate": 1, "per_device_train_batch_size": 4096, "max_length": 131072, "max_steps": 10_000_000}
    )
    assert config["max_steps"] == 10_000_000 and config["learning_rate"] == 1.0
    assert validate("sft", {"max_steps": "-1", "learning_rate": "1e-12"})["learning_rate"] == 1e-12


def test_settings_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(ConfigError, match="settings: must be an object"):
        validate("dpo", ["beta"])  # type: ignore[arg-type]


def test_a_base_model_of_the_wrong_kind_is_refused() -> None:
    algorithms.check_base_kind("dpo", "policy")
    algorithms.check_base_kind("reward", "policy")  # a reward model starts from a language model
    with pytest.raises(ConfigError, match="base_model: DPO starts from a policy model, not a reward model"):
        algorithms.check_base_kind("dpo", "reward")


def test_the_api_schema_carries_the_bounds() -> None:
    schema = algorithms.json_schema("kto")
    assert schema["additionalProperties"] is False
    batch = schema["properties"]["per_device_train_batch_size"]
    assert (batch["minimum"], batch["maximum"], batch["default"]) == (2, 4096, 8)
    assert schema["properties"]["learning_rate"]["exclusiveMinimum"] == 0
