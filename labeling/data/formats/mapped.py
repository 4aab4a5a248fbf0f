"""`mapped`: any file, with `--map TARGET=COLUMN` naming the columns for `prompt` plus either
`chosen`/`rejected`, `response_a`/`response_b`/`winner` or `completion`/`label` (and `id`)."""

from __future__ import annotations

from typing import Any

from labeling.data import rows as v
from labeling.data.formats import Format, register
from labeling.data.rows import ImportFailed, Options, Row, RowError
from labeling.models import Project

TARGETS = ("prompt", "chosen", "rejected", "response_a", "response_b", "winner", "completion", "label", "id")
SHAPES = (  # the target sets a mapping may name (plus an optional `id`)
    {"prompt", "chosen", "rejected"},
    {"prompt", "response_a", "response_b", "winner"},
    {"prompt", "completion", "label"},
    {"prompt"},
)
WINNERS = {
    "1": "a",
    "a": "a",
    "model_a": "a",
    "2": "b",
    "b": "b",
    "model_b": "b",
    "0": "tie",
    "tie": "tie",
    "both_bad": "both_bad",
    "tie (bothbad)": "both_bad",
}


def read(record: dict, opts: Options) -> list[Row]:
    m = opts.mapping

    def value(target: str) -> Any:
        return v.get(record, target, m[target])

    prompt = v.prompt(value("prompt"), m["prompt"])
    conversational = isinstance(prompt, list)
    external_id = str(value("id"))[:200] if "id" in m else ""
    if "chosen" in m:
        a = v.response(value("chosen"), m["chosen"], conversational=conversational)
        b = v.response(value("rejected"), m["rejected"], conversational=conversational)
        v.distinct(a, b, m["rejected"])
        return [Row(prompt, (a, b), labels=(("", "a"),), external_id=external_id)]
    if "winner" in m:
        a = v.response(value("response_a"), m["response_a"], conversational=conversational)
        b = v.response(value("response_b"), m["response_b"], conversational=conversational)
        if a == b:
            raise RowError(m["response_b"], "response_a and response_b are identical")
        winner = value("winner")
        key = str(winner).strip().lower() if isinstance(winner, str | int) and not isinstance(winner, bool) else None
        if key not in WINNERS:
            raise RowError(m["winner"], f"must be 1/2, a/b or 0/tie (or both_bad), got {winner!r}")
        return [Row(prompt, (a, b), labels=(("", WINNERS[key]),), external_id=external_id)]
    if "completion" in m:
        completion = v.response(value("completion"), m["completion"], conversational=conversational)
        label = v.boolean(value("label"), m["label"], from_text=opts.file_type == "csv")
        return [Row(prompt, (completion,), labels=(("", "up" if label else "down"),), external_id=external_id)]
    return [Row(prompt, external_id=external_id)]


def kind(mapping: dict[str, str]) -> str | None:
    targets = set(mapping)
    if targets & {"chosen", "winner"}:
        return Project.Kind.PAIRWISE
    return Project.Kind.BINARY if "completion" in targets else None


def check_mapping(mapping: dict[str, str]) -> None:
    targets = set(mapping) - {"id"}
    if targets not in SHAPES:
        shapes = "; ".join("+".join(sorted(s)) for s in SHAPES)
        raise ImportFailed(f"mapping names {', '.join(sorted(targets)) or 'nothing'}: map exactly one of {shapes}")


FORMAT = register(
    Format(
        name="mapped",
        help="any columns, named with a mapping such as prompt=question, chosen=good, rejected=bad",
        read=read,
        kind=kind,
        map_targets=TARGETS,
        check_mapping=check_mapping,
    )
)
