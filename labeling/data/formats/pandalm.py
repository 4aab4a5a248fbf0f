"""`pandalm`: one item per row (`instruction` [+ `input`], `response1`, `response2`), one judgment
per `annotatorN` column (0 tie, 1 response1 better, 2 response2 better); ties are kept. The two
models come from `cmp_key` ("modelA_modelB") when it names two."""

from __future__ import annotations

import re
from typing import Any

from labeling.data import rows as v
from labeling.data.formats import Format, register
from labeling.data.rows import Options, Row, RowError
from labeling.models import Project

HELP = "instruction, input, response1, response2, annotator1..N (0 tie, 1, 2)"

_ANNOTATOR = re.compile(r"annotator(\d+)")
_CHOICES = {0: "tie", 1: "a", 2: "b"}


def _loose_text(value: Any, name: str) -> str:
    """PandaLM stores a few one-word answers as JSON booleans (`true`): read them back as text."""
    if isinstance(value, bool | int | float):
        return str(value)
    return v.text(value, name, allow_empty=True, what="response")


def read(record: dict, opts: Options) -> list[Row]:
    instruction = v.text(v.get(record, "instruction"), "instruction", allow_empty=True, what="instruction")
    prompt = v.instruction_prompt(instruction, record.get("input"))
    a, b = _loose_text(v.get(record, "response1"), "response1"), _loose_text(v.get(record, "response2"), "response2")
    v.distinct(a, b, "response2")
    columns = sorted((k for k in record if _ANNOTATOR.fullmatch(k)), key=lambda k: int(k[9:]))
    if not columns:
        raise RowError("annotator1", "missing: expected annotator1, annotator2, ... columns")
    labels = []
    for column in columns:
        value = record[column]
        if isinstance(value, bool) or not isinstance(value, int) or value not in _CHOICES:
            raise RowError(column, f"must be 0 (tie), 1 (response1 better) or 2 (response2 better), got {value!r}")
        labels.append((column, _CHOICES[value]))
    models = str(record.get("cmp_key", "")).split("_")
    sources = tuple(f"model:{m}" for m in models) if len(models) == 2 and all(models) else ()
    metadata = {k: record[k] for k in ("motivation_app",) if isinstance(record.get(k), str)}
    return [Row(prompt, (a, b), labels=tuple(labels), sources=sources, metadata=metadata)]


def sniff(columns: set[str]) -> bool:
    return {"response1", "response2"} <= columns and any(_ANNOTATOR.fullmatch(c) for c in columns)


FORMAT = register(Format("pandalm", HELP, read, kind=Project.Kind.PAIRWISE, sniff=sniff))
