"""Training-job configs, validated in the web process without importing torch.

`trl_schema.json` is generated from the config dataclasses in `training/ml` (which mirror TRL's):
`python -m training.ml.schema`. A test keeps it equal to what the installed TRL gives.
"""

import functools
import json
import math
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("trl_schema.json")

# Which snapshot formats each algorithm trains on (the export formats of labeling.exporters).
SNAPSHOT_FORMATS: dict[str, tuple[str, ...]] = {
    "reward": ("preference",),
    "sft": ("preference", "unpaired"),
    "dpo": ("preference",),
    "kto": ("unpaired",),
    "orpo": ("preference",),
}

ALGORITHM_LABELS = {
    "reward": "Reward model",
    "sft": "SFT",
    "dpo": "DPO",
    "kto": "KTO",
    "orpo": "ORPO",
}

# The hyperparameters people tune, shown on the launch form; everything else goes in the JSON box.
FORM_FIELDS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "beta",
               "loss_type", "label_smoothing", "desirable_weight", "undesirable_weight", "max_length", "use_lora")


class ConfigError(ValueError):
    """A config value that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@functools.cache
def schema() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(SCHEMA_PATH.read_text())


def defaults(algorithm: str) -> dict[str, Any]:
    return {name: spec["default"] for name, spec in schema()[algorithm].items()}


def _number(name: str, kind: str, value: Any) -> int | float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(name, f"must be a {kind}, not {value!r}")
    if kind == "integer":
        if not number.is_integer():
            raise ConfigError(name, f"must be a whole number, not {value!r}")
        return int(number)
    return number


def _coerce(name: str, spec: dict[str, Any], value: Any) -> Any:
    """`value` as the field's type; strings (from a form or `--set key=value`) are parsed."""
    kind = spec["type"]
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if spec.get("nullable"):
            return None
        raise ConfigError(name, "may not be empty")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.strip().lower() in ("true", "1", "yes", "on")
        raise ConfigError(name, f"must be true or false, not {value!r}")
    if kind in ("integer", "number"):
        number = _number(name, kind, value)
        if "min" in spec and number < spec["min"]:
            raise ConfigError(name, f"must be at least {spec['min']}, not {number}")
        if "max" in spec and number > spec["max"]:
            raise ConfigError(name, f"must be at most {spec['max']}, not {number}")
        return number
    value = str(value)
    if "choices" in spec and value not in spec["choices"]:
        raise ConfigError(name, f"must be one of {', '.join(spec['choices'])}, not {value!r}")
    return value


def validate(algorithm: str, values: dict[str, Any]) -> dict[str, Any]:
    """The full config for `algorithm`: its defaults, overridden by `values`, each checked.

    Raises ConfigError naming the first field that is unknown or has a bad value.
    """
    if algorithm not in SNAPSHOT_FORMATS:
        raise ConfigError("algorithm", f"must be one of {', '.join(SNAPSHOT_FORMATS)}, not {algorithm!r}")
    fields = schema()[algorithm]
    config = defaults(algorithm)
    for name, value in values.items():
        if name not in fields:
            raise ConfigError(name, f"is not a setting of {algorithm} (known: {', '.join(sorted(fields))})")
        config[name] = _coerce(name, fields[name], value)
    return config


def check_snapshot_format(algorithm: str, snapshot_format: str) -> None:
    allowed = SNAPSHOT_FORMATS[algorithm]
    if snapshot_format not in allowed:
        raise ConfigError(
            "snapshot", f"{ALGORITHM_LABELS[algorithm]} trains on a {' or '.join(allowed)} snapshot, not {snapshot_format}"
        )
