"""JSON schema of every algorithm's config, for the web process to validate jobs without torch.

`build_schema()` -> {algorithm: {field: {"type", "default", "help", ["nullable"], ["choices"],
["min"], ["max"]}}}, from our config dataclasses (whose pass-through fields mirror TRL's).
`type` is one of "boolean", "integer", "number", "string"; `min`/`max` are inclusive.
Fields without a default (`model_name_or_path`) are set by the worker and left out.

    python -m training.ml.schema    # rewrites training/trl_schema.json
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from .common import CommonConfig, passthrough_fields
from .registry import ALGORITHMS

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "trl_schema.json"
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def field_schema(annotation: Any, field: dataclasses.Field[Any]) -> dict[str, Any]:
    """One field: its JSON type (nullable if Optional), default and metadata."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    (python_type,) = [a for a in args if a is not type(None)]
    entry: dict[str, Any] = {"type": JSON_TYPES[python_type], "default": field.default, **field.metadata}
    if type(None) in args:
        entry["nullable"] = True
    return entry


def config_schema(config_cls: type[CommonConfig]) -> dict[str, dict[str, Any]]:
    hints = typing.get_type_hints(config_cls)
    return {
        f.name: field_schema(hints[f.name], f)
        for f in dataclasses.fields(config_cls)
        if f.default is not dataclasses.MISSING
    }


def build_schema() -> dict[str, dict[str, dict[str, Any]]]:
    return {name: config_schema(config_cls) for name, (config_cls, _, _) in ALGORITHMS.items()}


def render_schema() -> str:
    """The exact text of trl_schema.json."""
    return json.dumps(build_schema(), sort_keys=True, indent=1) + "\n"


def unknown_trl_fields() -> dict[str, list[str]]:
    """Per algorithm, the pass-through fields its TRL config class lacks (should be empty)."""
    unknown = {}
    for name, (config_cls, _, _) in ALGORITHMS.items():
        trl_names = {f.name for f in dataclasses.fields(config_cls.trl_config)}
        unknown[name] = [f for f in passthrough_fields(config_cls) if f not in trl_names]
    return unknown


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render_schema())
    print(f"wrote {SCHEMA_PATH}")
