"""The REST API (django-ninja), mounted at /api/; OpenAPI schema at /api/openapi.json.

Auth: `Authorization: Bearer <token>`, tokens from `manage.py create_api_token USERNAME` or the tokens
page. Research endpoints fetch their project through `get_project_for_user(..., research=True)` (404 for
a project you are not in, whether or not it exists; 403 for an annotator); an annotator's token may read
their own queue and answer their assignments. Every error is JSON `{"detail", "field"?}`; the codes any
operation may answer (401, 403, 404, 422, and 400 with a body) are documented on every operation
(`_Api.get_openapi_schema`), and tests/webapp/test_schemathesis.py holds the API to its schema.
Endpoints parse input, call one service or selector, and return.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as InvalidFields
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, File, Form, NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as InvalidRequest
from ninja.files import UploadedFile
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser
from ninja.security import HttpBearer

from labeling import selectors, services
from labeling.data import downloads, exporters, formats, imports
from labeling.data.snapshots import create_snapshot as freeze
from labeling.models import ANSWERS, DatasetSnapshot, ImportBatch, Membership, Project
from labeling.selectors import get_project_for_user, research_projects
from training import algorithms
from training import jobs as training_jobs
from training import selectors as training_selectors
from training import services as training_services
from training.models import Job, ModelVersion
from webapp.api_loop import router as loop_router
from webapp.api_shared import ApiRequest, JobOut, job_out, project_for, require_researcher
from webapp.services import authenticate_token


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = authenticate_token(token)  # None for an unknown, revoked or expired token: 401
        if user is not None:
            request.user = user
        return user


class Error(Schema):
    detail: str
    field: str | None = None  # the input field at fault (a 422 names it)


# What any authenticated operation may answer besides its own codes: documented on every operation
# (a missing or revoked token, a role too low, a project or object you cannot see, input that does
# not parse or is out of bounds). Each error body is an `Error`.
COMMON_ERRORS = {
    401: "Missing, unknown, revoked or expired token",
    403: "Your role in the project does not allow this",
    404: "No such object, or one in a project you are not a member of",
    422: "Invalid input; `field` names the field at fault",
}


class BodyNotAnObject(ValueError):
    pass


class _ObjectParser(Parser):
    """JSON bodies must be objects: `null`, a list or a bare string is refused (422 naming `body`)."""

    def parse_body(self, request: HttpRequest) -> dict:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise BodyNotAnObject(f"the body must be a JSON object, not {type(data).__name__}")
        return data


BAD_REQUEST = "A request the service refuses as a whole (a malformed file, an impossible export)"


class _Api(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", Error.model_json_schema())
        for operations in schema["paths"].values():
            for operation in operations.values():
                if not operation.get("security"):
                    continue
                responses = operation.setdefault("responses", {})
                for status, description in COMMON_ERRORS.items():
                    responses.setdefault(status, {"description": description, "content": error})
                if "requestBody" in operation:
                    responses.setdefault(400, {"description": BAD_REQUEST, "content": error})
        return schema


api = _Api(
    title="Preference workbench API",
    version="1",
    description=(
        "Projects, imports, exports, snapshots, models, jobs and judgments. Researchers use every endpoint "
        "of their projects; an annotator's token reads their own queue and posts judgments to their "
        "assignments. Every error is a JSON object with `detail` (and `field` for invalid input)."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    parser=_ObjectParser(),
    docs_url=None,  # the Swagger page would load from a CDN unless `ninja` is an installed app; the schema is served
)


def _neutral(text: str) -> str:
    """`text` with the characters that start HTML markup escaped (&, <, >); quotes stay readable in JSON."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _error(request: HttpRequest, status: int, message: str, field: str | None = None) -> HttpResponse:
    """A JSON error; what the message echoes of the input is escaped."""
    body = {"detail": _neutral(message)}
    if field is not None:
        body["field"] = _neutral(field)
    return api.create_response(request, body, status=status)


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "Only the project's researchers may do this")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(
        request, 401, "A valid token is needed: Authorization: Bearer <token> (a revoked or expired one is refused)"
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):  # a body that is not a JSON object
        cause = exc.__cause__
        message = str(cause) if isinstance(cause, BodyNotAnObject) else "the body is not valid JSON"
        return _error(request, 422, f"body: {message}", "body")
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, str(exc) or "Not found")


def _loc(loc: tuple[str | int, ...] | list[str | int]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "file")]
    if len(parts) > 1 and parts[0] in ("data", "payload"):
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(InvalidRequest)
def _invalid_request(request: HttpRequest, exc: InvalidRequest) -> HttpResponse:
    """Input that does not parse (ninja/pydantic): 422 naming the first field at fault."""
    first = exc.errors[0] if exc.errors else {}
    field, kind = _loc(first.get("loc", ())), first.get("type")
    message = first.get("msg", "invalid input")
    if kind == "json_invalid":
        field = "body"
    elif field == "body" or kind in ("model_attributes_type", "dict_type"):
        message = "the body must be a JSON object" if field in ("body", "data", "payload") else "must be a JSON object"
        field = "body" if field in ("data", "payload") else field
    return _error(request, 422, f"{field}: {message}", field)


@api.exception_handler(algorithms.ConfigError)
def _bad_setting(request: HttpRequest, exc: algorithms.ConfigError) -> HttpResponse:
    return _error(request, 422, str(exc), exc.field)


@api.exception_handler(InvalidFields)
def _invalid_fields(request: HttpRequest, exc: InvalidFields) -> HttpResponse:
    """A service's model validation (full_clean): 422 naming the first field."""
    errors = getattr(exc, "message_dict", None) or {"body": exc.messages}
    field, messages = next(iter(errors.items()))
    field = "body" if field == "__all__" else field
    return _error(request, 422, f"{field}: {' '.join(messages)}", field)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /api/ (see webapp/urls.py): a JSON 404, as the API's own."""
    return JsonResponse({"detail": "No such API endpoint; the endpoints are listed in /api/openapi.json"}, status=404)


@api.exception_handler(imports.UploadNotFound)
def _no_upload(request: HttpRequest, exc: imports.UploadNotFound) -> HttpResponse:
    return _error(request, 404, str(exc))


@api.exception_handler(imports.ImportFailed)
def _bad_import(request: HttpRequest, exc: imports.ImportFailed) -> HttpResponse:
    return _error(request, 400, str(exc))


@api.exception_handler(exporters.ExportError)
def _bad_export(request: HttpRequest, exc: exporters.ExportError) -> HttpResponse:
    return _error(request, 400, str(exc))


# --- schemas ---------------------------------------------------------------------------------


def slug_field(description: str) -> Any:
    """A required slug-like string field: 1 to 100 letters, numbers, hyphens and underscores."""
    return Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$", description=description)


class ProjectIn(Schema):
    slug: str = slug_field("Letters, numbers, hyphens and underscores; used in every address")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["pairwise", "binary"] = "pairwise"
    overlap: int = Field(1, ge=1, le=50, description="Judgments each item needs (k)")


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
    format: Literal[exporters.FORMATS] = "preference"  # type: ignore[valid-type]  # from DatasetSnapshot.Format
    file_type: Literal[exporters.FILE_TYPES] = "jsonl"  # type: ignore[valid-type]
    policy: Literal[exporters.POLICIES] = "majority"  # type: ignore[valid-type]
    ties: Literal[exporters.KEEP_OR_DROP] = "drop"  # type: ignore[valid-type]
    both_bad: Literal[exporters.KEEP_OR_DROP] = "drop"  # type: ignore[valid-type]
    form: Literal[exporters.FORMS] = "auto"  # type: ignore[valid-type]
    split: Literal[exporters.SPLITS] = "all"  # type: ignore[valid-type]
    test_size: float | None = None
    seed: int = 0
    from_pairs: bool = False
    source: Literal[exporters.SOURCES] = "all"  # type: ignore[valid-type]


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


def _snapshot_out(snapshot: DatasetSnapshot) -> dict:
    return {
        "id": snapshot.pk,
        "project": snapshot.project.slug,
        "format": snapshot.format,
        "file_type": snapshot.file_type,
        "spec": snapshot.spec,
        "sha256": snapshot.sha256,
        "rows": snapshot.rows,
        "size_bytes": snapshot.size_bytes,
        "created_at": snapshot.created_at,
        "download": f"/api/snapshots/{snapshot.pk}/download",
    }


# --- projects --------------------------------------------------------------------------------

ERRORS = {400: Error, 403: Error, 404: Error}


@api.get("/projects", response={200: list[ProjectOut], 403: Error}, tags=["projects"])
def list_projects(request: ApiRequest) -> list[Project]:
    require_researcher(request)
    return research_projects(request.user)


@api.post("/projects", response={201: ProjectOut, 403: Error, 422: Error}, tags=["projects"])
def create_project(request: ApiRequest, data: ProjectIn) -> tuple[int, Project]:
    """A new project; you become its admin. (422 names the field: a taken or malformed slug, a name
    too long, k outside 1..50; 403 for annotators.)"""
    require_researcher(request)
    return 201, services.create_project(creator=request.user, **data.dict())


@api.get("/projects/{slug}", response={200: ProjectCounts, **ERRORS}, tags=["projects"])
def project_counts(request: ApiRequest, slug: str) -> dict:
    return selectors.project_counts(project_for(request, slug))


# --- imports ---------------------------------------------------------------------------------


@api.post("/projects/{slug}/imports", response={200: ImportOut, **ERRORS}, tags=["imports"])
def import_file(
    request: ApiRequest,
    slug: str,
    file: File[UploadedFile],
    format: Form[Literal[formats.names()]],  # type: ignore[valid-type]  # the import format table
    map: Form[str] = "",
    skip_invalid: Form[bool] = False,
) -> dict:
    """Upload and import a file in one go (`map`: TARGET=COLUMN pairs, comma- or newline-separated)."""
    project = project_for(request, slug)
    result = imports.import_upload(
        project, request.user, file, fmt=format, mapping=imports.parse_mapping(map), skip_invalid=skip_invalid
    )
    return {
        **result.counts(),
        "already_imported": result.already_imported,
        "skipped_rows": result.skipped,
        "batch": result.batch.pk if result.batch else None,
    }


@api.get("/projects/{slug}/imports", response={200: list[ImportBatchOut], **ERRORS}, tags=["imports"])
def list_imports(request: ApiRequest, slug: str) -> QuerySet[ImportBatch]:
    return project_for(request, slug).import_batches.all()


# --- exports and snapshots -------------------------------------------------------------------


@api.post("/projects/{slug}/exports", response={200: None, **ERRORS}, tags=["exports"])
def export_file(request: ApiRequest, slug: str, data: ExportIn) -> FileResponse:
    """The export as a file download (headers X-Rows and X-Sha256 describe it)."""
    project = project_for(request, slug)
    return downloads.export_download(project, exporters.ExportSpec(**data.dict()))


@api.post("/projects/{slug}/snapshots", response={201: SnapshotOut}, tags=["snapshots"])
def create_snapshot(request: ApiRequest, slug: str, data: ExportIn) -> dict:
    """Freeze an export as an immutable snapshot. (Answers 400 for an impossible spec, 403, 404.)"""
    project = project_for(request, slug)
    return _snapshot_out(freeze(project, exporters.ExportSpec(**data.dict()), user=request.user))


@api.get("/projects/{slug}/snapshots", response={200: list[SnapshotOut], **ERRORS}, tags=["snapshots"])
def list_snapshots(request: ApiRequest, slug: str) -> list[dict]:
    project = project_for(request, slug)
    return [_snapshot_out(s) for s in DatasetSnapshot.objects.filter(project=project).select_related("project")]


def _snapshot(request: ApiRequest, snapshot_id: int) -> DatasetSnapshot:
    snapshot = get_object_or_404(DatasetSnapshot.objects.select_related("project"), pk=snapshot_id)
    project_for(request, snapshot.project.slug)
    return snapshot


@api.get("/snapshots/{snapshot_id}", response={200: SnapshotOut, **ERRORS}, tags=["snapshots"])
def get_snapshot(request: ApiRequest, snapshot_id: int) -> dict:
    return _snapshot_out(_snapshot(request, snapshot_id))


@api.get("/snapshots/{snapshot_id}/download", response={200: None, **ERRORS}, tags=["snapshots"])
def download_snapshot(request: ApiRequest, snapshot_id: int) -> FileResponse:
    return downloads.snapshot_download(_snapshot(request, snapshot_id))


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
def _bad_member_change(request: HttpRequest, exc: services.MembershipError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=400)


def _member_out(membership: Membership) -> dict:
    return {"username": membership.user.username, "role": membership.role}


@api.get("/projects/{slug}/members", response={200: list[MemberOut], **MEMBER_ERRORS}, tags=["members"])
def list_members(request: ApiRequest, slug: str) -> list[dict]:
    """The project's members and roles. (403 for annotators, 404 for a project you are not a member of.)"""
    project = project_for(request, slug)
    return [_member_out(m) for m in project.memberships.select_related("user").order_by("user__username")]


@api.post("/projects/{slug}/members", response={201: MemberOut, **MEMBER_ERRORS}, tags=["members"])
def add_member(request: ApiRequest, slug: str, data: MemberIn) -> tuple[int, dict]:
    """Add an existing user with a role. 400: no such user, or already a member (change a role with PUT);
    403: an annotator, or a researcher granting the admin role; 404: not your project."""
    project = project_for(request, slug)
    return 201, _member_out(services.add_member(project, data.username, data.role, actor=request.user))


@api.put("/projects/{slug}/members/{username}", response={200: MemberOut, **MEMBER_ERRORS}, tags=["members"])
def set_member_role(request: ApiRequest, slug: str, username: str, data: RoleIn) -> dict:
    """Change a member's role. 400: not a member, or the project's only admin would be demoted;
    403: an annotator, or a researcher changing an admin's role; 404: not your project."""
    project = project_for(request, slug)
    return _member_out(services.set_role(project, username, data.role, actor=request.user))


@api.delete("/projects/{slug}/members/{username}", response={204: None, **MEMBER_ERRORS}, tags=["members"])
def remove_member(request: ApiRequest, slug: str, username: str) -> tuple[int, None]:
    """Take a member off the project (their judgments stay). 400: not a member, or the only admin;
    403: an annotator, or a researcher removing an admin; 404: not your project."""
    project = project_for(request, slug)
    services.remove_member(project, username, actor=request.user)
    return 204, None


# --- models (researchers of the project) -----------------------------------------------------

DOCUMENTED = {401: Error, 403: Error, 404: Error, 422: Error}


class ModelIn(Schema):
    name: str = slug_field("Unique in the project: letters, numbers, hyphens and underscores")
    base: str = Field(
        min_length=1, max_length=500, description="A hub id (org/name) or a directory under one of the model roots"
    )
    kind: Literal["policy", "reward"] = "policy"
    adapters: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20, description="LoRA adapter directories applied on `base`, in order"
    )


class ModelOut(Schema):
    id: int
    project: str | None
    name: str
    kind: str
    base: str
    adapters: list[str]
    parent: int | None
    job: int | None
    evaluation: dict
    created_at: datetime


class LineageStep(Schema):
    model: int
    name: str
    kind: str
    base: str
    adapters: list[str]
    job: int | None
    algorithm: str | None
    snapshot: int | None


class ModelDetail(ModelOut):
    lineage: list[LineageStep]


def _model_out(model: ModelVersion) -> dict:
    return {
        "id": model.pk,
        "project": model.project.slug if model.project is not None else None,
        "name": model.name,
        "kind": model.kind,
        "base": model.base,
        "adapters": list(model.adapters or []),
        "parent": model.parent_id,
        "job": model.produced_by_id,
        "evaluation": model.evaluation or {},
        "created_at": model.created_at,
    }


def _lineage_step(step: dict) -> dict:
    model, job, snapshot = step["model"], step["job"], step["snapshot"]
    return {
        "model": model.pk,
        "name": model.name,
        "kind": model.kind,
        "base": model.base,
        "adapters": list(model.adapters or []),
        "job": job.pk if job else None,
        "algorithm": job.algorithm if job else None,
        "snapshot": snapshot.pk if snapshot else None,
    }


@api.get("/projects/{slug}/models", response={200: list[ModelOut], **DOCUMENTED}, tags=["models"])
def list_models(request: ApiRequest, slug: str) -> list[dict]:
    """The project's model versions, newest first."""
    project = project_for(request, slug)
    return [_model_out(m) for m in training_selectors.models_for(request.user).filter(project_id=project.pk)]


@api.post("/projects/{slug}/models", response={201: ModelOut, **DOCUMENTED}, tags=["models"])
def register_model(request: ApiRequest, slug: str, data: ModelIn) -> tuple[int, dict]:
    """Register a model in the project. Never overwrites: 422 names the field for a name already used in
    the project, a base that is neither a hub id nor a directory under the model roots, a bad adapter."""
    project = project_for(request, slug)
    try:
        model = training_services.register_model(project=project, **data.dict())
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise InvalidFields({field if message else "body": [message or str(exc)]}) from None
    return 201, _model_out(model)


@api.get("/models/{model_id}", response={200: ModelDetail, **DOCUMENTED}, tags=["models"])
def get_model(request: ApiRequest, model_id: int) -> dict:
    """A model of one of your projects, with its lineage: the model, its parent, ... each with the job and
    snapshot that made it. 404 for a model of a project you do not research."""
    require_researcher(request)
    model = training_selectors.get_model_for_user(request.user, model_id)
    return {**_model_out(model), "lineage": [_lineage_step(s) for s in training_selectors.lineage(model)]}


# --- judgments (researchers read them all; any member answers their own assignments) ---------


class JudgmentOut(Schema):
    id: int
    item: int
    choice: str
    annotator: str | None = Field(description="Username; null for labels imported with the data")
    source: str
    left: str = Field(description='Which response was shown on the left: "a" or "b" ("" for imported labels)')
    strength: int | None
    created_at: datetime


class JudgmentPage(Schema):
    items: list[JudgmentOut]
    next: int | None = Field(description="Pass as `after` for the next page; null on the last page")


class JudgmentIn(Schema):
    item: int = Field(ge=1, le=2**62, description="The item's id (from your queue)")
    choice: Literal[tuple(value for value, _ in ANSWERS)]  # type: ignore[valid-type]
    client_token: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[-a-zA-Z0-9_.:]+$",
        description="Your own id for this answer: resending the same token stores it once",
    )
    strength: int | None = Field(None, ge=1, le=3)
    rationale: str = Field("", max_length=5000)


class JudgmentStored(JudgmentOut):
    created: bool = Field(description="False when this token's answer was stored before (a resubmission)")


@api.get("/projects/{slug}/judgments", response={200: JudgmentPage, **DOCUMENTED}, tags=["judgments"])
def list_judgments(request: ApiRequest, slug: str, after: Query[int] = 0, limit: Query[int] = 100) -> dict:
    """The project's judgments in id order, a page at a time (`after`: the previous page's `next`;
    `limit` 1..1000). For the project's researchers."""
    if not 0 <= after <= 2**62:
        raise InvalidFields({"after": ["must be a judgment id (0 for the first page)"]})
    if not 1 <= limit <= selectors.JUDGMENT_PAGE_MAX:
        raise InvalidFields({"limit": [f"must be between 1 and {selectors.JUDGMENT_PAGE_MAX}"]})
    return selectors.judgment_page(project_for(request, slug), after=after, limit=limit)


@api.post(
    "/projects/{slug}/judgments",
    response={200: JudgmentStored, 201: JudgmentStored, 409: Error, **DOCUMENTED},
    tags=["judgments"],
)
def submit_judgment(request: ApiRequest, slug: str, data: JudgmentIn) -> tuple[int, dict]:
    """Answer an item assigned to you (any member, annotators included), exactly as the annotation page
    does: 201 when stored, 200 with the stored answer when this client token (or your answer to the item)
    was stored before. 409: the item is not assigned to you (take it from your queue), you skipped it,
    or its lapsed lease went to someone else; 422: a choice this project does not offer."""
    project = get_project_for_user(request.user, slug)
    assignment = selectors.assignment_for_item(request.user, project, data.item)
    if assignment is None:
        leased = services.lease_next_item(project, request.user)
        if leased is None or leased.item_id != data.item:
            return 409, {
                "detail": f"Item {data.item} is not assigned to you; take your next item from "
                f"/api/projects/{project.slug}/queue"
            }
        assignment = leased
    try:
        result = services.submit_judgment(
            assignment,
            choice=data.choice,
            client_token=data.client_token,
            strength=data.strength,
            rationale=data.rationale,
        )
    except services.AssignmentClosed as exc:
        return 409, {"detail": str(exc)}
    except services.SubmitError as exc:
        message = str(exc)
        if message.startswith(("choice", "strength")):
            raise InvalidFields({message.split(" ", 1)[0]: [message]}) from None
        return 409, {"detail": message, "field": "client_token"}
    j = result.judgment
    body = {
        "id": j.pk,
        "item": j.item_id,
        "choice": j.choice,
        "annotator": request.user.get_username(),
        "source": j.source,
        "left": j.left,
        "strength": j.strength,
        "created_at": j.created_at,
        "created": result.created,
    }
    return (201 if result.created else 200), body


# --- the annotator's queue (any member) -------------------------------------------------------


class QueueProject(Schema):
    slug: str
    name: str
    kind: str
    left: int = Field(description="Items still open to you")
    judged_today: int
    skipped: int = Field(description="Items you skipped that still need judgments")


class Side(Schema):
    response: int
    text: str
    value: str = Field(description='The choice that picks this side: "a" or "b"')


class PromptOut(Schema):
    text: str
    conversation: list | None


class QueueItem(Schema):
    item: int
    expires_at: datetime
    prompt: PromptOut
    left: Side
    right: Side | None = Field(description="null for a binary (thumbs up/down) item")


class QueueNext(Schema):
    project: str
    kind: str = Field(description="pairwise: answer a, b, tie or both_bad; binary: up or down")
    allow_tie: bool
    allow_both_bad: bool
    next: QueueItem | None = Field(description="null when nothing is left for you")
    left: int
    judged_today: int


@api.get("/queue", response={200: list[QueueProject], **DOCUMENTED}, tags=["queue"])
def my_queue(request: ApiRequest) -> list[dict]:
    """Your projects with what is left for you."""
    return [
        {
            "slug": r["project"].slug,
            "name": r["project"].name,
            "kind": r["project"].kind,
            "left": r["left"],
            "judged_today": r["judged_today"],
            "skipped": r["skipped"],
        }
        for r in selectors.annotator_projects(request.user)
    ]


@api.get("/projects/{slug}/queue", response={200: QueueNext, **DOCUMENTED}, tags=["queue"])
def next_item(request: ApiRequest, slug: str) -> dict:
    """Your next item in the project, leased to you (the same one until you answer it or the lease ends),
    with its prompt and responses in the left/right order you should show. Answer it with
    POST /api/projects/{slug}/judgments."""
    project = get_project_for_user(request.user, slug)
    assignment = services.lease_next_item(project, request.user)
    progress = selectors.annotator_progress(project, request.user)
    item_out = None
    if assignment is not None:
        item = assignment.item
        first, second = (
            (item.response_a, item.response_b)
            if assignment.a_on_left or item.response_b is None  # a binary item has only response a
            else (item.response_b, item.response_a)
        )
        first_value, second_value = ("a", "b") if assignment.a_on_left else ("b", "a")
        pairwise = project.is_pairwise
        item_out = {
            "item": item.pk,
            "expires_at": assignment.expires_at,
            "prompt": {"text": item.prompt.text, "conversation": item.prompt.conversation},
            "left": {"response": first.pk, "text": first.text, "value": first_value if pairwise else "a"},
            "right": {"response": second.pk, "text": second.text, "value": second_value}
            if pairwise and second is not None
            else None,
        }
    return {
        "project": project.slug,
        "kind": project.kind,
        "allow_tie": project.allow_tie,
        "allow_both_bad": project.allow_both_bad,
        "next": item_out,
        **progress,
    }


# --- jobs (researchers of the project): every kind of background work, one lifecycle ------------


class JobLaunchIn(Schema):
    algorithm: str = Field(min_length=1, max_length=16, description="A training algorithm (see the launch form)")
    base_model: int = Field(ge=1, description="Id of a model of this project to start from")
    snapshot: int = Field(ge=1, description="Id of a snapshot of this project to train on")
    eval_snapshot: int | None = Field(
        None, ge=1, description="Held-out snapshot (default: the test side of a split one)"
    )
    settings: dict = Field(
        default_factory=dict, description="Config overrides, by name (bounds from the algorithm table)"
    )


class MetricPoint(Schema):
    step: int
    value: float | None = Field(description="null for a value that was NaN or infinite")


class JobDetail(JobOut):
    metrics: dict[str, list[MetricPoint]]
    log_tail: str
    resume_note: str | None = Field(description="What resuming would do (a failed or cancelled job); else null")


class JobResumed(JobOut):
    note: str = Field(description='Where the job continues: "... continue from step N" or "... restarts from step 0"')


def _job_for(request: ApiRequest, job_id: int) -> Job:
    require_researcher(request)
    return training_selectors.get_job_for_user(request.user, job_id)


@api.get("/projects/{slug}/jobs", response={200: list[JobOut], **DOCUMENTED}, tags=["jobs"])
def list_jobs(request: ApiRequest, slug: str) -> list[dict]:
    """The project's jobs of every kind, newest first (at most 200)."""
    project = project_for(request, slug)
    return [job_out(job) for job in training_selectors.jobs_for(request.user).filter(project=project)[:200]]


def _not_in_project(field: str, wanted: int, project: Project) -> InvalidFields:
    return InvalidFields({field: [f"no {field.replace('_', ' ')} with id {wanted} in project {project.slug}"]})


@api.post("/projects/{slug}/jobs", response={201: JobOut, **DOCUMENTED}, tags=["jobs"])
def launch_job(request: ApiRequest, slug: str, data: JobLaunchIn) -> tuple[int, dict]:
    """Queue a training job: `algorithm` from `base_model` on `snapshot` (both of this project) with
    `settings` over the algorithm's defaults. 422 names the field at fault: an unknown algorithm, a model or
    snapshot not in the project, a snapshot of the wrong format, a setting unknown or out of bounds."""
    project = project_for(request, slug)
    base = training_selectors.project_model(project, data.base_model)
    snapshot = training_selectors.project_snapshot(project, data.snapshot)
    eval_snapshot = training_selectors.project_snapshot(project, data.eval_snapshot) if data.eval_snapshot else None
    if base is None:
        raise _not_in_project("base_model", data.base_model, project)
    if snapshot is None:
        raise _not_in_project("snapshot", data.snapshot, project)
    if data.eval_snapshot and eval_snapshot is None:
        raise _not_in_project("eval_snapshot", data.eval_snapshot, project)
    job = training_services.launch_job(
        algorithm=data.algorithm,
        base_model=base,
        snapshot=snapshot,
        eval_snapshot=eval_snapshot,
        overrides=data.settings,
        user=request.user,
    )
    return 201, job_out(job)


@api.get("/jobs/{job_id}", response={200: JobDetail, **DOCUMENTED}, tags=["jobs"])
def get_job(request: ApiRequest, job_id: int) -> dict:
    """A job of one of your projects: status, progress (step/total, ETA), its metrics by name (null for a
    NaN or infinite value), the log tail and, for a failed or cancelled job, what resuming would do."""
    job = _job_for(request, job_id)
    resumable = job.status in ("failed", "cancelled")
    return {
        **job_out(job),
        "metrics": training_selectors.job_metrics(job),
        "log_tail": job.log_tail,
        "resume_note": training_selectors.resume_note(job) if resumable else None,
    }


@api.post("/jobs/{job_id}/cancel", response={200: JobOut, **DOCUMENTED}, tags=["jobs"])
def cancel_job(request: ApiRequest, job_id: int) -> dict:
    """Cancel a job: a queued one at once, a running one at its next step (`cancel_requested` shows it).
    A job that has ended is left as it is."""
    job = _job_for(request, job_id)
    training_jobs.cancel(job)
    return job_out(training_selectors.get_job_for_user(request.user, job_id))


@api.post("/jobs/{job_id}/resume", response={200: JobResumed, 409: Error, **DOCUMENTED}, tags=["jobs"])
def resume_job(request: ApiRequest, job_id: int) -> dict | tuple[int, dict]:
    """Queue a failed or cancelled job again; `note` says whether it continues from a checkpoint (and
    which step) or restarts from step 0. 409 for a job that is queued, running or succeeded."""
    job = _job_for(request, job_id)
    note = training_selectors.resume_note(job)
    try:
        training_jobs.resume(job)
    except ValueError as exc:
        return 409, {"detail": str(exc)}
    return {**job_out(training_selectors.get_job_for_user(request.user, job_id)), "note": note}


api.add_router("", loop_router)
