"""The import service: read a preference data set from a file into a project, all or nothing.

One path for every caller: the CLI (`import_data`) calls `import_file`; the web upload and the API
`stage` the upload (a random token bound to the uploader and the project), `preview` it, then
`confirm` it (the API does all three in one request with `import_upload`).

`import_file` reads the file (see files.py), turns every record into `Row`s with its format's
reader (see formats/), validates them all, and only then writes them through the one `Writer`, in
one transaction: a bad row means nothing is written, unless `skip_invalid` asks to leave bad rows
out (each is reported with its line and reason).

Labels that come with a file become judgments with no annotator whose `source` is
`import:<file name>` (`#annotatorN` added for multi-annotator files). They do not count toward
an item's `judgment_count` (that is the live human count that fills annotators' queues).
Responses are stored with the source `dataset:<file name>` unless the file names the model.

Re-importing the same bytes into the same project adds nothing (an `ImportBatch` remembers the
file's sha256); a prompt already in the project (same content hash) is reused, not duplicated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import models as auth
from django.db import IntegrityError, transaction

from labeling.data import formats
from labeling.data.files import file_type_of, max_file_bytes, read_records
from labeling.data.formats.mapped import TARGETS as MAP_TARGETS
from labeling.data.rows import ImportFailed, Options, Row, RowError, check_record
from labeling.data.writer import Writer
from labeling.models import ImportBatch, Membership, Project

__all__ = [
    "ImportFailed",
    "ImportResult",
    "MAP_TARGETS",
    "Preview",
    "UploadNotFound",
    "confirm",
    "ensure_project",
    "import_file",
    "import_upload",
    "parse_mapping",
    "parse_rows",
    "preview",
    "preview_file",
    "stage",
]

MAX_SKIPPED_KEPT = 1000
PREVIEW_ROWS = 5
User = auth.User | auth.AnonymousUser  # the signed-in user, or request.user of an anonymous request


class UploadNotFound(ImportFailed):
    """No staged upload with this token for this user and project (answered as a 404)."""


class Upload(Protocol):
    """An uploaded file (Django's UploadedFile): read-only name and size, and its chunks."""

    @property
    def name(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...

    def chunks(self) -> Any: ...


@dataclass
class ImportResult:
    prompts: int = 0
    items: int = 0
    judgments: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"where": "line 3", "field": ..., "reason": "..."}
    n_skipped: int = 0
    batch: ImportBatch | None = None
    already_imported: bool = False

    def counts(self) -> dict:
        return {"prompts": self.prompts, "items": self.items, "judgments": self.judgments, "skipped": self.n_skipped}


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
            raise ImportFailed(
                f"mapping {pair.strip()!r}: unknown target {target!r}; targets are {', '.join(MAP_TARGETS)}"
            )
        if target in mapping:
            raise ImportFailed(f"mapping: target {target!r} is named twice")
        mapping[target] = column
    return mapping


def _file_name(path: Path, file_name: str | None) -> str:
    return Path(file_name or path.name).name[:200]


@dataclass
class Parsed:
    rows: list[Row]
    skipped: list[dict]
    n_skipped: int
    n_records: int


def parse_rows(
    path: Path, name: str, fmt: str, kind: str, mapping: dict[str, str], *, skip_invalid: bool, limit: int | None = None
) -> Parsed:
    """Every row of the file, validated. Raises ImportFailed at the first bad row unless `skip_invalid`."""
    reader = formats.get(fmt)
    formats.check_mapping(fmt, mapping)
    opts = Options(file_name=name, file_type=file_type_of(name), kind=kind, mapping=mapping)
    parsed = Parsed(rows=[], skipped=[], n_skipped=0, n_records=0)
    for where, record in read_records(path, name, mapping):
        parsed.n_records += 1
        try:
            check_record(record)
            new_rows = reader.read(record, opts)
        except RowError as exc:
            if not skip_invalid:
                raise ImportFailed(f"{name}: {where}: {exc}") from None
            parsed.n_skipped += 1
            if len(parsed.skipped) < MAX_SKIPPED_KEPT:
                parsed.skipped.append({"where": where, "field": exc.field, "reason": exc.reason})
            continue
        for row in new_rows:
            row.where = where
        parsed.rows.extend(new_rows)
        if limit is not None and parsed.n_records >= limit:
            break
    if parsed.n_records == 0:
        raise ImportFailed(f"{name}: the file holds no rows")
    return parsed


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_project(
    slug: str, *, kind: str | None = None, name: str | None = None, admin: auth.User | None = None
) -> Project:
    """The project `slug`; one that does not exist yet is created with `admin` as its first admin
    (it needs one: a project without members is one nobody can open). `admin` of an existing project
    becomes its admin when not a member yet."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        if admin is None:
            raise ImportFailed(f"project {slug!r} does not exist yet: give --user USERNAME, who becomes its admin")
        project = Project.objects.create(slug=slug, name=name or slug, kind=kind or Project.Kind.PAIRWISE)
    if admin is not None and not project.memberships.filter(user=admin).exists():
        Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    return project


def import_file(
    project: Project,
    path: Path | str,
    *,
    fmt: str,
    file_name: str | None = None,
    mapping: dict[str, str] | None = None,
    skip_invalid: bool = False,
    user: User | None = None,
) -> ImportResult:
    """Import one file into `project` in one transaction; see the module docstring."""
    path = Path(path)
    name = _file_name(path, file_name)
    mapping = mapping or {}
    needed = formats.kind_needed(fmt, mapping)
    if needed is not None and needed != project.kind:
        raise ImportFailed(
            f"{name}: the {fmt} format makes {needed} items, but project '{project.slug}' is {project.kind}"
        )
    sha = file_sha256(path)
    earlier = ImportBatch.objects.filter(project=project, sha256=sha).first()
    if earlier is not None:
        return ImportResult(batch=earlier, already_imported=True)
    parsed = parse_rows(path, name, fmt, project.kind, mapping, skip_invalid=skip_invalid)
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                project=project,
                file_name=name,
                sha256=sha,
                format=fmt,
                options={"mapping": mapping, "skip_invalid": skip_invalid},
                skipped=parsed.skipped,
                created_by=user if user is not None and user.is_authenticated else None,
            )
            result = _write_rows(project, parsed.rows, name)
            result.skipped, result.n_skipped, result.batch = parsed.skipped, parsed.n_skipped, batch
            batch.counts = result.counts()
            batch.save(update_fields=["counts"])
    except IntegrityError:
        earlier = ImportBatch.objects.filter(project=project, sha256=sha).first()
        if earlier is None:
            raise
        return ImportResult(batch=earlier, already_imported=True)  # a twin upload won the race
    return result


def _write_rows(project: Project, rows: list[Row], name: str) -> ImportResult:
    """Rows -> prompts, responses, items and their labels, through the one writer."""
    file_source = f"import:{name}"
    writer = Writer(project)
    writer.preload(row.prompt for row in rows)
    for row in rows:
        prompt = writer.prompt(row.prompt, external_id=row.external_id, metadata=row.metadata)
        if not row.responses:
            continue
        sources = row.sources or ("",) * len(row.responses)
        responses = [
            writer.response(prompt, text, source=source or f"dataset:{name}")
            for text, source in zip(row.responses, sources, strict=True)
        ]
        item = writer.item(prompt, responses[0], responses[1] if len(responses) > 1 else None)
        for column, choice in row.labels:
            writer.label(item, choice, source=f"{file_source}#{column}" if column else file_source)
    counts = writer.save()
    return ImportResult(prompts=counts.prompts, items=counts.items, judgments=counts.labels)


# --- preview ---------------------------------------------------------------------------------


@dataclass
class Preview:
    columns: list[str]
    records: list[tuple[str, dict]]  # the first raw records, as read
    rows: list[Row]  # what they become
    skipped: list[dict]  # the invalid ones among the whole file (the first MAX_SKIPPED_KEPT)
    error: str = ""
    total_records: int = 0  # in the whole file
    total_rows: int = 0  # the items (or prompts) the whole file would create
    n_skipped: int = 0  # invalid records in the whole file
    suggested_format: str | None = None  # what the columns look like, when not the chosen format


def preview_file(
    path: Path | str,
    *,
    fmt: str,
    kind: str,
    file_name: str | None = None,
    mapping: dict[str, str] | None = None,
    limit: int = PREVIEW_ROWS,
) -> Preview:
    """The first `limit` records of the file, the rows they would become, and the totals of the whole
    file (nothing is written)."""
    path = Path(path)
    name = _file_name(path, file_name)
    mapping = mapping or {}
    records: list[tuple[str, dict]] = []
    try:
        for where, record in read_records(path, name, mapping):
            records.append((where, record))
            if len(records) >= limit:
                break
    except ImportFailed as exc:
        return Preview(columns=_columns(records), records=records, rows=[], skipped=[], error=str(exc))
    columns = _columns(records)
    guess = formats.guess(columns)
    preview = Preview(
        columns=columns, records=records, rows=[], skipped=[], suggested_format=guess if guess != fmt else None
    )
    try:
        parsed = parse_rows(path, name, fmt, kind, mapping, skip_invalid=True)
    except ImportFailed as exc:
        preview.error = str(exc)
        return preview
    shown = {where for where, _ in records}
    preview.rows = [row for row in parsed.rows if row.where in shown]
    preview.skipped = parsed.skipped
    preview.total_records, preview.total_rows, preview.n_skipped = parsed.n_records, len(parsed.rows), parsed.n_skipped
    return preview


def _columns(records: list[tuple[str, dict]]) -> list[str]:
    return list(dict.fromkeys(str(k) for _, r in records for k in r))


# --- staged uploads: stage -> preview -> confirm ---------------------------------------------

STAGED = re.compile(r"^[0-9a-f]{64}\.(?:(?:jsonl|json|csv)(?:\.gz)?|parquet)$")


def _staging_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _owner(project: Project, user: User) -> str:
    return json.dumps({"project": project.pk, "user": user.pk})


@dataclass(frozen=True)
class Staged:
    token: str  # random, `<64 hex>.<ext>`; good only for the user and project that uploaded it
    file_name: str  # the name to report it under


def stage(upload: Upload, *, project: Project, user: User) -> Staged:
    """Keep an uploaded file until its import is confirmed, under a random token bound to `user`
    and `project`. Refuses a file of an unsupported type or over the upload limit before storing it."""
    name = Path(upload.name or "upload").name
    file_type = file_type_of(name)
    size = upload.size or 0
    if size > max_file_bytes():
        raise ImportFailed(f"{name}: the file is {size:,} bytes, over the upload limit of {max_file_bytes():,} bytes")
    token = f"{secrets.token_hex(32)}.{file_type}{'.gz' if name.lower().endswith('.gz') else ''}"
    folder = _staging_dir()
    part = folder / f".upload-{uuid.uuid4().hex}"
    try:
        with open(part, "wb") as f:
            for chunk in upload.chunks():
                f.write(chunk)
        (folder / f"{token}.owner").write_text(_owner(project, user))
        os.replace(part, folder / token)
    finally:
        part.unlink(missing_ok=True)
    return Staged(token=token, file_name=staged_name(token, name))


def staged_path(token: str, *, project: Project, user: User) -> Path:
    """The staged file of `token`; UploadNotFound unless `user` staged it for `project`."""
    if not STAGED.match(token or ""):
        raise UploadNotFound("unknown upload; upload the file again")
    folder = _staging_dir()
    path, owner = folder / token, folder / f"{token}.owner"
    if not owner.is_file() or owner.read_text() != _owner(project, user):
        raise UploadNotFound("unknown upload; upload the file again")
    if not path.is_file():
        raise UploadNotFound("the uploaded file is no longer here; upload it again")
    return path


def staged_name(token: str, file_name: str) -> str:
    """The name to report the staged file under: the uploaded name when it matches the stored type."""
    name = Path(file_name or "").name[:200]
    ext = token.split(".", 1)[1] if "." in token else ""
    return name if name.lower().endswith("." + ext) else f"upload.{ext}"


def discard(token: str) -> None:
    if STAGED.match(token or ""):
        folder = _staging_dir()
        (folder / token).unlink(missing_ok=True)
        (folder / f"{token}.owner").unlink(missing_ok=True)


def preview(project: Project, user: User, token: str, file_name: str, *, fmt: str, mapping: dict[str, str]) -> Preview:
    """The preview of a staged upload (UploadNotFound for another user's or project's token)."""
    path = staged_path(token, project=project, user=user)
    return preview_file(path, fmt=fmt, kind=project.kind, file_name=staged_name(token, file_name), mapping=mapping)


def confirm(
    project: Project, user: User, token: str, file_name: str, *, fmt: str, mapping: dict[str, str], skip_invalid: bool
) -> ImportResult:
    """Import a staged upload; the staged file is dropped once imported (kept when refused, to retry)."""
    path = staged_path(token, project=project, user=user)
    result = import_file(
        project,
        path,
        fmt=fmt,
        file_name=staged_name(token, file_name),
        mapping=mapping,
        skip_invalid=skip_invalid,
        user=user,
    )
    discard(token)
    return result


def import_upload(
    project: Project, user: User, upload: Upload, *, fmt: str, mapping: dict[str, str], skip_invalid: bool
) -> ImportResult:
    """Stage and confirm in one go (the API's upload); nothing stays staged either way."""
    staged = stage(upload, project=project, user=user)
    try:
        return confirm(
            project, user, staged.token, staged.file_name, fmt=fmt, mapping=mapping, skip_invalid=skip_invalid
        )
    finally:
        discard(staged.token)
