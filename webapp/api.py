"""The REST API (django-ninja), mounted at /api/; OpenAPI schema at /api/openapi.json.

Auth: `Authorization: Bearer <token>`, tokens from `manage.py create_api_token USERNAME`. Every
endpoint is for researchers: a project is fetched through `get_project_for_user(..., research=True)`
(404 for a non-member, 403 for an annotator), and the project list needs a researcher.
Endpoints parse input, call one service or selector, and return.
"""

from datetime import datetime
from typing import Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.core.validators import validate_slug
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import File, Form, NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.security import HttpBearer

from labeling import exporters, importers, services
from labeling.data_views import export_download
from labeling.models import Item, Judgment, Project, Prompt
from labeling.selectors import get_project_for_user, is_researcher, research_projects
from training.models import DatasetSnapshot
from training.services import create_snapshot as freeze
from webapp.models import ApiToken, hash_token


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        row = ApiToken.objects.select_related("user").filter(key_hash=hash_token(token)).first()
        if row is None or not row.user.is_active:
            return None
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        request.user = row.user
        return row.user


api = NinjaAPI(
    title="Preference workbench API",
    version="1",
    description="Projects, imports, exports and dataset snapshots, for researchers.",
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url=None,  # the Swagger page would load from a CDN unless `ninja` is an installed app; the schema is served
)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Only the project's researchers may do this"}, status=403)


@api.exception_handler(importers.ImportFailed)
def _bad_import(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(exporters.ExportError)
def _bad_export(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=400)


def _researcher(request) -> None:
    if not is_researcher(request.user):
        raise PermissionDenied("The API is for researchers")


def _project(request, slug: str) -> Project:
    return get_project_for_user(request.user, slug, research=True)


# --- schemas ---------------------------------------------------------------------------------


class ProjectIn(Schema):
    slug: str
    name: str
    kind: Literal["pairwise", "binary"] = "pairwise"
    overlap: int = 1


class ProjectOut(Schema):
    slug: str
    name: str
    kind: str
    overlap: int


class ProjectCounts(ProjectOut):
    prompts: int
    items: int
    judgments: int
    judgments_by_choice: dict[str, int]
    judgments_by_source: dict[str, int]


class SkippedRow(Schema):
    where: str
    field: str
    reason: str


class ImportOut(Schema):
    prompts: int
    items: int
    judgments: int
    skipped: int
    already_imported: bool
    skipped_rows: list[SkippedRow]
    batch: int | None


class ImportBatchOut(Schema):
    id: int
    file_name: str
    sha256: str
    format: str
    counts: dict
    created_at: datetime


class ExportIn(Schema):
    format: Literal["preference", "unpaired", "prompts", "raw"] = "preference"
    file_type: Literal["jsonl", "parquet"] = "jsonl"
    policy: Literal["majority", "unanimous", "every"] = "majority"
    ties: Literal["drop", "keep"] = "drop"
    both_bad: Literal["drop", "keep"] = "drop"
    form: Literal["auto", "standard", "conversational"] = "auto"
    split: Literal["all", "train", "test"] = "all"
    test_size: float | None = None
    seed: int = 0
    from_pairs: bool = False
    source: Literal["all", "human", "imported"] = "all"


class SnapshotOut(Schema):
    id: int
    project: str
    format: str
    file_type: str
    spec: dict
    sha256: str
    rows: int
    size_bytes: int
    created_at: datetime
    download: str


class Error(Schema):
    detail: str


def _snapshot_out(snapshot: DatasetSnapshot) -> dict:
    return {
        "id": snapshot.pk, "project": snapshot.project.slug, "format": snapshot.format,
        "file_type": snapshot.file_type, "spec": snapshot.spec, "sha256": snapshot.sha256, "rows": snapshot.rows,
        "size_bytes": snapshot.size_bytes, "created_at": snapshot.created_at,
        "download": f"/api/snapshots/{snapshot.pk}/download",
    }


# --- projects --------------------------------------------------------------------------------

ERRORS = {400: Error, 403: Error, 404: Error}


@api.get("/projects", response={200: list[ProjectOut], 403: Error}, tags=["projects"])
def list_projects(request):
    _researcher(request)
    return research_projects(request.user)


@api.post("/projects", response={201: ProjectOut}, tags=["projects"])
def create_project(request, data: ProjectIn):
    """A new project; you become its admin. (Answers 400 for a taken or malformed slug, 403 for annotators.)"""
    _researcher(request)
    if Project.objects.filter(slug=data.slug).exists():
        raise HttpError(400, f"a project {data.slug!r} exists already")
    try:
        validate_slug(data.slug)
    except ValidationError:
        raise HttpError(400, "slug may hold only letters, numbers, hyphens and underscores") from None
    if not 1 <= data.overlap <= 50:
        raise HttpError(400, "overlap must be between 1 and 50")
    return services.create_project(creator=request.user, **data.dict())


@api.get("/projects/{slug}", response={200: ProjectCounts, **ERRORS}, tags=["projects"])
def project_counts(request, slug: str):
    project = _project(request, slug)
    judgments = Judgment.objects.filter(item__project=project)
    return {
        "slug": project.slug, "name": project.name, "kind": project.kind, "overlap": project.overlap,
        "prompts": Prompt.objects.filter(project=project).count(),
        "items": Item.objects.filter(project=project).count(),
        "judgments": judgments.count(),
        "judgments_by_choice": dict(judgments.values_list("choice").annotate(n=Count("id")).order_by()),
        "judgments_by_source": dict(judgments.values_list("source").annotate(n=Count("id")).order_by()),
    }


# --- imports ---------------------------------------------------------------------------------


@api.post("/projects/{slug}/imports", response={200: ImportOut, **ERRORS}, tags=["imports"])
def import_file(
    request,
    slug: str,
    file: File[UploadedFile],
    format: Form[Literal["trl", "trl-unpaired", "hh", "pandalm", "oasst", "prompts", "mapped"]],
    map: Form[str] = "",
    skip_invalid: Form[bool] = False,
):
    """Upload and import a file in one go (`map`: TARGET=COLUMN pairs, comma- or newline-separated)."""
    project = _project(request, slug)
    mapping = importers.parse_mapping(map)
    token = importers.stage_upload(file)
    try:
        result = importers.import_file(
            project, importers.staged_path(token), fmt=format, file_name=importers.staged_name(token, file.name),
            mapping=mapping, skip_invalid=skip_invalid, user=request.user,
        )
    finally:
        importers.discard_staged(token)
    return {**result.counts(), "already_imported": result.already_imported, "skipped_rows": result.skipped,
            "batch": result.batch.pk if result.batch else None}


@api.get("/projects/{slug}/imports", response={200: list[ImportBatchOut], **ERRORS}, tags=["imports"])
def list_imports(request, slug: str):
    return _project(request, slug).import_batches.all()


# --- exports and snapshots -------------------------------------------------------------------


@api.post("/projects/{slug}/exports", response={200: None, **ERRORS}, tags=["exports"])
def export_file(request, slug: str, data: ExportIn):
    """The export as a file download (headers X-Rows and X-Sha256 describe it)."""
    project = _project(request, slug)
    return export_download(project, exporters.ExportSpec(**data.dict()))


@api.post("/projects/{slug}/snapshots", response={201: SnapshotOut}, tags=["snapshots"])
def create_snapshot(request, slug: str, data: ExportIn):
    """Freeze an export as an immutable snapshot. (Answers 400 for an impossible spec, 403, 404.)"""
    project = _project(request, slug)
    return _snapshot_out(freeze(project, exporters.ExportSpec(**data.dict()), user=request.user))


@api.get("/projects/{slug}/snapshots", response={200: list[SnapshotOut], **ERRORS}, tags=["snapshots"])
def list_snapshots(request, slug: str):
    project = _project(request, slug)
    return [_snapshot_out(s) for s in DatasetSnapshot.objects.filter(project=project).select_related("project")]


def _snapshot(request, snapshot_id: int) -> DatasetSnapshot:
    snapshot = get_object_or_404(DatasetSnapshot.objects.select_related("project"), pk=snapshot_id)
    _project(request, snapshot.project.slug)
    return snapshot


@api.get("/snapshots/{snapshot_id}", response={200: SnapshotOut, **ERRORS}, tags=["snapshots"])
def get_snapshot(request, snapshot_id: int):
    return _snapshot_out(_snapshot(request, snapshot_id))


@api.get("/snapshots/{snapshot_id}/download", response={200: None, **ERRORS}, tags=["snapshots"])
def download_snapshot(request, snapshot_id: int):
    snapshot = _snapshot(request, snapshot_id)
    if not snapshot.path.is_file():
        raise Http404("The snapshot's file is missing")
    response = FileResponse(open(snapshot.path, "rb"), as_attachment=True, filename=snapshot.download_name)
    response["X-Sha256"] = snapshot.sha256
    return response


# --- members (project admins and researchers) ------------------------------------------------


class MemberOut(Schema):
    username: str
    role: Literal["annotator", "researcher", "admin"]


class MemberIn(Schema):
    username: str
    role: Literal["annotator", "researcher", "admin"] = "annotator"


class RoleIn(Schema):
    role: Literal["annotator", "researcher", "admin"]


class InvalidInput(Schema):
    detail: str | list[dict]


MEMBER_ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 422: InvalidInput}


@api.exception_handler(services.MembershipError)
def _bad_member_change(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=400)


def _member_out(membership) -> dict:
    return {"username": membership.user.username, "role": membership.role}


@api.get("/projects/{slug}/members", response={200: list[MemberOut], **MEMBER_ERRORS}, tags=["members"])
def list_members(request, slug: str):
    """The project's members and roles. (403 for annotators, 404 for a project you are not a member of.)"""
    project = _project(request, slug)
    return [_member_out(m) for m in project.memberships.select_related("user").order_by("user__username")]


@api.post("/projects/{slug}/members", response={201: MemberOut, **MEMBER_ERRORS}, tags=["members"])
def add_member(request, slug: str, data: MemberIn):
    """Add an existing user with a role. 400: no such user, or already a member (change a role with PUT);
    403: an annotator, or a researcher granting the admin role; 404: not your project."""
    project = _project(request, slug)
    return 201, _member_out(services.add_member(project, data.username, data.role, actor=request.user))


@api.put("/projects/{slug}/members/{username}", response={200: MemberOut, **MEMBER_ERRORS}, tags=["members"])
def set_member_role(request, slug: str, username: str, data: RoleIn):
    """Change a member's role. 400: not a member, or the project's only admin would be demoted;
    403: an annotator, or a researcher changing an admin's role; 404: not your project."""
    project = _project(request, slug)
    return _member_out(services.set_role(project, username, data.role, actor=request.user))


@api.delete("/projects/{slug}/members/{username}", response={204: None, **MEMBER_ERRORS}, tags=["members"])
def remove_member(request, slug: str, username: str):
    """Take a member off the project (their judgments stay). 400: not a member, or the only admin;
    403: an annotator, or a researcher removing an admin; 404: not your project."""
    project = _project(request, slug)
    services.remove_member(project, username, actor=request.user)
    return 204, None
