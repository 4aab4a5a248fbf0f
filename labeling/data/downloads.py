"""File downloads of exports and snapshots, shared by the dashboard's views and the API."""

from __future__ import annotations

import os
import tempfile

from django.http import FileResponse, Http404

from labeling.data import exporters
from labeling.models import DatasetSnapshot, Project


def export_download(project: Project, spec: exporters.ExportSpec) -> FileResponse:
    """An export streamed back as a file download; headers X-Rows and X-Sha256 describe it."""
    fd, name = tempfile.mkstemp(suffix=f".{spec.file_type}")
    os.close(fd)
    try:
        result = exporters.export(project, spec, name)
        handle = open(name, "rb")
    finally:
        os.unlink(name)  # the open handle keeps the bytes until the response is sent
    response = FileResponse(handle, as_attachment=True, filename=f"{project.slug}-{spec.format}.{spec.file_type}")
    response["X-Rows"] = str(result.rows)
    response["X-Sha256"] = result.sha256
    return response


def snapshot_download(snapshot: DatasetSnapshot | None) -> FileResponse:
    """A snapshot's stored file as a download (header X-Sha256); 404 when there is none."""
    if snapshot is None or not snapshot.path.is_file():
        raise Http404("No such snapshot, or its file is missing")
    response = FileResponse(open(snapshot.path, "rb"), as_attachment=True, filename=snapshot.download_name)
    response["X-Sha256"] = snapshot.sha256
    return response
