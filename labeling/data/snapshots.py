"""Dataset snapshots: an export frozen as an immutable, content-addressed file plus its record."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from labeling.data import exporters
from labeling.models import DatasetSnapshot, Project


def snapshot_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _store(file_type: str, write: Callable[[Path], str]) -> tuple[str, int]:
    """Write a snapshot file through `write(path) -> sha256` and keep it once per content as
    MEDIA_ROOT/snapshots/<sha256>.<file_type>, read-only; its sha256 and size in bytes."""
    folder = snapshot_dir()
    part = folder / f".new-{uuid.uuid4().hex}.{file_type}"
    try:
        sha256 = write(part)
        size = part.stat().st_size
        final = folder / f"{sha256}.{file_type}"
        if final.exists():
            part.unlink()
        else:
            os.chmod(part, 0o444)
            os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    return sha256, size


def _creator(user: User | AnonymousUser | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


def create_snapshot(
    project: Project, spec: exporters.ExportSpec, *, user: User | AnonymousUser | None = None
) -> DatasetSnapshot:
    """Freeze an export of `project` as an immutable, content-addressed file plus its record.

    The file is stored once per content as MEDIA_ROOT/snapshots/<sha256>.<ext>, read-only; the
    same spec over the same judgments gives the same bytes, so the same file.
    """
    results: list[exporters.ExportResult] = []

    def write(path: Path) -> str:
        results.append(exporters.export(project, spec, path))
        return results[0].sha256

    _store(spec.file_type, write)
    result = results[0]
    return DatasetSnapshot.objects.create(
        project=project,
        format=result.spec.format,
        file_type=result.spec.file_type,
        spec=result.spec.as_dict(),
        sha256=result.sha256,
        rows=result.rows,
        size_bytes=result.size_bytes,
        created_by=_creator(user),
    )


def snapshot_from_rows(
    project: Project,
    fmt: str,
    columns: list[tuple[str, str]],
    rows: Sequence[tuple],
    spec: dict[str, Any],
    *,
    user: User | AnonymousUser | None = None,
) -> DatasetSnapshot:
    """A JSONL snapshot of rows made elsewhere (not exported from judgments), stored as every snapshot is:
    content-addressed and read-only. `columns` are (name, exporters kind) pairs in row order."""

    def write(path: Path) -> str:
        writer = exporters.JsonlWriter(path, columns)
        for row in rows:
            writer.write(row)
        return writer.close()

    sha256, size = _store(DatasetSnapshot.FileType.JSONL, write)
    return DatasetSnapshot.objects.create(
        project=project,
        format=fmt,
        file_type=DatasetSnapshot.FileType.JSONL,
        spec=spec,
        sha256=sha256,
        rows=len(rows),
        size_bytes=size,
        created_by=_creator(user),
    )


def snapshot_rows(snapshot: DatasetSnapshot | None) -> list[dict]:
    """The rows of a snapshot, read back from its stored file ([] for no snapshot)."""
    if snapshot is None:
        return []
    if snapshot.file_type == DatasetSnapshot.FileType.PARQUET:
        import pyarrow.parquet as pq

        return pq.read_table(snapshot.path).to_pylist()
    with snapshot.path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
