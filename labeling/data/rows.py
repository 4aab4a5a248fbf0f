"""What an import format produces (`Row`), the errors it raises, and the field validators it shares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")
MAX_DEPTH = 100  # nesting levels of a record (an OpenAssistant tree of 45 turns fits)
MAX_VOTES = 100_000  # labels one record may carry (an emoji count is a number of rows to write)
MAX_CATEGORY = 100  # characters of a category name


def printable(text: str) -> str:
    """`text` with anything that cannot be written as UTF-8 (a lone surrogate) escaped as \\udxxx."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ImportFailed(Exception):
    """The file cannot be imported; the message names the file, the line or row, and the field."""

    def __init__(self, message: str):
        super().__init__(printable(message))


class RowError(Exception):
    """One record is invalid; `field` names the column (or path inside it) at fault."""

    def __init__(self, field_name: str, reason: str):
        field_name, reason = printable(field_name), printable(reason)
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


def kind_of(value: Any) -> str:
    """How a value is described in an error: "a number", "a list", ..."""
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
        type(None): "null",
        bytes: "binary data",
    }.get(type(value), type(value).__name__)


def check_record(record: dict) -> None:
    """Refuse what no format can store: nesting deeper than MAX_DEPTH, strings that are not valid
    Unicode (a lone surrogate such as "\\ud800") or that hold a NUL character (databases refuse it)."""
    stack: list[tuple[Any, str, int]] = [(value, str(key), 1) for key, value in record.items()]
    for key in record:
        _check_string(key, str(key))
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RowError(path.split("[")[0].split(".")[0], f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str):
            _check_string(value, path)
        elif isinstance(value, dict):
            for key, child in value.items():
                _check_string(key, f"{path}.{key}" if isinstance(key, str) else path)
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(value))


def _check_string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise RowError(path, f"holds a NUL character (\\u0000) at character {value.index(chr(0)) + 1}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RowError(
            path,
            f"is not valid Unicode: a lone surrogate (\\u{ord(value[exc.start]):04x}) at character {exc.start + 1}",
        ) from None


def get(record: dict, name: str, column: str | None = None) -> Any:
    column = column or name
    if column not in record:
        raise RowError(column, "missing" if column == name else f"missing (mapped to {name})")
    return record[column]


def text(value: Any, name: str, *, allow_empty: bool = False, what: str = "text") -> str:
    if not isinstance(value, str):
        raise RowError(name, f"expected {what}, got {kind_of(value)}")
    if not allow_empty and not value.strip():
        raise RowError(name, f"empty {what}")
    return value


def messages(value: Any, name: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RowError(name, "expected a non-empty list of {role, content} messages")
    turns = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowError(f"{name}[{i}]", f"expected a {{role, content}} message, got {kind_of(message)}")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise RowError(f"{name}[{i}].role", f"must be system, user or assistant, got {role!r}")
        turns.append({"role": role, "content": text(message.get("content"), f"{name}[{i}].content")})
    return turns


def prompt(value: Any, name: str = "prompt") -> str | list[dict]:
    """A prompt: non-empty text, or a conversation ending with a user turn."""
    if isinstance(value, list):
        turns = messages(value, name)
        if turns[-1]["role"] != "user":
            raise RowError(name, f"a conversational prompt must end with a user turn, not {turns[-1]['role']}")
        return turns
    return text(value, name, what="prompt")


def response(value: Any, name: str, *, conversational: bool, allow_empty: bool = False) -> str:
    """A response: text (standard form) or a list holding one assistant message (conversational form)."""
    if not conversational:
        if isinstance(value, list):
            raise RowError(name, "expected text like the prompt, got a list of messages")
        return text(value, name, allow_empty=allow_empty, what="response")
    if not isinstance(value, list):
        raise RowError(name, f"expected a list with one assistant message like the prompt, got {kind_of(value)}")
    turns = messages(value, name)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise RowError(
            name, f"expected one assistant message, got {len(turns)} message(s) starting with {turns[0]['role']}"
        )
    return turns[0]["content"]


def boolean(value: Any, name: str, *, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise RowError(name, f"must be a boolean (true or false), got {value!r}")


def distinct(a: str, b: str, name: str = "rejected") -> None:
    if a == b:
        raise RowError(name, "chosen and rejected are identical")


def category(value: Any, column: str = "category") -> dict[str, str]:
    """The prompt metadata a `category` cell gives: {"category": name}, or {} for an empty or absent cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(column, f"expected a category name (text), got {kind_of(value)}")
    name = str(value).strip()
    if len(name) > MAX_CATEGORY:
        raise RowError(column, f"a category name has at most {MAX_CATEGORY} characters, got {len(name)}")
    return {"category": name}


def instruction_prompt(instruction: str, extra: Any) -> str:
    """Alpaca-style rows: the instruction, then its input (when there is one) after a blank line."""
    extra = text(extra or "", "input", allow_empty=True)
    joined = "\n\n".join(part for part in (instruction, extra) if part.strip())
    if not joined:
        raise RowError("instruction", "empty prompt: both the instruction and its input are empty")
    return joined


def prompt_hash(prompt: str | list[dict]) -> str:
    """The content hash that identifies a prompt within a project (text and conversations differ)."""
    canonical = json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
