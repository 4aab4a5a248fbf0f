"""`mapped`: any file, with `--map TARGET=COLUMN` naming the columns for `prompt` plus either
`chosen`/`rejected`, `response_a`/`response_b`/`winner`, `response_a`/`response_b`/`label` or
`completion`/`label` (and, in any shape, `id` and `category`).

Two ways of naming the better of two responses: `winner` is 1/2, a/b (or model_a/model_b), with
0/tie for a tie and both_bad; `label` with two responses is the 0-based index of the better one
(0 = response_a, 1 = response_b, 2 = a tie), as in Auto-J's pairwise test set. `category` (e.g.
`--map category=scenario`) is stored with the prompt as `metadata["category"]`; exports carry it."""

from __future__ import annotations

from typing import Any

from labeling.data import rows as v
from labeling.data.formats import Format, register
from labeling.data.rows import ImportFailed, Options, Row, RowError
from labeling.models import Project

HELP = "any columns, named with a mapping such as prompt=question, chosen=good, rejected=bad (category=COLUMN too)"

TARGETS = (
    "prompt",
    "chosen",
    "rejected",
    "response_a",
    "response_b",
    "winner",
    "completion",
    "label",
    "id",
    "category",
)
OPTIONAL = {"id", "category"}  # targets any shape may add
SHAPES = (  # the target sets a mapping may name (plus the optional ones)
    {"prompt", "chosen", "rejected"},
    {"prompt", "response_a", "response_b", "winner"},
    {"prompt", "response_a", "response_b", "label"},
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
INDEX_LABELS = {"0": "a", "1": "b", "2": "tie"}  # `label` with two responses: the better one's 0-based index


def read(record: dict, opts: Options) -> list[Row]:
    m = opts.mapping

    def value(target: str) -> Any:
        return v.get(record, target, m[target])

    prompt = v.prompt(value("prompt"), m["prompt"])
    conversational = isinstance(prompt, list)
    external_id = str(value("id"))[:200] if "id" in m else ""
    metadata = v.category(value("category"), m["category"]) if "category" in m else {}
    if "chosen" in m:
        a = v.response(value("chosen"), m["chosen"], conversational=conversational)
        b = v.response(value("rejected"), m["rejected"], conversational=conversational)
        v.distinct(a, b, m["rejected"])
        return [Row(prompt, (a, b), labels=(("", "a"),), external_id=external_id, metadata=metadata)]
    if "response_a" in m:
        a = v.response(value("response_a"), m["response_a"], conversational=conversational)
        b = v.response(value("response_b"), m["response_b"], conversational=conversational)
        if a == b:
            raise RowError(m["response_b"], "response_a and response_b are identical")
        if "winner" in m:
            winner = value("winner")
            key = _key(winner)
            if key not in WINNERS:
                raise RowError(m["winner"], f"must be 1/2, a/b or 0/tie (or both_bad), got {winner!r}")
            choice = WINNERS[key]
        else:
            label = value("label")
            key = _key(label)
            if key not in INDEX_LABELS:
                raise RowError(
                    m["label"], f"with two responses, the better one's index: 0 (a), 1 (b) or 2 (tie), got {label!r}"
                )
            choice = INDEX_LABELS[key]
        return [Row(prompt, (a, b), labels=(("", choice),), external_id=external_id, metadata=metadata)]
    if "completion" in m:
        completion = v.response(value("completion"), m["completion"], conversational=conversational)
        label = v.boolean(value("label"), m["label"], from_text=opts.file_type == "csv")
        return [
            Row(
                prompt,
                (completion,),
                labels=(("", "up" if label else "down"),),
                external_id=external_id,
                metadata=metadata,
            )
        ]
    return [Row(prompt, external_id=external_id, metadata=metadata)]


def _key(value: Any) -> str | None:
    """A label cell as a lookup key: text or a whole number, trimmed and lower-cased; None otherwise."""
    return str(value).strip().lower() if isinstance(value, str | int) and not isinstance(value, bool) else None


def kind(mapping: dict[str, str]) -> str | None:
    targets = set(mapping)
    if targets & {"chosen", "winner", "response_a"}:
        return Project.Kind.PAIRWISE
    return Project.Kind.BINARY if "completion" in targets else None


def check_mapping(mapping: dict[str, str]) -> None:
    targets = set(mapping) - OPTIONAL
    if targets not in SHAPES:
        shapes = "; ".join("+".join(sorted(s)) for s in SHAPES)
        raise ImportFailed(f"mapping names {', '.join(sorted(targets)) or 'nothing'}: map exactly one of {shapes}")


FORMAT = register(Format("mapped", HELP, read, kind=kind, map_targets=TARGETS, check_mapping=check_mapping))
