"""Reads of the training domain; what a researcher may see follows from the projects they research."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from labeling.models import Project
from labeling.selectors import RESEARCH_ROLES, get_project_for_user, is_researcher
from training.models import DatasetSnapshot, ModelVersion, TrainingJob


def research_project_ids(user) -> list[int]:
    if user.is_superuser:
        return list(Project.objects.values_list("id", flat=True))
    return list(Project.objects.filter(memberships__user=user, memberships__role__in=RESEARCH_ROLES).values_list("id", flat=True))


def require_researcher(user) -> None:
    if not is_researcher(user):
        raise PermissionDenied("Training is for researchers")


def jobs_for(user):
    return TrainingJob.objects.filter(snapshot__project_id__in=research_project_ids(user)).select_related(
        "base_model", "snapshot__project", "output_model"
    )


def snapshots_for(user):
    return DatasetSnapshot.objects.filter(project_id__in=research_project_ids(user)).select_related("project")


def get_job_for_user(user, job_id: int) -> TrainingJob:
    job = TrainingJob.objects.select_related("base_model", "snapshot__project").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job")
    get_project_for_user(user, job.snapshot.project.slug, research=True)
    return job


def get_model_for_user(user, name: str) -> ModelVersion:
    require_researcher(user)
    model = ModelVersion.objects.select_related("parent", "produced_by__snapshot__project").filter(name=name).first()
    if model is None:
        raise Http404("No such model")
    return model


def lineage(model: ModelVersion) -> list[dict]:
    """The model, its parent, its parent's parent ...: each with the job and snapshot that made it."""
    chain, seen = [], set()
    while model is not None and model.pk not in seen:
        seen.add(model.pk)
        job = getattr(model, "produced_by", None)
        chain.append({"model": model, "job": job, "snapshot": job.snapshot if job else None})
        model = model.parent
    return chain
