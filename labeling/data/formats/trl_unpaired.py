"""`trl-unpaired`: TRL's unpaired preference format (KTO): `prompt`, `completion`, `label` (a
boolean; in CSV also true/false/1/0) -> one binary item whose file label is up or down. A `category`
column (as exports write it) is kept with the prompt."""

from __future__ import annotations

from labeling.data import rows as v
from labeling.data.formats import Format, has_columns, register
from labeling.data.rows import Options, Row
from labeling.models import Project

HELP = "prompt, completion, label (true/false): binary items"


def read(record: dict, opts: Options) -> list[Row]:
    prompt = v.prompt(v.get(record, "prompt"))
    completion = v.response(v.get(record, "completion"), "completion", conversational=isinstance(prompt, list))
    label = v.boolean(v.get(record, "label"), "label", from_text=opts.file_type == "csv")
    metadata = v.category(record.get("category"))
    return [Row(prompt, (completion,), labels=(("", "up" if label else "down"),), metadata=metadata)]


FORMAT = register(
    Format("trl-unpaired", HELP, read, kind=Project.Kind.BINARY, sniff=has_columns("prompt", "completion", "label"))
)
