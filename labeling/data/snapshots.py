"""Dataset snapshots: an export frozen as an immutable, content-addressed file plus its record."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from labeling.data import exporters
from labeling.models import DatasetSnapshot, Project


def snapshot_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def create_snapshot(
    project: Project, spec: exporters.ExportSpec, *, user: User | AnonymousUser | None = None
) -> DatasetSnapshot:
    """Freeze an export of `project` as an immutable, content-addressed file plus its record.

    The file is stored once per content as MEDIA_ROOT/snapshots/<sha256>.<ext>, read-only; the
    same spec over the same judgments gives the same bytes, so the same file.
    """
    folder = snapshot_dir()
    part = folder / f".new-{uuid.uuid4().hex}.{spec.file_type}"
    try:
        result = exporters.export(project, spec, part)
        final = folder / f"{result.sha256}.{spec.file_type}"
        if final.exists():
            part.unlink()
        else:
            os.chmod(part, 0o444)
            os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    return DatasetSnapshot.objects.create(
        project=project,
        format=result.spec.format,
        file_type=result.spec.file_type,
        spec=result.spec.as_dict(),
        sha256=result.sha256,
        rows=result.rows,
        size_bytes=result.size_bytes,
        created_by=user if user is not None and user.is_authenticated else None,
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
