"""Token streams from a worker process to the web process: publish(stream_id, piece) / done / iterate.

A stream is an append-only, ordered log of text pieces ended by one `done` mark (which may carry a
small JSON result, e.g. {"error": "..."}). A reader may start before, during or after the writer
and always reads the whole stream from its start (or from after the event id it last saw, so an
EventSource that reconnects with Last-Event-ID resumes where it left off). Streams expire after
`TTL_S` seconds.

Two backends, picked by the settings:
- `RedisStreams` when REDIS_URL is set: one Redis stream (XADD / XREAD BLOCK) per stream id. Not
  plain pub/sub on purpose: a pub/sub message published before the reader subscribes is lost,
  and a warm worker often sends its first token before the browser's EventSource has connected.
  A Redis stream keeps the pieces (for `TTL_S`) and wakes a blocked reader as soon as one arrives.
- `FileStreams` on the embedded default: one JSON-lines file per stream under VAR_DIR/streams,
  appended with O_APPEND (one write per line), read by polling every few milliseconds. It works
  across processes on one machine, which is what the embedded default is.

Pieces are untrusted text (model output): this module carries them as they are; whoever shows
them escapes them (the arena's SSE view sends them JSON-encoded and the page inserts them as text).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

TTL_S = 3600
_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class StreamTimeout(Exception):
    """No event arrived within the reader's timeout."""


@dataclass(frozen=True)
class Event:
    """One event of a stream: a piece of text, or the final `done` mark with its result."""

    id: str
    piece: str = ""
    done: bool = False
    result: dict[str, Any] = field(default_factory=dict)


def check_id(stream_id: str) -> str:
    if not isinstance(stream_id, str) or not _ID.match(stream_id):
        raise ValueError(f"stream_id: 1 to 100 letters, digits, '-' or '_', got {stream_id!r}")
    return stream_id


class Backend(Protocol):
    def publish(self, stream_id: str, piece: str) -> None: ...

    def done(self, stream_id: str, result: dict[str, Any] | None = None) -> None: ...

    def iterate(self, stream_id: str, timeout: float = 30.0, after: str = "") -> Iterator[Event]: ...


# ---------------------------------------------------------------- Redis


class RedisStreams:
    """One Redis stream per stream id: entries {"p": piece} and a last {"done": result-json}."""

    def __init__(self, url: str, prefix: str = "stream:") -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.prefix = prefix

    def _key(self, stream_id: str) -> str:
        return self.prefix + check_id(stream_id)

    def _add(self, stream_id: str, fields: dict[str, str]) -> None:
        key = self._key(stream_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields)  # type: ignore[arg-type]
            pipe.expire(key, TTL_S)
            pipe.execute()

    def publish(self, stream_id: str, piece: str) -> None:
        if piece:
            self._add(stream_id, {"p": piece})

    def done(self, stream_id: str, result: dict[str, Any] | None = None) -> None:
        self._add(stream_id, {"done": json.dumps(result or {})})

    def iterate(self, stream_id: str, timeout: float = 30.0, after: str = "") -> Iterator[Event]:
        """The stream's events after `after` ("" = from the start) until done; StreamTimeout when
        nothing arrives for `timeout` seconds."""
        key = self._key(stream_id)
        last = after or "0-0"
        deadline = time.monotonic() + timeout
        while True:
            wait_ms = int(min(1.0, max(0.0, deadline - time.monotonic())) * 1000)
            answer = self.redis.xread({key: last}, count=512, block=max(1, wait_ms))
            entries: list[tuple[bytes, dict[bytes, bytes]]] = answer[0][1] if answer else []  # type: ignore[index,assignment]
            for raw_id, fields in entries:
                last = raw_id.decode()
                if b"done" in fields:
                    yield Event(id=last, done=True, result=json.loads(fields[b"done"]))
                    return
                yield Event(id=last, piece=fields[b"p"].decode("utf-8", errors="replace"))
            if entries:
                deadline = time.monotonic() + timeout
            elif time.monotonic() >= deadline:
                raise StreamTimeout(f"no event on stream {stream_id} for {timeout:g} s")


# ---------------------------------------------------------------- files


class FileStreams:
    """One JSON-lines file per stream id under `root`; the event id is the line number."""

    def __init__(self, root: str | Path, poll_s: float = 0.005) -> None:
        self.root = Path(root)
        self.poll_s = poll_s

    def _path(self, stream_id: str) -> Path:
        return self.root / f"{check_id(stream_id)}.jsonl"

    def _append(self, stream_id: str, row: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
        fd = os.open(self._path(stream_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of one whole line: readers never see half of another's line
        finally:
            os.close(fd)

    def publish(self, stream_id: str, piece: str) -> None:
        if piece:
            self._append(stream_id, {"p": piece})

    def done(self, stream_id: str, result: dict[str, Any] | None = None) -> None:
        self._append(stream_id, {"done": result or {}})
        self.purge()

    def purge(self, older_than_s: float = TTL_S) -> int:
        """Remove stream files untouched for `older_than_s` seconds."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.root.glob("*.jsonl"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def iterate(self, stream_id: str, timeout: float = 30.0, after: str = "") -> Iterator[Event]:
        """The stream's events after line `after` ("" = from the start) until done; StreamTimeout
        when nothing arrives for `timeout` seconds."""
        path = self._path(stream_id)
        skip = int(after) if after.isdigit() else 0
        deadline = time.monotonic() + timeout
        handle = None
        buffer = b""
        number = 0
        try:
            while True:
                if handle is None and path.exists():
                    handle = path.open("rb")
                chunk = handle.read() if handle is not None else b""
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        number += 1
                        if number <= skip:
                            continue
                        row = json.loads(line)
                        if "done" in row:
                            yield Event(id=str(number), done=True, result=row["done"])
                            return
                        yield Event(id=str(number), piece=row["p"])
                    deadline = time.monotonic() + timeout
                elif time.monotonic() >= deadline:
                    raise StreamTimeout(f"no event on stream {stream_id} for {timeout:g} s")
                else:
                    time.sleep(self.poll_s)
        finally:
            if handle is not None:
                handle.close()


# ---------------------------------------------------------------- the process's backend

_backend: Backend | None = None
_backend_key: tuple[str, str] | None = None


def backend() -> Backend:
    """Redis streams when REDIS_URL is set, else files under VAR_DIR/streams (one per process, per settings)."""
    from django.conf import settings

    global _backend, _backend_key
    key = (settings.REDIS_URL or "", str(settings.VAR_DIR))
    if _backend is None or _backend_key != key:
        _backend = RedisStreams(key[0]) if key[0] else FileStreams(Path(key[1]) / "streams")
        _backend_key = key
    return _backend


def publish(stream_id: str, piece: str) -> None:
    """Append a piece of text to the stream."""
    backend().publish(stream_id, piece)


def done(stream_id: str, result: dict[str, Any] | None = None) -> None:
    """End the stream (readers stop after this), with an optional small JSON result."""
    backend().done(stream_id, result)


def iterate(stream_id: str, timeout: float = 30.0, after: str = "") -> Iterator[Event]:
    """The stream's events (from the start, or after event id `after`) until its done mark."""
    return backend().iterate(stream_id, timeout=timeout, after=after)
