"""Reads of the training domain; what a researcher may see follows from the projects they research."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from labeling.models import DatasetSnapshot, Project
from labeling.selectors import RESEARCH_ROLES, get_project_for_user, is_researcher
from training.models import Job, JobMetric, ModelVersion, TrainingJob, WorkerBeat


def research_project_ids(user: User | AnonymousUser) -> list[int]:
    if isinstance(user, AnonymousUser):  # researches nothing (login_required sends them to log in first)
        return []
    if user.is_superuser:
        return list(Project.objects.values_list("id", flat=True))
    return list(
        Project.objects.filter(memberships__user=user, memberships__role__in=RESEARCH_ROLES).values_list(
            "id", flat=True
        )
    )


def projects_for(user: User | AnonymousUser) -> QuerySet[Project]:
    """The projects `user` researches, as a queryset (for form choices)."""
    return Project.objects.filter(id__in=research_project_ids(user))


def require_researcher(user: User | AnonymousUser) -> None:
    if not is_researcher(user):
        raise PermissionDenied("Training is for researchers")


def jobs_for(user: Any) -> QuerySet[Job]:
    """Every job (of every kind) in the projects `user` researches, newest first, with its details."""
    return Job.objects.filter(project_id__in=research_project_ids(user)).select_related(
        "project", "training__base_model", "training__snapshot", "training__output_model"
    )


def snapshots_for(user: User | AnonymousUser) -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.filter(project_id__in=research_project_ids(user)).select_related("project")


def job_details(job: Job) -> Job:
    """The most specific row of `job`: its TrainingJob for a training job, else the Job itself."""
    if job.kind == Job.Kind.TRAIN:
        return TrainingJob.objects.select_related("base_model", "snapshot__project", "project").get(pk=job.pk)
    return job


def get_job_for_user(user: Any, job_id: int) -> Job:
    """Job `job_id` (as its kind's details, e.g. a TrainingJob) if `user` researches its project;
    404 when it does not exist or is out of sight, 403 for an annotator of the project."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job")
    get_project_for_user(user, job.project.slug, research=True)
    return job_details(job)


def metric_names(job: Job) -> list[str]:
    return list(JobMetric.objects.filter(job=job).order_by("name").values_list("name", flat=True).distinct())


def metric_series(job: Job, names: list[str]) -> dict[str, list[tuple[int, float | None]]]:
    """{name: [(step, value), ...]} for the given metric names, by step (None: NaN or an infinity)."""
    series: dict[str, list[tuple[int, float | None]]] = {name: [] for name in names}
    rows = JobMetric.objects.filter(job=job, name__in=names).order_by("name", "step", "id")
    for name, step, value in rows.values_list("name", "step", "value"):
        series[name].append((step, value))
    return series


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint: a worker killed while saving leaves one without its trainer state."""
    complete = [
        p
        for p in output_dir.glob("checkpoint-*")
        if (p / "trainer_state.json").is_file() and p.name.rsplit("-", 1)[1].isdigit()
    ]
    return max(complete, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def resume_step(job: Job) -> int:
    """The step a resumed `job` continues from: its last complete checkpoint, else 0."""
    if isinstance(job, TrainingJob):
        checkpoint = latest_checkpoint(job.output_dir)
        return int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0
    return 0


def resume_note(job: Job) -> str:
    """What "Resume" will do, in words: continue from a checkpoint, or restart from step 0."""
    if job.started_at is None:
        return "This job never ran: resuming queues it to start from step 0."
    step = resume_step(job)
    if step:
        return f"Resuming will continue from step {step} (the last saved checkpoint)."
    return "No checkpoint was saved: resuming restarts from step 0."


def worker_warning(within_s: float | None = None) -> str | None:
    """A plain sentence when no worker has been seen lately (nothing would run queued jobs), else None."""
    within_s = within_s if within_s is not None else 3 * settings.WORKER_BEAT_SECONDS
    cutoff = timezone.now() - timedelta(seconds=within_s)
    start = 'Start one with "make run" (or "celery -A webapp worker -B -Q default,gpu").'
    last = WorkerBeat.objects.order_by("-seen_at").first()
    if last is None:
        return f"No worker has been seen yet: queued jobs will wait until one runs. {start}"
    if last.seen_at < cutoff:
        ago = int((timezone.now() - last.seen_at).total_seconds())
        return f"No worker has been seen for {ago} s (last: {last.hostname}): queued jobs will wait. {start}"
    alive = WorkerBeat.objects.filter(seen_at__gte=cutoff).values_list("queues", flat=True)
    if not any(settings.TRAINING_QUEUE in queues.split(",") for queues in alive):
        return (
            f"No running worker takes the training queue {settings.TRAINING_QUEUE!r}: training jobs will wait. "
            f'Start one with "celery -A webapp worker -Q {settings.TRAINING_QUEUE}".'
        )
    return None


def models_for(user: User | AnonymousUser) -> QuerySet[ModelVersion]:
    """The model versions of the projects `user` researches."""
    return ModelVersion.objects.filter(project_id__in=research_project_ids(user)).select_related("project", "parent")


def get_model_for_user(user: User | AnonymousUser, model_id: int) -> ModelVersion:
    """A model of a project `user` researches; 404 otherwise (whether or not it exists); 403 for a
    user who researches nothing (an annotator), with the reason."""
    require_researcher(user)
    model = models_for(user).select_related("produced_by__snapshot__project").filter(pk=model_id).first()
    if model is None:
        raise Http404("No such model")
    return model


def lineage(model: ModelVersion) -> list[dict]:
    """The model, its parent, its parent's parent ...: each with the job and snapshot that made it."""
    chain: list[dict] = []
    seen: set[int] = set()
    current: ModelVersion | None = model
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        job = getattr(current, "produced_by", None)
        chain.append({"model": current, "job": job, "snapshot": job.snapshot if job else None})
        current = current.parent
    return chain


def project_model(project: Project, model_id: int) -> ModelVersion | None:
    """Model `model_id` if it belongs to `project` (None otherwise)."""
    return ModelVersion.objects.filter(project=project, pk=model_id).first()


def model_run_choices(model: ModelVersion) -> dict[str, Any] | None:
    """What the model page offers to start on `model` (None for a model of no project): sampling and
    best-of-n for a policy, an evaluation on labelled pairs for local weights, with the project's reward
    versions (to rank by), other policies (a DPO reference, its parent first) and preference snapshots."""
    if model.project_id is None:
        return None
    versions = ModelVersion.objects.filter(project_id=model.project_id).exclude(pk=model.pk).order_by("name")
    policies = [v for v in versions if v.kind == ModelVersion.Kind.POLICY and not v.is_endpoint]
    policies.sort(key=lambda v: v.pk != model.parent_id)
    is_policy = model.kind == ModelVersion.Kind.POLICY
    return {
        "samples": is_policy,
        "evaluate": not model.is_endpoint,
        "rewards": [v for v in versions if v.kind == ModelVersion.Kind.REWARD and not v.is_endpoint],
        "references": policies if is_policy else [],
        "snapshots": DatasetSnapshot.objects.filter(
            project_id=model.project_id, format=DatasetSnapshot.Format.PREFERENCE
        ).order_by("-id")[:50],
    }


def project_snapshot(project: Project, snapshot_id: int) -> DatasetSnapshot | None:
    """Snapshot `snapshot_id` if it belongs to `project` (None otherwise)."""
    return DatasetSnapshot.objects.filter(project=project, pk=snapshot_id).first()


def job_metrics(job: Job) -> dict[str, list[dict[str, Any]]]:
    """Every metric of `job`: {name: [{step, value}, ...]} by step; value None for NaN or an infinity."""
    series: dict[str, list[dict[str, Any]]] = {}
    for name, step, value in (
        JobMetric.objects.filter(job=job).order_by("name", "step", "id").values_list("name", "step", "value")
    ):
        series.setdefault(name, []).append({"step": step, "value": value})
    return series
