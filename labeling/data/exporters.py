"""Exporters: a project's judgments as rows in TRL's dataset formats, streamed to JSONL or Parquet.

Formats (columns):
- `preference`: `prompt`, `chosen`, `rejected`, from pairwise items;
- `unpaired` (KTO): `prompt`, `completion`, `label`, from binary items and, with `from_pairs`,
  from pairs too (chosen -> true, rejected -> false);
- `prompts`: `prompt`, every prompt of the project (for online methods);
- `raw`: one row per judgment (every judgment, whatever the policies) with a pseudonymous
  annotator id (an HMAC of the user id, or of the import source, under SECRET_KEY).

Policies for an item with several judgments: `majority` (a choice more than half of them
made), `unanimous` (all of them agree) or `every` (each judgment is its own row). Ties and
"both bad" answers are dropped before the vote (`drop`, the default) or count as votes (`keep`);
a kept tie or both-bad outcome of a pair becomes two preference rows, one each way round (no
side preferred, as Bradley-Terry reads a tie), and in the unpaired format both completions
true (tie) or both false (both bad).

Categories: when any prompt of the project has a `category` in its metadata (the mapped import's
`--map category=COLUMN`), preference, unpaired and prompts rows end with a `category` column (null
for a prompt without one); a project without categories exports exactly the columns above.

Form: `standard` (text prompt; completions as text) or `conversational` (prompt as a list of
`{role, content}` messages, completions as a list with one assistant message); `auto` picks
conversational when the project has conversation prompts.

Split, by prompt so that no prompt is on both sides: `all`, or `train`/`test` by each prompt's
stored split, or, with `test_size`, by a seeded hash of the prompt's content (stable whatever
else is in the project).

Byte-reproducible: rows in item then judgment id order, keys in a fixed order, fixed Parquet
writer settings; the same spec over the same judgments gives the same sha256. Streaming: rows
are read with `.iterator()`, written in small batches, so memory stays flat at any size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring  # the C encoder for one string (ensure_ascii=False)
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from labeling.data.rows import prompt_hash
from labeling.models import BY_A_JUDGE, DatasetSnapshot, Judgment, Project, Prompt

FORMATS = tuple(DatasetSnapshot.Format.values)  # the one list: DatasetSnapshot.Format
FILE_TYPES = tuple(DatasetSnapshot.FileType.values)
POLICIES = ("majority", "unanimous", "every")
KEEP_OR_DROP = ("drop", "keep")
FORMS = ("auto", "standard", "conversational")
SPLITS = ("all", "train", "test")
SOURCES = ("all", "human", "imported", "judges")  # judgments of annotators, of files, of AI judges
CHUNK = 5000  # rows fetched per database round trip
PARQUET_BATCH = 5000  # rows per Parquet row group (the rows of a batch are held in memory)


class ExportError(Exception):
    """The export cannot be written as asked; nothing is left behind."""


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ExportError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


@dataclass(frozen=True)
class ExportSpec:
    format: str = "preference"
    file_type: str = "jsonl"
    policy: str = "majority"
    ties: str = "drop"
    both_bad: str = "drop"
    form: str = "auto"
    split: str = "all"
    test_size: float | None = None
    seed: int = 0
    from_pairs: bool = False
    source: str = "all"

    def __post_init__(self) -> None:
        _one_of("format", self.format, FORMATS)
        _one_of("file_type", self.file_type, FILE_TYPES)
        _one_of("policy", self.policy, POLICIES)
        _one_of("ties", self.ties, KEEP_OR_DROP)
        _one_of("both_bad", self.both_bad, KEEP_OR_DROP)
        _one_of("form", self.form, FORMS)
        _one_of("split", self.split, SPLITS)
        _one_of("source", self.source, SOURCES)
        if self.test_size is not None:
            if (
                isinstance(self.test_size, bool)
                or not isinstance(self.test_size, int | float)
                or not 0 < self.test_size < 1
            ):
                raise ExportError(f"test_size must be a fraction between 0 and 1; got {self.test_size!r}")
            if self.split == "all":
                raise ExportError("test_size needs split train or test (which side to export)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ExportError(f"seed must be a whole number; got {self.seed!r}")

    @classmethod
    def from_dict(cls, data: dict) -> ExportSpec:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ExportError(f"unknown export option(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def for_file(cls, path: Path | str, **options: Any) -> ExportSpec:
        """A spec whose file type comes from the output file's suffix."""
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix not in FILE_TYPES:
            raise ExportError(f"{Path(path).name}: the output file must end in .jsonl or .parquet")
        return cls(file_type=suffix, **options)


@dataclass
class ExportResult:
    rows: int
    sha256: str
    size_bytes: int
    spec: ExportSpec  # with `form` resolved


# --- columns and writers ---------------------------------------------------------------------

TEXT, MESSAGES, BOOL, INT, OPTIONAL_TEXT = "text", "messages", "bool", "int", "optional_text"
RAW_COLUMNS = [
    ("item_id", INT),
    ("prompt_id", INT),
    ("annotator", OPTIONAL_TEXT),
    ("choice", TEXT),
    ("strength", INT),
    ("rationale", TEXT),
    ("left", TEXT),
    ("ms_taken", INT),
    ("source", TEXT),
    ("created_at", TEXT),
]


def _columns(spec: ExportSpec, *, categories: bool = False) -> list[tuple[str, str]]:
    value = MESSAGES if spec.form == "conversational" else TEXT
    columns = {
        "preference": [("prompt", value), ("chosen", value), ("rejected", value)],
        "unpaired": [("prompt", value), ("completion", value), ("label", BOOL)],
        "prompts": [("prompt", value)],
        "raw": RAW_COLUMNS,
    }[spec.format]
    return [*columns, ("category", OPTIONAL_TEXT)] if categories else columns


def has_categories(project: Project, spec: ExportSpec) -> bool:
    """Whether the export carries a `category` column: a prompt of the project has one (not for `raw`)."""
    return spec.format != "raw" and Prompt.objects.filter(project=project, metadata__has_key="category").exists()


def _category(value: object) -> str | None:
    return None if value is None else str(value)


class JsonlWriter:
    """One JSON object per line, keys in column order, UTF-8 as is (as `json.dumps(ensure_ascii=False)`)."""

    def __init__(self, path: Path, columns: list[tuple[str, str]]):
        self.file = open(path, "wb")
        self.digest = hashlib.sha256()
        self.template = "{" + ", ".join(f"{json.dumps(name)}: %s" for name, _ in columns) + "}\n"
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        self.encoders = [encode_basestring if kind == TEXT else dumps for _, kind in columns]
        self.all_text = all(kind == TEXT for _, kind in columns)
        self.lines: list[str] = []

    def write(self, row: tuple) -> None:
        if self.all_text:
            self.lines.append(self.template % tuple(map(encode_basestring, row)))
        else:
            self.lines.append(self.template % tuple([encode(v) for encode, v in zip(self.encoders, row, strict=True)]))
        if len(self.lines) >= 1000:
            self._flush()

    def _flush(self) -> None:
        data = "".join(self.lines).encode()
        self.digest.update(data)
        self.file.write(data)
        self.lines.clear()

    def close(self) -> str:
        self._flush()
        self.file.close()
        return self.digest.hexdigest()

    def abort(self) -> None:
        self.file.close()


class ParquetWriter:
    """Row groups of PARQUET_BATCH rows, zstd, fixed settings: the same rows give the same bytes."""

    def __init__(self, path: Path, columns: list[tuple[str, str]]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        types = {
            TEXT: pa.string(),
            OPTIONAL_TEXT: pa.string(),
            MESSAGES: pa.list_(message),
            BOOL: pa.bool_(),
            INT: pa.int64(),
        }
        self.schema = pa.schema([(name, types[kind]) for name, kind in columns])
        self.path = path
        self.writer = pq.ParquetWriter(
            path,
            self.schema,
            compression="zstd",
            compression_level=3,
            use_dictionary=True,
            write_statistics=True,
            version="2.6",
            data_page_size=1 << 20,
        )
        self.rows: list[tuple] = []

    def write(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        arrays = [self.pa.array(column, type=f.type) for column, f in zip(columns, self.schema, strict=True)]
        self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema), row_group_size=PARQUET_BATCH)
        self.rows.clear()

    def close(self) -> str:
        self._flush()
        self.writer.close()
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def abort(self) -> None:
        self.writer.close()


WRITERS: dict[str, type[JsonlWriter] | type[ParquetWriter]] = {"jsonl": JsonlWriter, "parquet": ParquetWriter}


# --- rows ------------------------------------------------------------------------------------


def pseudonym(key: str) -> str:
    """A stable, pseudonymous id: HMAC-SHA256 of `key` under SECRET_KEY, truncated."""
    return hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()[:16]


def in_test_split(prompt_key: str, seed: int, test_size: float) -> bool:
    """Seeded, per prompt, independent of the other prompts."""
    value = int(hashlib.sha256(f"{seed}:{prompt_key}".encode()).hexdigest()[:16], 16)
    return value / 2**64 < test_size


class _Prompts:
    """Turns stored prompts into exported values, and applies the split."""

    def __init__(self, spec: ExportSpec):
        self.spec = spec
        self.conversational = spec.form == "conversational"
        self.last_id: int | None = None
        self.last: tuple[bool, object] = (False, None)

    def get(
        self, prompt_id: int, text: str, conversation: str | list[dict[str, Any]] | None, content_hash: str
    ) -> tuple[bool, object]:
        """(kept by the split, the prompt as exported); remembers the last prompt (rows come grouped).

        `conversation` is None, a list of messages, or the same as JSON text."""
        if prompt_id != self.last_id:
            self.last_id = prompt_id
            messages = json.loads(conversation) if isinstance(conversation, str) else conversation
            self.last = (self.kept(text, messages, content_hash), self._value(prompt_id, text, messages))
        return self.last

    def kept(self, text: str, conversation: list[dict[str, Any]] | None, content_hash: str) -> bool:
        if self.spec.test_size is None:
            return True  # `all`, or filtered in the query by the stored split
        if not content_hash:
            content_hash = prompt_hash(conversation if conversation is not None else text)
        return in_test_split(content_hash, self.spec.seed, self.spec.test_size) == (self.spec.split == "test")

    def _value(self, prompt_id: int, text: str, conversation: list[dict[str, Any]] | None) -> str | list[dict]:
        if self.conversational:  # rebuilt, so that keys come out in one order whatever the database kept
            turns = conversation if conversation is not None else [{"role": "user", "content": text}]
            return [{"role": turn.get("role"), "content": turn.get("content")} for turn in turns]
        if conversation is None:
            return text
        if len(conversation) == 1 and conversation[0].get("role") == "user":
            return conversation[0].get("content", "")
        raise ExportError(
            f"prompt {prompt_id} is a conversation of {len(conversation)} turns: export it in conversational form"
        )

    def completion(self, text: str) -> str | list[dict[str, str]]:
        return [{"role": "assistant", "content": text}] if self.conversational else text


def _outcomes(choices: list[str], policy: str) -> list[str]:
    if len(choices) == 1 or policy == "every":  # one judgment is its own majority (and unanimous)
        return choices
    top, n = Counter(choices).most_common(1)[0]
    if policy == "unanimous":
        return [top] if n == len(choices) else []
    return [top] if 2 * n > len(choices) else []


def _judgments(project: Project, spec: ExportSpec, *, choices: list[str] | None = None):
    judgments = Judgment.objects.filter(item__project=project)
    if spec.source == "human":
        judgments = judgments.filter(annotator__isnull=False).exclude(BY_A_JUDGE)
    elif spec.source == "imported":
        judgments = judgments.filter(annotator__isnull=True)
    elif spec.source == "judges":
        judgments = judgments.filter(BY_A_JUDGE)
    if choices is not None:
        judgments = judgments.filter(choice__in=choices)
    if spec.split != "all" and spec.test_size is None:
        judgments = judgments.filter(item__prompt__split=spec.split)
    return judgments.order_by("item_id", "id")


def _counted_choices(spec: ExportSpec) -> list[str]:
    choices = ["a", "b", "up", "down"]
    if spec.ties == "keep":
        choices.append("tie")
    if spec.both_bad == "keep":
        choices.append("both_bad")
    return choices


def _streamed(queryset: QuerySet[Any, Any]):
    """The rows, fetched CHUNK at a time; the cursor is closed on the way out, even on an error
    (while the export's transaction is still open)."""
    return contextlib.closing(queryset.iterator(chunk_size=CHUNK))


def _grouped(rows: Iterable[tuple]) -> Iterator[tuple[tuple, list[str]]]:
    """(the first row of an item, the choices of all its rows), for rows ordered by item."""
    first, choices = None, []
    for row in rows:
        if first is not None and row[0] == first[0]:
            choices.append(row[1])
            continue
        if first is not None:
            yield first, choices
        first, choices = row, [row[1]]
    if first is not None:
        yield first, choices


def _items(project: Project, spec: ExportSpec, *, pairwise: bool | None, categories: bool = False):
    """(prompts, prompt value, text a, text b or None, outcomes, category) per judged item kept by the
    split (category: None unless `categories`)."""
    judgments = _judgments(project, spec, choices=_counted_choices(spec))
    if pairwise is not None:
        judgments = judgments.filter(item__response_b__isnull=not pairwise)
    fields = [
        "item_id",
        "choice",
        "item__prompt_id",
        "item__prompt__text",
        "conversation_json",
        "item__prompt__content_hash",
        "item__response_a__text",
        "item__response_b__text",
    ]
    rows = judgments.annotate(
        # as text, decoded once per prompt here rather than by a converter on every row
        conversation_json=Cast("item__prompt__conversation", TextField()),
    ).values_list(*fields, *(["item__prompt__metadata__category"] if categories else []))
    prompts = _Prompts(spec)
    policy = spec.policy
    with _streamed(rows) as rows:
        for row, choices in _grouped(rows):
            _, _, prompt_id, text, conversation_json, content_hash, a, b = row[:8]
            kept, prompt = prompts.get(prompt_id, text, conversation_json, content_hash)
            if kept:
                outcomes = choices if len(choices) == 1 else _outcomes(choices, policy)
                yield prompts, prompt, a, b, outcomes, _category(row[8]) if categories else None


def preference_rows(project: Project, spec: ExportSpec, *, categories: bool = False) -> Generator[tuple, None, None]:
    extra: tuple = ()
    for prompts, prompt, a, b, outcomes, category in _items(project, spec, pairwise=True, categories=categories):
        if prompts.conversational:
            a, b = prompts.completion(a), prompts.completion(b)
        if categories:
            extra = (category,)
        for outcome in outcomes:
            if outcome == "b":
                yield prompt, b, a, *extra
            else:
                yield prompt, a, b, *extra
                if outcome in ("tie", "both_bad"):  # no side preferred: the pair both ways round
                    yield prompt, b, a, *extra


PAIR_LABELS = {"a": (True, False), "b": (False, True), "tie": (True, True), "both_bad": (False, False)}


def unpaired_rows(project: Project, spec: ExportSpec, *, categories: bool = False) -> Generator[tuple, None, None]:
    pairwise = None if spec.from_pairs else False
    extra: tuple = ()
    for prompts, prompt, a, b, outcomes, category in _items(project, spec, pairwise=pairwise, categories=categories):
        if categories:
            extra = (category,)
        for outcome in outcomes:
            if b is None:
                yield prompt, prompts.completion(a), outcome == "up", *extra
            else:
                label_a, label_b = PAIR_LABELS[outcome]
                yield prompt, prompts.completion(a), label_a, *extra
                yield prompt, prompts.completion(b), label_b, *extra


def prompt_rows(project: Project, spec: ExportSpec, *, categories: bool = False) -> Generator[tuple, None, None]:
    queryset = Prompt.objects.filter(project=project)
    if spec.split != "all" and spec.test_size is None:
        queryset = queryset.filter(split=spec.split)
    prompts = _Prompts(spec)
    fields = ["id", "text", "conversation", "content_hash", *(["metadata__category"] if categories else [])]
    with _streamed(queryset.order_by("id").values_list(*fields)) as rows:
        for row in rows:
            kept, prompt = prompts.get(*row[:4])
            if kept:
                yield (prompt, _category(row[4])) if categories else (prompt,)


def raw_rows(project: Project, spec: ExportSpec, *, categories: bool = False) -> Generator[tuple, None, None]:
    prompts = _Prompts(spec)
    names: dict[str, str] = {}
    fields = (
        "item_id",
        "item__prompt_id",
        "annotator_id",
        "choice",
        "strength",
        "rationale",
        "left",
        "ms_taken",
        "source",
        "created_at",
        "item__prompt__text",
        "item__prompt__conversation",
        "item__prompt__content_hash",
    )
    with _streamed(_judgments(project, spec).values_list(*fields)) as rows:
        for row in rows:
            item_id, prompt_id, annotator_id, choice, strength, rationale, left, ms, source, created_at = row[:10]
            if spec.test_size is not None and not prompts.kept(*row[10:]):
                continue
            key = f"user:{annotator_id}" if annotator_id is not None else f"source:{source}"
            if key not in names:
                names[key] = pseudonym(key)
            yield (
                item_id,
                prompt_id,
                names[key],
                choice,
                strength,
                rationale,
                left,
                ms,
                source,
                created_at.isoformat(),
            )


ROWS: dict[str, Callable[..., Generator[tuple, None, None]]] = {  # (project, spec, *, categories)
    "preference": preference_rows,
    "unpaired": unpaired_rows,
    "prompts": prompt_rows,
    "raw": raw_rows,
}


def resolve(project: Project, spec: ExportSpec) -> ExportSpec:
    """The spec with `form: auto` made concrete."""
    if spec.form != "auto":
        return spec
    conversational = Prompt.objects.filter(project=project, conversation__isnull=False).exists()
    return dataclasses.replace(spec, form="conversational" if conversational else "standard")


def _reading():
    """Postgres: one transaction, so rows stream from a plain server-side cursor (outside one, Django
    declares it WITH HOLD, which materialises the whole result first). SQLite: none, since a
    transaction there takes the write lock (IMMEDIATE) and would block annotators meanwhile."""
    return transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()


def export(project: Project, spec: ExportSpec, out: Path | str) -> ExportResult:
    """Write the export to `out` (replaced only once complete) and return its row count and sha256."""
    out = Path(out)
    spec = resolve(project, spec)
    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    categories = has_categories(project, spec)
    writer = WRITERS[spec.file_type](part, _columns(spec, categories=categories))
    rows = 0
    try:
        with _reading():
            source = ROWS[spec.format](project, spec, categories=categories)
            try:
                for row in source:
                    writer.write(row)
                    rows += 1
            finally:
                source.close()  # closes the database cursor while its transaction is still open
        sha256 = writer.close()
    except BaseException:
        writer.abort()
        part.unlink(missing_ok=True)
        raise
    os.replace(part, out)
    return ExportResult(rows=rows, sha256=sha256, size_bytes=out.stat().st_size, spec=spec)
