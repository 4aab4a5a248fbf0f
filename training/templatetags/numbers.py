"""Numbers as people read them: 0.724, 123, 1e-06 (not 0.7235772357723578 or 123.000)."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()


def format_number(value: Any) -> Any:
    """Whole numbers without decimals; others to 3 decimals (3 significant digits below 1). Non-numbers unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) < 1:
        return f"{value:.3g}"
    return f"{value:.3f}".rstrip("0").rstrip(".")


@register.filter
def num(value: Any) -> Any:
    """`{{ value|num }}`: see `format_number`."""
    return format_number(value)


@register.filter
def held_out(evaluation: Any) -> list[tuple[str, Any]]:
    """The held-out metrics of a model's evaluation (everything but the training run's own `train` metrics)."""
    if not isinstance(evaluation, dict):
        return []
    return [(k, v) for k, v in evaluation.items() if k != "train"]
