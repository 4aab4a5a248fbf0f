"""Importers: read a preference data set from a file into a project, all or nothing.

`import_file` reads the file (JSONL, JSON array, CSV or Parquet; `.gz` for the text ones), turns
every record into `Row`s with the function of its format, validates them all, and only then
writes them, in one transaction: a bad row means nothing is written, unless `skip_invalid` asks
to leave bad rows out (each is reported with its line and reason).

Formats (one function each, `record -> [Row]`):
- `trl`: `prompt`, `chosen`, `rejected`, standard text or conversational (lists of
  `{role, content}`), or with the prompt implicit in `chosen`/`rejected` (the shared start,
  found as TRL's `extract_prompt` does);
- `trl-unpaired`: `prompt`, `completion`, `label` (a boolean) -> binary items;
- `hh`: Anthropic HH transcripts: the shared turns are the prompt (a conversation), the last
  Assistant turns the two responses;
- `pandalm`: one item per row, one judgment per `annotatorN` column (0 tie, 1 response1,
  2 response2); ties are kept;
- `oasst`: OpenAssistant message trees. Into a pairwise project, every pair of differently
  ranked assistant siblings becomes one item: the better-ranked reply is response A (the
  chosen side) and the file's label says so; siblings without a rank are ignored. Into a binary
  project, each assistant message with +1/-1 emoji votes becomes one item whose judgments are
  its votes (one "up" per +1, one "down" per -1). Deleted messages are left out;
- `prompts`: one prompt per row (`prompt`, `instruction` [+ `input`/`instances`], or MT-Bench
  `turns`, whose first turn is the prompt and whose turns are kept in the metadata);
- `mapped`: any file, with `--map TARGET=COLUMN` naming the columns for `prompt` plus either
  `chosen`/`rejected`, `response_a`/`response_b`/`winner` or `completion`/`label` (and `id`).

Labels that come with a file become judgments with no annotator whose `source` is
`import:<file name>` (`#annotatorN` added for multi-annotator files). They do not count toward
an item's `judgment_count` (that is the live human count that fills annotators' queues).

Empty responses: in `trl`, `trl-unpaired` and `mapped` files an empty `chosen`/`rejected`/
`completion` is a broken row. In the labelled campaigns (`hh`, `pandalm`, `oasst`) an empty
response is what a model returned and the annotators judged, so it is kept.

Re-importing the same bytes into the same project adds nothing (an `ImportBatch` remembers the
file's sha256); a prompt already in the project (same content hash) is reused, not duplicated.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from labeling.models import ImportBatch, Item, Judgment, Project, Prompt, Response

FORMATS = ("trl", "trl-unpaired", "hh", "pandalm", "oasst", "prompts", "mapped")
MAP_TARGETS = ("prompt", "chosen", "rejected", "response_a", "response_b", "winner", "completion", "label", "id")
MAPPED_SHAPES = (  # the target sets a mapping may name (plus an optional `id`)
    {"prompt", "chosen", "rejected"},
    {"prompt", "response_a", "response_b", "winner"},
    {"prompt", "completion", "label"},
    {"prompt"},
)
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
ROLES = ("system", "user", "assistant")
PAIRWISE, BINARY = Project.Kind.PAIRWISE, Project.Kind.BINARY
MAX_SKIPPED_KEPT = 1000
WINNERS = {
    "1": "a", "a": "a", "model_a": "a",
    "2": "b", "b": "b", "model_b": "b",
    "0": "tie", "tie": "tie",
    "both_bad": "both_bad", "tie (bothbad)": "both_bad",
}


def max_file_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024)


def max_row_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_ROW_BYTES", 1024 * 1024)


class ImportFailed(Exception):
    """The file cannot be imported; the message names the file, the line or row, and the field."""


class RowError(Exception):
    def __init__(self, field_name: str, reason: str):
        super().__init__(f"field '{field_name}': {reason}")
        self.field = field_name
        self.reason = reason


@dataclass
class Row:
    """One item to create (two responses: pairwise; one: binary; none: just the prompt)."""

    prompt: str | list[dict]
    responses: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()  # (annotator column or "", choice)
    sources: tuple[str, ...] = ()  # per response; "" means the file itself
    external_id: str = ""
    metadata: dict = field(default_factory=dict)
    where: str = ""


@dataclass
class Options:
    file_name: str
    file_type: str  # "jsonl", "json", "csv" or "parquet"
    kind: str  # the project's kind
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    prompts: int = 0
    items: int = 0
    judgments: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"where": "line 3", "reason": "..."}
    n_skipped: int = 0
    batch: ImportBatch | None = None
    already_imported: bool = False

    def counts(self) -> dict:
        return {"prompts": self.prompts, "items": self.items, "judgments": self.judgments, "skipped": self.n_skipped}


# --- small validators -------------------------------------------------------------------------


def _kind_of(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object",
            type(None): "null"}.get(type(value), type(value).__name__)


def _get(record: dict, name: str, column: str | None = None):
    column = column or name
    if column not in record:
        raise RowError(column, "missing" if column == name else f"missing (mapped to {name})")
    return record[column]


def _text(value, name: str, *, allow_empty: bool = False, what: str = "text") -> str:
    if not isinstance(value, str):
        raise RowError(name, f"expected {what}, got {_kind_of(value)}")
    if not allow_empty and not value.strip():
        raise RowError(name, f"empty {what}")
    return value


def _messages(value, name: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RowError(name, "expected a non-empty list of {role, content} messages")
    turns = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowError(f"{name}[{i}]", f"expected a {{role, content}} message, got {_kind_of(message)}")
        role = message.get("role")
        if role not in ROLES:
            raise RowError(f"{name}[{i}].role", f"must be system, user or assistant, got {role!r}")
        turns.append({"role": role, "content": _text(message.get("content"), f"{name}[{i}].content")})
    return turns


def _prompt(value, name: str = "prompt") -> str | list[dict]:
    """A prompt: non-empty text, or a conversation ending with a user turn."""
    if isinstance(value, list):
        turns = _messages(value, name)
        if turns[-1]["role"] != "user":
            raise RowError(name, f"a conversational prompt must end with a user turn, not {turns[-1]['role']}")
        return turns
    return _text(value, name, what="prompt")


def _response(value, name: str, *, conversational: bool, allow_empty: bool = False) -> str:
    """A response: text (standard form) or a list holding one assistant message (conversational form)."""
    if not conversational:
        if isinstance(value, list):
            raise RowError(name, "expected text like the prompt, got a list of messages")
        return _text(value, name, allow_empty=allow_empty, what="response")
    if not isinstance(value, list):
        raise RowError(name, f"expected a list with one assistant message like the prompt, got {_kind_of(value)}")
    turns = _messages(value, name)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise RowError(name, f"expected one assistant message, got {len(turns)} message(s) starting with {turns[0]['role']}")
    return turns[0]["content"]


def _bool(value, name: str, *, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise RowError(name, f"must be a boolean (true or false), got {value!r}")


def _distinct(a: str, b: str, name: str = "rejected") -> None:
    if a == b:
        raise RowError(name, "chosen and rejected are identical")


def prompt_hash(prompt: str | list[dict]) -> str:
    """The content hash that identifies a prompt within a project (text and conversations differ)."""
    canonical = json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- formats: record -> [Row] ----------------------------------------------------------------


def read_trl(record: dict, opts: Options) -> list[Row]:
    chosen, rejected = _get(record, "chosen"), _get(record, "rejected")
    if record.get("prompt") is None:
        return [_implicit_prompt(chosen, rejected)]
    prompt = _prompt(record["prompt"])
    conversational = isinstance(prompt, list)
    a = _response(chosen, "chosen", conversational=conversational)
    b = _response(rejected, "rejected", conversational=conversational)
    _distinct(a, b)
    return [Row(prompt, (a, b), labels=(("", "a"),))]


def _implicit_prompt(chosen, rejected) -> Row:
    """TRL's implicit prompt: the longest shared start of `chosen` and `rejected`."""
    if isinstance(chosen, list) and isinstance(rejected, list):
        c, r = _messages(chosen, "chosen"), _messages(rejected, "rejected")
        n = next((i for i, (x, y) in enumerate(zip(c, r)) if x != y), min(len(c), len(r)))
        if n == 0:
            raise RowError("chosen", "no prompt: the row has no 'prompt' and chosen/rejected share no first message")
        prompt = _prompt(c[:n], "chosen")
        a = _response(chosen[n:], "chosen", conversational=True)
        b = _response(rejected[n:], "rejected", conversational=True)
    elif isinstance(chosen, str) and isinstance(rejected, str):
        _distinct(chosen, rejected)
        n = next((i for i, (x, y) in enumerate(zip(chosen, rejected)) if x != y), min(len(chosen), len(rejected)))
        if n and chosen[n - 1] == " ":  # as TRL does: the space before the answer belongs to the answer
            n -= 1
        prompt = _text(chosen[:n], "chosen", what="prompt (the shared start of chosen and rejected)")
        a = _text(chosen[n:], "chosen", what="response")
        b = _text(rejected[n:], "rejected", what="response")
    else:
        raise RowError("rejected", f"chosen is {_kind_of(chosen)} but rejected is {_kind_of(rejected)}")
    _distinct(a, b)
    return Row(prompt, (a, b), labels=(("", "a"),))


def read_trl_unpaired(record: dict, opts: Options) -> list[Row]:
    prompt = _prompt(_get(record, "prompt"))
    completion = _response(_get(record, "completion"), "completion", conversational=isinstance(prompt, list))
    label = _bool(_get(record, "label"), "label", from_text=opts.file_type == "csv")
    return [Row(prompt, (completion,), labels=(("", "up" if label else "down"),))]


_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


def _hh_turns(transcript: str, name: str) -> list[dict]:
    parts = _HH_TURN.split(transcript)
    if parts[0].strip() or len(parts) < 3:
        raise RowError(name, "expected a transcript of '\\n\\nHuman: ...' and '\\n\\nAssistant: ...' turns")
    turns = [{"role": "user" if role == "Human" else "assistant", "content": text.strip()}
             for role, text in zip(parts[1::2], parts[2::2])]
    if turns[-1]["role"] != "assistant":
        raise RowError(name, "the transcript must end with an Assistant turn")
    return turns


def read_hh(record: dict, opts: Options) -> list[Row]:
    chosen = _text(_get(record, "chosen"), "chosen", what="transcript")
    rejected = _text(_get(record, "rejected"), "rejected", what="transcript")
    if chosen == rejected:
        raise RowError("rejected", "the chosen and rejected transcripts are identical")
    c, r = _hh_turns(chosen, "chosen"), _hh_turns(rejected, "rejected")
    if c[:-1] != r[:-1]:
        raise RowError("rejected", "the conversation differs from chosen before the last Assistant turn")
    if len(c) < 2 or c[-2]["role"] != "user":
        raise RowError("chosen", "the last Assistant turn must answer a Human turn")
    a, b = c[-1]["content"], r[-1]["content"]
    _distinct(a, b)
    return [Row(c[:-1], (a, b), labels=(("", "a"),))]


def _instruction_prompt(instruction: str, extra) -> str:
    """Alpaca-style rows: the instruction, then its input (when there is one) after a blank line."""
    extra = _text(extra or "", "input", allow_empty=True)
    prompt = "\n\n".join(part for part in (instruction, extra) if part.strip())
    if not prompt:
        raise RowError("instruction", "empty prompt: both the instruction and its input are empty")
    return prompt


_ANNOTATOR = re.compile(r"annotator(\d+)")
_PANDALM = {0: "tie", 1: "a", 2: "b"}


def _loose_text(value, name: str) -> str:
    """PandaLM stores a few one-word answers as JSON booleans (`true`): read them back as text."""
    if isinstance(value, bool | int | float):
        return str(value)
    return _text(value, name, allow_empty=True, what="response")


def read_pandalm(record: dict, opts: Options) -> list[Row]:
    instruction = _text(_get(record, "instruction"), "instruction", allow_empty=True, what="instruction")
    prompt = _instruction_prompt(instruction, record.get("input"))
    a, b = _loose_text(_get(record, "response1"), "response1"), _loose_text(_get(record, "response2"), "response2")
    _distinct(a, b, "response2")
    columns = sorted((k for k in record if _ANNOTATOR.fullmatch(k)), key=lambda k: int(k[9:]))
    if not columns:
        raise RowError("annotator1", "missing: expected annotator1, annotator2, ... columns")
    labels = []
    for column in columns:
        value = record[column]
        if isinstance(value, bool) or value not in _PANDALM:
            raise RowError(column, f"must be 0 (tie), 1 (response1 better) or 2 (response2 better), got {value!r}")
        labels.append((column, _PANDALM[value]))
    models = str(record.get("cmp_key", "")).split("_")
    sources = tuple(f"model:{m}" for m in models) if len(models) == 2 and all(models) else ()
    metadata = {k: record[k] for k in ("motivation_app",) if isinstance(record.get(k), str)}
    return [Row(prompt, (a, b), labels=tuple(labels), sources=sources, metadata=metadata)]


def read_oasst(record: dict, opts: Options) -> list[Row]:
    root = _get(record, "prompt")
    if not isinstance(root, dict):
        raise RowError("prompt", f"expected the tree's root message, got {_kind_of(root)}")
    rows: list[Row] = []

    def turn(message: dict, path: str) -> dict:
        role = message.get("role")
        if role not in ("prompter", "assistant"):
            raise RowError(f"{path}.role", f"must be prompter or assistant, got {role!r}")
        text = _text(message.get("text"), f"{path}.text", allow_empty=role == "assistant")
        return {"role": "user" if role == "prompter" else "assistant", "content": text}

    def source(message: dict) -> str:
        name = message.get("model_name")
        return f"model:{name}" if isinstance(name, str) and name else ""

    def walk(message: dict, path: str, history: list[dict]) -> None:
        replies = message.get("replies") or []
        if not isinstance(replies, list):
            raise RowError(f"{path}.replies", f"expected a list of messages, got {_kind_of(replies)}")
        children = []
        for i, reply in enumerate(replies):
            child_path = f"{path}.replies[{i}]"
            if not isinstance(reply, dict):
                raise RowError(child_path, f"expected a message, got {_kind_of(reply)}")
            if not reply.get("deleted"):
                children.append((reply, child_path, turn(reply, child_path)))
        if opts.kind == PAIRWISE and history[-1]["role"] == "user":
            ranked = []
            for reply, child_path, reply_turn in children:
                rank = reply.get("rank")
                if rank is None:
                    continue
                if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
                    raise RowError(f"{child_path}.rank", f"must be a whole number (0 is best), got {rank!r}")
                ranked.append((rank, reply_turn["content"], source(reply)))
            for x, y in itertools.combinations(ranked, 2):
                if x[0] != y[0]:
                    better, worse = (x, y) if x[0] < y[0] else (y, x)
                    if better[1] != worse[1]:
                        rows.append(Row(list(history), (better[1], worse[1]), labels=(("", "a"),),
                                        sources=(better[2], worse[2])))
        if opts.kind == BINARY and history[-1]["role"] == "assistant" and len(history) > 1:
            emojis = message.get("emojis") or {}
            votes = []
            for emoji, choice in (("+1", "up"), ("-1", "down")):
                n = emojis.get(emoji, 0) if isinstance(emojis, dict) else None
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise RowError(f"{path}.emojis", f"vote counts must be whole numbers, got {emojis!r}")
                votes += [("", choice)] * n
            if votes:
                rows.append(Row(history[:-1], (history[-1]["content"],), labels=tuple(votes), sources=(source(message),)))
        for reply, child_path, reply_turn in children:
            walk(reply, child_path, history + [reply_turn])

    root_turn = turn(root, "prompt")
    if root_turn["role"] != "user":
        raise RowError("prompt.role", "the root of a message tree must be a prompter message")
    walk(root, "prompt", [root_turn])
    return rows


_PROMPT_IDS = ("id", "uid", "question_id", "idx")
_PROMPT_META = ("category", "cluster", "motivation_app")


def read_prompts(record: dict, opts: Options) -> list[Row]:
    metadata = {k: record[k] for k in _PROMPT_META if isinstance(record.get(k), str)}
    if "prompt" in opts.mapping or "prompt" in record:
        prompt = _prompt(_get(record, "prompt", opts.mapping.get("prompt")), opts.mapping.get("prompt", "prompt"))
    elif "turns" in record:  # MT-Bench: the first turn is the prompt; the follow-up needs an answer first
        turns = record["turns"]
        if not isinstance(turns, list) or not turns:
            raise RowError("turns", "expected a non-empty list of questions")
        prompt = _text(turns[0], "turns[0]", what="prompt")
        metadata["turns"] = [_text(t, f"turns[{i}]", what="prompt") for i, t in enumerate(turns)]
    elif "instruction" in record:  # self-instruct / Alpaca: instruction, plus its input when there is one
        extra = record.get("input")
        instances = record.get("instances")
        if extra is None and isinstance(instances, list) and instances and isinstance(instances[0], dict):
            extra = instances[0].get("input")
        prompt = _instruction_prompt(_text(record["instruction"], "instruction", allow_empty=True), extra)
    else:
        raise RowError("prompt", "missing: expected a 'prompt', 'instruction' or 'turns' field (or --map prompt=COLUMN)")
    id_column = opts.mapping.get("id") or next((k for k in _PROMPT_IDS if k in record), None)
    external_id = str(_get(record, "id", id_column)) if id_column else ""
    return [Row(prompt, external_id=external_id[:200], metadata=metadata)]


def read_mapped(record: dict, opts: Options) -> list[Row]:
    m = opts.mapping

    def value(target: str):
        return _get(record, target, m[target])

    prompt = _prompt(value("prompt"), m["prompt"])
    conversational = isinstance(prompt, list)
    external_id = str(value("id"))[:200] if "id" in m else ""
    if "chosen" in m:
        a = _response(value("chosen"), m["chosen"], conversational=conversational)
        b = _response(value("rejected"), m["rejected"], conversational=conversational)
        _distinct(a, b, m["rejected"])
        return [Row(prompt, (a, b), labels=(("", "a"),), external_id=external_id)]
    if "winner" in m:
        a = _response(value("response_a"), m["response_a"], conversational=conversational)
        b = _response(value("response_b"), m["response_b"], conversational=conversational)
        if a == b:
            raise RowError(m["response_b"], "response_a and response_b are identical")
        winner = value("winner")
        key = str(winner).strip().lower() if isinstance(winner, str | int) and not isinstance(winner, bool) else None
        if key not in WINNERS:
            raise RowError(m["winner"], f"must be 1/2, a/b or 0/tie (or both_bad), got {winner!r}")
        return [Row(prompt, (a, b), labels=(("", WINNERS[key]),), external_id=external_id)]
    if "completion" in m:
        completion = _response(value("completion"), m["completion"], conversational=conversational)
        label = _bool(value("label"), m["label"], from_text=opts.file_type == "csv")
        return [Row(prompt, (completion,), labels=(("", "up" if label else "down"),), external_id=external_id)]
    return [Row(prompt, external_id=external_id)]


READERS: dict[str, Callable[[dict, Options], list[Row]]] = {
    "trl": read_trl,
    "trl-unpaired": read_trl_unpaired,
    "hh": read_hh,
    "pandalm": read_pandalm,
    "oasst": read_oasst,
    "prompts": read_prompts,
    "mapped": read_mapped,
}


def format_kind(fmt: str, mapping: dict[str, str] | None = None) -> str | None:
    """The project kind a format's items need; None when it fits either kind."""
    if fmt in ("trl", "hh", "pandalm"):
        return PAIRWISE
    if fmt == "trl-unpaired":
        return BINARY
    if fmt == "mapped":
        targets = set(mapping or {})
        return PAIRWISE if targets & {"chosen", "winner"} else BINARY if "completion" in targets else None
    return None


def parse_mapping(pairs: list[str] | str | None) -> dict[str, str]:
    """`["prompt=question", "chosen=good"]` (or the same, one per line or comma-separated) -> dict."""
    if isinstance(pairs, str):
        pairs = [p for p in re.split(r"[\n,]", pairs) if p.strip()]
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        target, sep, column = pair.partition("=")
        target, column = target.strip(), column.strip()
        if not sep or not target or not column:
            raise ImportFailed(f"mapping {pair.strip()!r}: write it as TARGET=COLUMN, e.g. prompt=question")
        if target not in MAP_TARGETS:
            raise ImportFailed(f"mapping {pair.strip()!r}: unknown target {target!r}; targets are {', '.join(MAP_TARGETS)}")
        if target in mapping:
            raise ImportFailed(f"mapping: target {target!r} is named twice")
        mapping[target] = column
    return mapping


def check_mapping(fmt: str, mapping: dict[str, str]) -> None:
    if fmt == "mapped":
        targets = set(mapping) - {"id"}
        if targets not in MAPPED_SHAPES:
            shapes = "; ".join("+".join(sorted(s)) for s in MAPPED_SHAPES)
            raise ImportFailed(f"mapping names {', '.join(sorted(targets)) or 'nothing'}: map exactly one of {shapes}")
    elif fmt == "prompts":
        if set(mapping) - {"prompt", "id"}:
            raise ImportFailed("the prompts format takes only --map prompt=COLUMN and id=COLUMN")
    elif mapping:
        raise ImportFailed(f"--map is for the mapped and prompts formats, not {fmt}")


# --- reading files ---------------------------------------------------------------------------


def file_type_of(file_name: str) -> str:
    name = file_name.lower().removesuffix(".gz")
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            if suffix == ".parquet" and file_name.lower().endswith(".gz"):
                break
            return suffix[1:]
    raise ImportFailed(f"{file_name}: unsupported file type; use .jsonl, .json, .csv or .parquet (.gz for the text ones)")


def _not_utf8(name: str, where: str, raw: bytes, position: int) -> ImportFailed:
    hint = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
    return ImportFailed(
        f"{name}: {where}: not UTF-8 text{hint}: byte 0x{raw[position]:02x} at position {position + 1}; "
        "save the file as UTF-8"
    )


def _decode(raw: bytes, name: str, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(name, where, raw, exc.start) from None


def _decode_file(data: bytes, name: str) -> str:
    """The whole file as text; a decoding error names the line it is on."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        raise _not_utf8(name, f"line {line}", data[line_start:], exc.start - line_start) from None


def _read_limited(stream, name: str) -> bytes:
    limit = max_file_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImportFailed(f"{name}: over the upload limit of {limit:,} bytes (once decompressed)")
    return data


def _too_big(name: str, where: str, size: int | None = None) -> ImportFailed:
    size_text = f"is {size:,} bytes, " if size is not None else "is "
    return ImportFailed(f"{name}: {where}: the row {size_text}over the limit of {max_row_bytes():,} bytes per row")


def _open(path: Path, name: str):
    if name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _records_jsonl(path: Path, name: str) -> Iterator[tuple[str, dict]]:
    limit, total = max_row_bytes(), 0
    try:
        with _open(path, name) as stream:
            for n in itertools.count(1):
                raw = stream.readline(limit + 2)
                if not raw:
                    return
                total += len(raw)
                where = f"line {n}"
                if total > max_file_bytes():
                    raise ImportFailed(f"{name}: over the upload limit of {max_file_bytes():,} bytes (once decompressed)")
                if len(raw.rstrip(b"\r\n")) > limit:
                    raise _too_big(name, where)
                text = _decode(raw, name, where)
                text = text.rstrip("\r\n")
                if n == 1:
                    text = text.removeprefix("\ufeff")
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ImportFailed(f"{name}: {where}: bad JSON: {exc.msg} at column {exc.colno}") from None
                if not isinstance(record, dict):
                    raise ImportFailed(f"{name}: {where}: expected a JSON object, got {_kind_of(record)}")
                yield where, record
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ImportFailed(f"{name}: cannot read the file: {exc}") from None


def _records_json(path: Path, name: str) -> Iterator[tuple[str, dict]]:
    try:
        with _open(path, name) as stream:
            data = _read_limited(stream, name)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ImportFailed(f"{name}: cannot read the file: {exc}") from None
    text = _decode_file(data, name)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{name}: line {exc.lineno}: bad JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, list):
        raise ImportFailed(f"{name}: expected a JSON array of objects (or use .jsonl), got {_kind_of(value)}")
    for n, record in enumerate(value, 1):
        if not isinstance(record, dict):
            raise ImportFailed(f"{name}: row {n}: expected a JSON object, got {_kind_of(record)}")
        size = len(json.dumps(record, ensure_ascii=False).encode())
        if size > max_row_bytes():
            raise _too_big(name, f"row {n}", size)
        yield f"row {n}", record


def _records_csv(path: Path, name: str, mapping: dict[str, str]) -> Iterator[tuple[str, dict]]:
    try:
        with _open(path, name) as stream:
            data = _read_limited(stream, name)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ImportFailed(f"{name}: cannot read the file: {exc}") from None
    text = _decode_file(data, name)
    csv.field_size_limit(max(max_row_bytes(), 1024))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        columns = reader.fieldnames
        if not columns:
            raise ImportFailed(f"{name}: the file is empty (a CSV file needs a header line)")
        for target, column in mapping.items():
            if column not in columns:
                raise ImportFailed(
                    f"{name}: line 1: field '{column}' (mapped to {target}) is not a column; "
                    f"the columns are {', '.join(columns)}"
                )
        for record in reader:
            where = f"line {reader.line_num}"
            if None in record:
                raise ImportFailed(f"{name}: {where}: more fields than the header's {len(columns)} columns")
            if any(v is None for v in record.values()):
                raise ImportFailed(f"{name}: {where}: fewer fields than the header's {len(columns)} columns")
            size = sum(len(v.encode()) for v in record.values())
            if size > max_row_bytes():
                raise _too_big(name, where, size)
            yield where, record
    except csv.Error as exc:
        raise ImportFailed(f"{name}: line {reader.line_num}: bad CSV: {exc}") from None


def _records_parquet(path: Path, name: str, mapping: dict[str, str]) -> Iterator[tuple[str, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ImportFailed(f"{name}: not a readable Parquet file ({exc})") from None
    columns = parquet.schema_arrow.names
    for target, column in mapping.items():
        if column not in columns:
            raise ImportFailed(
                f"{name}: field '{column}' (mapped to {target}) is not a column; the columns are {', '.join(columns)}"
            )
    n = 0
    for batch in parquet.iter_batches(batch_size=1000):
        for record in batch.to_pylist():
            n += 1
            size = len(json.dumps(record, ensure_ascii=False, default=str).encode())
            if size > max_row_bytes():
                raise _too_big(name, f"row {n}", size)
            yield f"row {n}", record


def read_records(path: Path, name: str, mapping: dict[str, str] | None = None) -> Iterator[tuple[str, dict]]:
    """(where, record) for every record of the file: where is "line N" (JSONL, CSV) or "row N"."""
    size = os.path.getsize(path)
    if size > max_file_bytes():
        raise ImportFailed(f"{name}: the file is {size:,} bytes, over the upload limit of {max_file_bytes():,} bytes")
    file_type = file_type_of(name)
    if file_type == "jsonl":
        return _records_jsonl(path, name)
    if file_type == "json":
        return _records_json(path, name)
    if file_type == "csv":
        return _records_csv(path, name, mapping or {})
    return _records_parquet(path, name, mapping or {})


# --- the import ------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_rows(path: Path, name: str, fmt: str, kind: str, mapping: dict[str, str], *, skip_invalid: bool,
               limit: int | None = None) -> tuple[list[Row], list[dict], int]:
    """Every row of the file, validated. Raises ImportFailed at the first bad row unless `skip_invalid`."""
    if fmt not in READERS:
        raise ImportFailed(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
    check_mapping(fmt, mapping)
    opts = Options(file_name=name, file_type=file_type_of(name), kind=kind, mapping=mapping)
    read = READERS[fmt]
    rows: list[Row] = []
    skipped: list[dict] = []
    n_skipped = 0
    n_records = 0
    for where, record in read_records(path, name, mapping):
        n_records += 1
        try:
            new_rows = read(record, opts)
        except RowError as exc:
            if not skip_invalid:
                raise ImportFailed(f"{name}: {where}: {exc}") from None
            n_skipped += 1
            if len(skipped) < MAX_SKIPPED_KEPT:
                skipped.append({"where": where, "field": exc.field, "reason": exc.reason})
            continue
        for row in new_rows:
            row.where = where
        rows.extend(new_rows)
        if limit is not None and n_records >= limit:
            break
    if n_records == 0:
        raise ImportFailed(f"{name}: the file holds no rows")
    return rows, skipped, n_skipped


def ensure_project(slug: str, *, kind: str | None = None, name: str | None = None) -> Project:
    """The project `slug`, created (with no members) when it does not exist yet."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        project = Project.objects.create(slug=slug, name=name or slug, kind=kind or PAIRWISE)
    return project


def import_file(project: Project, path: Path | str, *, fmt: str, file_name: str | None = None,
                mapping: dict[str, str] | None = None, skip_invalid: bool = False, user=None) -> ImportResult:
    """Import one file into `project` in one transaction; see the module docstring for the formats."""
    path = Path(path)
    name = Path(file_name or path.name).name[:200]
    mapping = mapping or {}
    needed = format_kind(fmt, mapping)
    if needed is not None and needed != project.kind:
        raise ImportFailed(f"{name}: the {fmt} format makes {needed} items, but project '{project.slug}' is {project.kind}")
    sha = file_sha256(path)
    earlier = ImportBatch.objects.filter(project=project, sha256=sha).first()
    if earlier is not None:
        return ImportResult(batch=earlier, already_imported=True)
    rows, skipped, n_skipped = parse_rows(path, name, fmt, project.kind, mapping, skip_invalid=skip_invalid)
    options = {"mapping": mapping, "skip_invalid": skip_invalid}
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                project=project, file_name=name, sha256=sha, format=fmt, options=options,
                skipped=skipped, created_by=user if user is not None and user.is_authenticated else None,
            )
            result = _write_rows(project, rows, name)
            result.skipped, result.n_skipped, result.batch = skipped, n_skipped, batch
            batch.counts = result.counts()
            batch.save(update_fields=["counts"])
    except IntegrityError:
        earlier = ImportBatch.objects.filter(project=project, sha256=sha).first()
        if earlier is None:
            raise
        return ImportResult(batch=earlier, already_imported=True)  # a twin upload won the race
    return result


def _write_rows(project: Project, rows: list[Row], name: str) -> ImportResult:
    """The shared writer: Row -> Prompt / Response / Item / Judgment, with bulk inserts."""
    file_source = f"import:{name}"
    hashes = [prompt_hash(row.prompt) for row in rows]
    prompts: dict[str, Prompt] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        for prompt in Prompt.objects.filter(project=project, content_hash__in=chunk):
            prompts.setdefault(prompt.content_hash, prompt)
    new_prompts = []
    for row, h in zip(rows, hashes):
        if h not in prompts:
            is_text = isinstance(row.prompt, str)
            prompts[h] = Prompt(
                project=project, text=row.prompt if is_text else "", conversation=None if is_text else row.prompt,
                external_id=row.external_id, metadata=row.metadata, content_hash=h,
            )
            new_prompts.append(prompts[h])
    Prompt.objects.bulk_create(new_prompts, batch_size=500)

    def keys(row: Row, h: str) -> list[tuple[str, str, str]]:
        sources = row.sources or ("",) * len(row.responses)
        return [(h, text, (source or f"dataset:{name}")[:200]) for text, source in zip(row.responses, sources)]

    responses: dict[tuple[str, str, str], Response] = {}  # one Response per prompt, text and source
    for row, h in zip(rows, hashes):
        for key in keys(row, h):
            responses.setdefault(key, Response(prompt=prompts[h], text=key[1], source=key[2]))
    Response.objects.bulk_create(list(responses.values()), batch_size=500)

    items = []
    for row, h in zip(rows, hashes):
        if not row.responses:
            continue
        found = [responses[key] for key in keys(row, h)]
        items.append(Item(project=project, prompt=prompts[h], response_a=found[0],
                          response_b=found[1] if len(found) > 1 else None))
    Item.objects.bulk_create(items, batch_size=500)

    judgments = []
    labelled = (row for row in rows if row.responses)
    for item, row in zip(items, labelled):
        for column, choice in row.labels:
            judgments.append(Judgment(
                item=item, annotator=None, choice=choice, client_token=f"import-{uuid.uuid4().hex}",
                source=(f"{file_source}#{column}" if column else file_source)[:200],
            ))
    Judgment.objects.bulk_create(judgments, batch_size=1000)
    return ImportResult(prompts=len(new_prompts), items=len(items), judgments=len(judgments))


@dataclass
class Preview:
    columns: list[str]
    records: list[tuple[str, dict]]  # the first raw records, as read
    rows: list[Row]  # what they become
    skipped: list[dict]
    error: str = ""


def preview_file(path: Path | str, *, fmt: str, kind: str, file_name: str | None = None,
                 mapping: dict[str, str] | None = None, limit: int = 5) -> Preview:
    """The first `limit` records of the file and the rows they would become (nothing is written)."""
    path = Path(path)
    name = Path(file_name or path.name).name
    mapping = mapping or {}
    records: list[tuple[str, dict]] = []
    try:
        for where, record in read_records(path, name, mapping):
            records.append((where, record))
            if len(records) >= limit:
                break
        columns = list(dict.fromkeys(k for _, r in records for k in r))
        rows, skipped, _ = parse_rows(path, name, fmt, kind, mapping, skip_invalid=True, limit=limit)
    except ImportFailed as exc:
        columns = list(dict.fromkeys(k for _, r in records for k in r))
        return Preview(columns=columns, records=records, rows=[], skipped=[], error=str(exc))
    return Preview(columns=columns, records=records, rows=rows, skipped=skipped)


# --- uploads ---------------------------------------------------------------------------------

STAGED = re.compile(r"^[0-9a-f]{64}\.(?:(?:jsonl|json|csv)(?:\.gz)?|parquet)$")


def _staging_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage_upload(upload) -> str:
    """Keep an uploaded file until its import is confirmed; returns its token, `<sha256>.<ext>`.

    Refuses a file of an unsupported type or over the upload limit before storing anything.
    """
    name = Path(upload.name or "upload").name
    file_type = file_type_of(name)
    if upload.size > max_file_bytes():
        raise ImportFailed(f"{name}: the file is {upload.size:,} bytes, over the upload limit of {max_file_bytes():,} bytes")
    ext = file_type + (".gz" if name.lower().endswith(".gz") else "")
    folder = _staging_dir()
    part = folder / f".upload-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    try:
        with open(part, "wb") as f:
            for chunk in upload.chunks():
                digest.update(chunk)
                f.write(chunk)
        token = f"{digest.hexdigest()}.{ext}"
        os.replace(part, folder / token)
    finally:
        part.unlink(missing_ok=True)
    return token


def staged_path(token: str) -> Path:
    if not STAGED.match(token or ""):
        raise ImportFailed("unknown upload; upload the file again")
    path = _staging_dir() / token
    if not path.is_file():
        raise ImportFailed("the uploaded file is no longer here; upload it again")
    return path


def staged_name(token: str, file_name: str) -> str:
    """The name to report the staged file under: the uploaded name when it matches the stored type."""
    name = Path(file_name or "").name[:200]
    ext = token.split(".", 1)[1]
    return name if name.lower().endswith("." + ext) else f"upload.{ext}"


def discard_staged(token: str) -> None:
    if STAGED.match(token or ""):
        (_staging_dir() / token).unlink(missing_ok=True)
