"""`hh`: Anthropic HH-RLHF transcripts (`chosen`, `rejected`): the shared turns are the prompt (a
conversation ending with the human's turn), the last Assistant turns the two responses. An empty
response is what the model said and the annotators judged, so it is kept."""

from __future__ import annotations

import re

from labeling.data import rows as v
from labeling.data.formats import Format, register
from labeling.data.rows import Options, Row, RowError
from labeling.models import Project

HELP = "Anthropic HH transcripts (chosen, rejected)"

_TURN = re.compile(r"\n\n(Human|Assistant):")


def _turns(transcript: str, name: str) -> list[dict]:
    parts = _TURN.split(transcript)
    if parts[0].strip() or len(parts) < 3:
        raise RowError(name, "expected a transcript of '\\n\\nHuman: ...' and '\\n\\nAssistant: ...' turns")
    turns = [
        {"role": "user" if role == "Human" else "assistant", "content": text.strip()}
        for role, text in zip(parts[1::2], parts[2::2], strict=False)
    ]
    if turns[-1]["role"] != "assistant":
        raise RowError(name, "the transcript must end with an Assistant turn")
    return turns


def read(record: dict, opts: Options) -> list[Row]:
    chosen = v.text(v.get(record, "chosen"), "chosen", what="transcript")
    rejected = v.text(v.get(record, "rejected"), "rejected", what="transcript")
    if chosen == rejected:
        raise RowError("rejected", "the chosen and rejected transcripts are identical")
    c, r = _turns(chosen, "chosen"), _turns(rejected, "rejected")
    if c[:-1] != r[:-1]:
        raise RowError("rejected", "the conversation differs from chosen before the last Assistant turn")
    if len(c) < 2 or c[-2]["role"] != "user":
        raise RowError("chosen", "the last Assistant turn must answer a Human turn")
    a, b = c[-1]["content"], r[-1]["content"]
    v.distinct(a, b)
    return [Row(c[:-1], (a, b), labels=(("", "a"),))]


FORMAT = register(
    Format("hh", HELP, read, kind=Project.Kind.PAIRWISE, sniff=lambda columns: columns == {"chosen", "rejected"})
)
