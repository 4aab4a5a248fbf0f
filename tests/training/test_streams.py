"""Token streams across processes: a subprocess publishes, this process reads (both backends)."""

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from training import streams
from training.streams import FileStreams, RedisStreams, StreamTimeout

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture(params=["file", "redis"])
def kind_and_backend(request, tmp_path):
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("REDIS_URL is not set")
        return "redis", REDIS_URL, RedisStreams(REDIS_URL, prefix=f"test-stream-{uuid.uuid4().hex[:6]}:")
    return "file", str(tmp_path / "streams"), FileStreams(tmp_path / "streams")


def _publish_from_a_subprocess(
    kind: str, where: str, prefix: str, stream_id: str, pieces: list[str], delay: float
) -> subprocess.Popen:
    make = f"RedisStreams({where!r}, prefix={prefix!r})" if kind == "redis" else f"FileStreams({where!r})"
    code = textwrap.dedent(f"""
        import time
        from training.streams import FileStreams, RedisStreams
        backend = {make}
        for piece in {pieces!r}:
            time.sleep({delay})
            backend.publish({stream_id!r}, piece)
        backend.done({stream_id!r}, {{"tokens": {len(pieces)}}})
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def test_pieces_published_by_another_process_arrive_in_order_then_done(kind_and_backend):
    kind, where, backend = kind_and_backend
    pieces = ["Hello", ",", " <b>world</b>", " ünïcode\nline", "!"]
    prefix = getattr(backend, "prefix", "")
    stream_id = f"s-{uuid.uuid4().hex}"
    writer = _publish_from_a_subprocess(kind, where, prefix, stream_id, pieces, delay=0.05)
    try:
        events = list(backend.iterate(stream_id, timeout=20))  # started before the stream exists
    finally:
        writer.wait(timeout=20)
    assert [e.piece for e in events[:-1]] == pieces
    assert events[-1].done and events[-1].result == {"tokens": 5}
    assert len({e.id for e in events}) == len(events)


def test_a_reader_that_comes_late_still_gets_every_piece_and_can_resume_after_an_id(kind_and_backend):
    _, _, backend = kind_and_backend
    stream_id = f"s-{uuid.uuid4().hex}"
    for piece in ["a", "b", "c"]:
        backend.publish(stream_id, piece)
    backend.done(stream_id)
    events = list(backend.iterate(stream_id, timeout=5))
    assert [e.piece for e in events] == ["a", "b", "c", ""] and events[-1].done
    resumed = list(backend.iterate(stream_id, timeout=5, after=events[1].id))
    assert [e.piece for e in resumed] == ["c", ""]


def test_a_reader_waits_for_pieces_and_gives_up_after_its_timeout(kind_and_backend):
    _, _, backend = kind_and_backend
    stream_id = f"s-{uuid.uuid4().hex}"
    backend.publish(stream_id, "only")
    started = time.monotonic()
    seen = []
    with pytest.raises(StreamTimeout):
        for event in backend.iterate(stream_id, timeout=0.5):
            seen.append(event.piece)
    assert seen == ["only"]
    assert 0.4 < time.monotonic() - started < 5


def test_a_piece_wakes_a_waiting_reader_at_once(kind_and_backend):
    _, _, backend = kind_and_backend
    stream_id = f"s-{uuid.uuid4().hex}"
    sent_at: list[float] = []

    def write() -> None:
        time.sleep(0.3)
        sent_at.append(time.monotonic())
        backend.publish(stream_id, "x")
        backend.done(stream_id)

    threading.Thread(target=write).start()
    first = next(iter(backend.iterate(stream_id, timeout=5)))
    assert first.piece == "x"
    assert time.monotonic() - sent_at[0] < 0.2


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "a b", "x" * 101, "ü"])
def test_stream_ids_are_checked(bad, tmp_path):
    with pytest.raises(ValueError, match="stream_id"):
        FileStreams(tmp_path).publish(bad, "x")


def test_the_settings_pick_redis_when_redis_url_is_set_and_files_otherwise(settings, tmp_path):
    settings.REDIS_URL, settings.VAR_DIR = "", tmp_path
    assert isinstance(streams.backend(), FileStreams)
    streams.publish("via-settings", "hi")
    streams.done("via-settings")
    assert [e.piece for e in streams.iterate("via-settings", timeout=2)] == ["hi", ""]
    assert (tmp_path / "streams" / "via-settings.jsonl").exists()
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert isinstance(streams.backend(), RedisStreams)


def test_old_stream_files_are_purged(tmp_path):
    backend = FileStreams(tmp_path)
    backend.publish("old", "x")
    os.utime(tmp_path / "old.jsonl", (0, 0))
    backend.publish("new", "y")
    assert backend.purge() == 1
    assert not (tmp_path / "old.jsonl").exists() and (tmp_path / "new.jsonl").exists()
