"""`prompts`: one prompt per row, no responses: `prompt`, or `instruction` (+ `input` or
self-instruct's `instances`), or MT-Bench `turns` (the first turn is the prompt; the turns are kept
in the metadata). `--map prompt=COLUMN` and `id=COLUMN` name other columns."""

from __future__ import annotations

from labeling.data import rows as v
from labeling.data.formats import Format, register
from labeling.data.rows import Options, Row, RowError

HELP = "one prompt per row (prompt, instruction [+ input] or MT-Bench turns); --map prompt=, id="

_IDS = ("id", "uid", "question_id", "idx")
_META = ("category", "cluster", "motivation_app")


def read(record: dict, opts: Options) -> list[Row]:
    metadata = {k: record[k] for k in _META if isinstance(record.get(k), str)}
    if "prompt" in opts.mapping or "prompt" in record:
        prompt = v.prompt(v.get(record, "prompt", opts.mapping.get("prompt")), opts.mapping.get("prompt", "prompt"))
    elif "turns" in record:  # MT-Bench: the first turn is the prompt; the follow-up needs an answer first
        turns = record["turns"]
        if not isinstance(turns, list) or not turns:
            raise RowError("turns", "expected a non-empty list of questions")
        prompt = v.text(turns[0], "turns[0]", what="prompt")
        metadata["turns"] = [v.text(t, f"turns[{i}]", what="prompt") for i, t in enumerate(turns)]
    elif "instruction" in record:  # self-instruct / Alpaca: instruction, plus its input when there is one
        extra = record.get("input")
        instances = record.get("instances")
        if extra is None and isinstance(instances, list) and instances and isinstance(instances[0], dict):
            extra = instances[0].get("input")
        prompt = v.instruction_prompt(v.text(record["instruction"], "instruction", allow_empty=True), extra)
    else:
        raise RowError(
            "prompt", "missing: expected a 'prompt', 'instruction' or 'turns' field (or --map prompt=COLUMN)"
        )
    id_column = opts.mapping.get("id") or next((k for k in _IDS if k in record), None)
    external_id = str(v.get(record, "id", id_column)) if id_column else ""
    return [Row(prompt, external_id=external_id[:200], metadata=metadata)]


def sniff(columns: set[str]) -> bool:
    return bool(columns & {"prompt", "instruction", "turns"}) and not any(
        "response" in c or c in ("chosen", "rejected", "completion", "output", "label") for c in columns
    )


FORMAT = register(Format("prompts", HELP, read, sniff=sniff, map_targets=("prompt", "id")))
