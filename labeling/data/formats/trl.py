"""`trl`: TRL's preference format: `prompt`, `chosen`, `rejected`, standard text or conversational
(lists of `{role, content}`), or with the prompt implicit in `chosen`/`rejected` (their shared
start, found as TRL's `extract_prompt` does). The file's label: chosen (response A) is better. A
`category` column (as exports write it) is kept with the prompt."""

from __future__ import annotations

from typing import Any

from labeling.data import rows as v
from labeling.data.formats import Format, has_columns, register
from labeling.data.rows import Options, Row, RowError
from labeling.models import Project

HELP = "prompt, chosen, rejected (text or conversational; the prompt may be implicit)"


def read(record: dict, opts: Options) -> list[Row]:
    chosen, rejected = v.get(record, "chosen"), v.get(record, "rejected")
    metadata = v.category(record.get("category"))
    if record.get("prompt") is None:
        return [_implicit_prompt(chosen, rejected, metadata)]
    prompt = v.prompt(record["prompt"])
    conversational = isinstance(prompt, list)
    a = v.response(chosen, "chosen", conversational=conversational)
    b = v.response(rejected, "rejected", conversational=conversational)
    v.distinct(a, b)
    return [Row(prompt, (a, b), labels=(("", "a"),), metadata=metadata)]


def _implicit_prompt(chosen: Any, rejected: Any, metadata: dict[str, str]) -> Row:
    """TRL's implicit prompt: the longest shared start of `chosen` and `rejected`."""
    if isinstance(chosen, list) and isinstance(rejected, list):
        c, r = v.messages(chosen, "chosen"), v.messages(rejected, "rejected")
        n = next((i for i, (x, y) in enumerate(zip(c, r, strict=False)) if x != y), min(len(c), len(r)))
        if n == 0:
            raise RowError("chosen", "no prompt: the row has no 'prompt' and chosen/rejected share no first message")
        prompt = v.prompt(c[:n], "chosen")
        a = v.response(chosen[n:], "chosen", conversational=True)
        b = v.response(rejected[n:], "rejected", conversational=True)
    elif isinstance(chosen, str) and isinstance(rejected, str):
        v.distinct(chosen, rejected)
        n = next(
            (i for i, (x, y) in enumerate(zip(chosen, rejected, strict=False)) if x != y),
            min(len(chosen), len(rejected)),
        )
        if n and chosen[n - 1] == " ":  # as TRL does: the space before the answer belongs to the answer
            n -= 1
        prompt = v.text(chosen[:n], "chosen", what="prompt (the shared start of chosen and rejected)")
        a = v.text(chosen[n:], "chosen", what="response")
        b = v.text(rejected[n:], "rejected", what="response")
    else:
        raise RowError("rejected", f"chosen is {v.kind_of(chosen)} but rejected is {v.kind_of(rejected)}")
    v.distinct(a, b)
    return Row(prompt, (a, b), labels=(("", "a"),), metadata=metadata)


FORMAT = register(
    Format("trl", HELP, read, kind=Project.Kind.PAIRWISE, sniff=has_columns("prompt", "chosen", "rejected"))
)
