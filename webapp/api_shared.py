"""What both API modules use (webapp/api.py: data, members, models, jobs; webapp/api_loop.py: the model
side of the loop): the authenticated request, the project and researcher checks, and a job as JSON."""

from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Schema

from labeling.models import Project
from labeling.selectors import get_project_for_user, is_researcher
from training.models import Job


class ApiRequest(HttpRequest):
    """A request TokenAuth let through: `user` is the token's user."""

    user: User


def require_researcher(request: ApiRequest) -> None:
    if not is_researcher(request.user):
        raise PermissionDenied("The API is for researchers")


def project_for(request: ApiRequest, slug: str) -> Project:
    return get_project_for_user(request.user, slug, research=True)


class TrainingDetails(Schema):
    algorithm: str
    base_model: int
    snapshot: int
    eval_snapshot: int | None
    config: dict
    output_model: int | None


class JobOut(Schema):
    id: int
    kind: str
    project: str
    status: str
    step: int
    total: int = Field(description="Steps to do; 0 while unknown")
    progress: float = Field(description="step / total, 0..1")
    eta_seconds: float | None = Field(description="Time left at the current pace; null when unknown")
    worker: str
    cancel_requested: bool
    error: str
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    training: TrainingDetails | None = Field(description="The training details of a training job; null for other kinds")


def job_out(job: Job) -> dict:
    eta = job.eta
    out = {
        "id": job.pk,
        "kind": job.kind,
        "project": job.project.slug,
        "status": job.status,
        "step": job.step,
        "total": job.total,
        "progress": job.progress,
        "eta_seconds": eta.total_seconds() if eta else None,
        "worker": job.worker,
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "created_at": job.created_at,
        "queued_at": job.queued_at,
        "started_at": job.started_at,
        "heartbeat_at": job.heartbeat_at,
        "finished_at": job.finished_at,
        "training": None,
    }
    details = getattr(job, "training", None) if job.kind == "train" else None
    if details is not None:
        output = getattr(details, "output_model", None)
        out["training"] = {
            "algorithm": details.algorithm,
            "base_model": details.base_model_id,
            "snapshot": details.snapshot_id,
            "eval_snapshot": details.eval_snapshot_id,
            "config": details.config,
            "output_model": output.pk if output else None,
        }
    return out
