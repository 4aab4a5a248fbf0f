"""Reading an uploaded file into records: JSONL, a JSON array, CSV or Parquet (`.gz` for the text ones).

Every failure is an `ImportFailed` naming the file and the line ("line N": JSONL, CSV, JSON) or
row ("row N": a JSON array, Parquet): bad JSON, JSON nested too deeply or with a number too long
to read, text that is not UTF-8, a corrupt .gz, a row or a file over its size limit.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.data.rows import ImportFailed, kind_of

FILE_TYPES = ("jsonl", "json", "csv", "parquet")  # the file types an import reads (one list: forms, CLI, API)
COMPRESSIBLE = ("jsonl", "json", "csv")  # may come gzip-compressed (.gz)
FILE_HELP = ".jsonl, .json, .csv or .parquet (.gz for the text ones)"
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


def max_file_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024)


def max_row_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_ROW_BYTES", 1024 * 1024)


def file_type_of(file_name: str) -> str:
    lower = file_name.lower()
    gz = lower.endswith(".gz")
    base = lower.removesuffix(".gz")
    for file_type in FILE_TYPES:
        if base.endswith("." + file_type) and (not gz or file_type in COMPRESSIBLE):
            return file_type
    raise ImportFailed(f"{file_name}: unsupported file type; use {FILE_HELP}")


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


def _read_limited(stream: io.BufferedIOBase, name: str) -> bytes:
    limit = max_file_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImportFailed(f"{name}: over the upload limit of {limit:,} bytes (once decompressed)")
    return data


def _read_all(path: Path, name: str) -> bytes:
    try:
        with _open(path, name) as stream:
            return _read_limited(stream, name)
    except _READ_ERRORS as exc:
        raise _unreadable(name, exc) from None


def _unreadable(name: str, exc: BaseException) -> ImportFailed:
    if isinstance(exc, zlib.error | gzip.BadGzipFile | EOFError):
        return ImportFailed(f"{name}: not a readable .gz file (corrupt or cut short: {exc})")
    return ImportFailed(f"{name}: cannot read the file: {exc}")


def _too_big(name: str, where: str, size: int | None = None) -> ImportFailed:
    size_text = f"is {size:,} bytes, " if size is not None else "is "
    return ImportFailed(f"{name}: {where}: the row {size_text}over the limit of {max_row_bytes():,} bytes per row")


def _open(path: Path, name: str) -> io.BufferedIOBase:
    if name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def parse_json(text: str, name: str, where: str) -> Any:
    """json.loads, every failure an ImportFailed naming the line (nesting too deep, a number too long)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line = f"line {exc.lineno}" if where == "file" else where
        raise ImportFailed(f"{name}: {line}: bad JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ImportFailed(f"{name}: {_where(where)}: bad JSON: nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ImportFailed(f"{name}: {_where(where)}: bad JSON: {exc}") from None


def _where(where: str) -> str:
    return "line 1" if where == "file" else where


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
                    raise ImportFailed(
                        f"{name}: over the upload limit of {max_file_bytes():,} bytes (once decompressed)"
                    )
                if len(raw.rstrip(b"\r\n")) > limit:
                    raise _too_big(name, where)
                text = _decode(raw, name, where)
                text = text.rstrip("\r\n")
                if n == 1:
                    text = text.removeprefix("\ufeff")
                if not text.strip():
                    continue
                record = parse_json(text, name, where)
                if not isinstance(record, dict):
                    raise ImportFailed(f"{name}: {where}: expected a JSON object, got {kind_of(record)}")
                yield where, record
    except _READ_ERRORS as exc:
        raise _unreadable(name, exc) from None


def _records_json(path: Path, name: str) -> Iterator[tuple[str, dict]]:
    value = parse_json(_decode_file(_read_all(path, name), name), name, "file")
    if not isinstance(value, list):
        raise ImportFailed(f"{name}: expected a JSON array of objects (or use .jsonl), got {kind_of(value)}")
    for n, record in enumerate(value, 1):
        if not isinstance(record, dict):
            raise ImportFailed(f"{name}: row {n}: expected a JSON object, got {kind_of(record)}")
        try:
            size = len(json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        except RecursionError:
            raise ImportFailed(f"{name}: row {n}: nested too deeply to read") from None
        if size > max_row_bytes():
            raise _too_big(name, f"row {n}", size)
        yield f"row {n}", record


def _records_csv(path: Path, name: str, mapping: dict[str, str]) -> Iterator[tuple[str, dict]]:
    text = _decode_file(_read_all(path, name), name)
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
        columns = parquet.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise ImportFailed(f"{name}: not a readable Parquet file ({exc})") from None
    for target, column in mapping.items():
        if column not in columns:
            raise ImportFailed(
                f"{name}: field '{column}' (mapped to {target}) is not a column; the columns are {', '.join(columns)}"
            )
    n = 0
    try:
        for batch in parquet.iter_batches(batch_size=1000):
            for record in batch.to_pylist():
                n += 1
                size = len(json.dumps(record, ensure_ascii=False, default=str).encode())
                if size > max_row_bytes():
                    raise _too_big(name, f"row {n}", size)
                yield f"row {n}", record
    except (pa.ArrowException, OSError, ValueError, OverflowError) as exc:
        raise ImportFailed(f"{name}: row {n + 1}: not a readable Parquet row ({exc})") from None


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
