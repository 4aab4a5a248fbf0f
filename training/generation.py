"""Generation batches: a model version x a prompt set x sampling settings -> responses.

Services (writes) and selectors (reads), torch-free; the worker side (workers/generation.py) calls
the backend and hands the completions to `save_samples`. Each response is written by the one
writer (labeling.data.writer) with source "model:NAME" and its sampling settings, and linked to
its model version, job and prompt by a Generation row. Generation rows are unique per (job, model
version, prompt, sample index), and `missing_samples` lists only what is not written yet, so a
resumed job (or a second pass of a campaign) never writes a response twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import QuerySet

from labeling.data.rows import prompt_hash
from labeling.data.snapshots import snapshot_rows
from labeling.data.writer import Writer
from labeling.models import DatasetSnapshot, Project, Prompt, Response
from training import jobs
from training.ml.sampling import Sampling
from training.models import Generation, GenerationBatch, Job, ModelVersion

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


def check_endpoint(url: str, model: str, api_key_env: str) -> tuple[str, str, str]:
    """The validated (endpoint_url, endpoint_model, api_key_env) of a model served elsewhere."""
    url, model, api_key_env = url.strip(), model.strip(), api_key_env.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint_url: must be an http(s) URL such as http://127.0.0.1:8000/v1, not {url!r}")
    if not model or len(model) > 200:
        raise ValueError("endpoint_model: give the model name the endpoint serves (at most 200 characters)")
    if api_key_env and not ENV_NAME.fullmatch(api_key_env):
        raise ValueError(
            "api_key_env: must be the NAME of an environment variable (letters, digits, _), never the key itself"
        )
    return url, model, api_key_env


def model_source(version: ModelVersion) -> str:
    """The Response.source label of what `version` wrote."""
    return f"model:{version.name}"


def parse_sampling(values: dict[str, Any] | None) -> dict[str, Any]:
    """Validated sampling settings as stored (all fields, defaults filled); ValueError naming the field."""
    if values is not None and not isinstance(values, dict):
        raise ValueError("sampling: must be an object of sampling settings")
    try:
        return Sampling.from_dict(values or {}).to_dict()
    except TypeError as e:
        raise ValueError(f"sampling: {e}") from None


def prompt_set(project: Project, *, split: str = "", snapshot: DatasetSnapshot | None = None) -> QuerySet[Prompt]:
    """The prompts a batch generates for: a snapshot's prompts, or the project's (only `split` if set), by id."""
    prompts = Prompt.objects.filter(project=project)
    if snapshot is not None:
        hashes = {prompt_hash(row["prompt"]) for row in snapshot_rows(snapshot) if row.get("prompt")}
        prompts = prompts.filter(content_hash__in=hashes)
    if split:
        prompts = prompts.filter(split=split)
    return prompts.order_by("id")


def check_split(split: str) -> str:
    if split and split not in Prompt.Split.values:
        raise ValueError(f"split: must be one of {', '.join(Prompt.Split.values)}, not {split!r}")
    return split


def require_prompts(
    project: Project, *, split: str = "", snapshot: DatasetSnapshot | None = None, field: str = "prompts"
) -> int:
    """How many prompts `prompt_set` gives; a ValueError naming `field` when it gives none."""
    n = prompt_set(project, split=split, snapshot=snapshot).count()
    if n == 0:
        raise ValueError(f"{field}: project {project.slug} has no prompts{f' in split {split}' if split else ''}")
    return n


def project_of(version: ModelVersion) -> Project:
    """The project `version` belongs to (a ValueError naming `model` when it belongs to none)."""
    if version.project is None:
        raise ValueError("model: this model version belongs to no project; register it in one")
    return version.project


def start_generation(
    *,
    model_version: ModelVersion,
    split: str = "",
    snapshot: DatasetSnapshot | None = None,
    sampling: dict[str, Any] | None = None,
    user: Any = None,
) -> GenerationBatch:
    """Queue a generation batch for the gpu workers; nothing is queued if it is refused."""
    project = project_of(model_version)
    if snapshot is not None and snapshot.project_id != project.pk:
        raise ValueError("snapshot: belongs to another project than the model")
    split = check_split(split)
    settings = parse_sampling(sampling)
    n_prompts = require_prompts(project, split=split, snapshot=snapshot)
    return jobs.create(
        GenerationBatch,
        kind=Job.Kind.GENERATE,
        project=project,
        user=user,
        total=n_prompts * settings["n"],
        model_version=model_version,
        split=split,
        snapshot=snapshot,
        sampling=settings,
    )


@dataclass(frozen=True)
class Sample:
    """One completion to store: for which prompt, which sample index, its text."""

    prompt: Prompt
    index: int
    text: str


def missing_samples(job_id: int, version: ModelVersion, prompts: Iterable[Prompt], n: int) -> list[tuple[Prompt, int]]:
    """(prompt, sample index) pairs of `job_id` for `version` not written yet, in prompt order."""
    done = set(Generation.objects.filter(job_id=job_id, model_version=version).values_list("prompt_id", "index"))
    return [(p, i) for p in prompts for i in range(n) if (p.pk, i) not in done]


def save_samples(job_id: int, version: ModelVersion, sampling: dict[str, Any], samples: Sequence[Sample]) -> int:
    """Write `samples` as responses (through the writer) linked by Generation rows; the number written.

    A sample already written for this job (a redelivered batch) is left out, so nothing is duplicated.
    """
    if not samples:
        return 0
    with transaction.atomic():
        Job.objects.select_for_update().filter(pk=job_id).first()  # one writer per job at a time
        done = set(
            Generation.objects.filter(
                job_id=job_id, model_version=version, prompt__in=[s.prompt for s in samples]
            ).values_list("prompt_id", "index")
        )
        todo = [s for s in samples if (s.prompt.pk, s.index) not in done]
        if not todo:
            return 0
        writer = Writer(version.project)  # type: ignore[arg-type]
        # the sample index is part of what is recorded: two equal greedy samples stay two responses
        responses = [
            writer.response(s.prompt, s.text, source=model_source(version), sampling={**sampling, "sample": s.index})
            for s in todo
        ]
        writer.save()
        Generation.objects.bulk_create(
            Generation(response=r, model_version=version, job_id=job_id, prompt=s.prompt, index=s.index)
            for r, s in zip(responses, todo, strict=True)
        )
    return len(todo)


def responses_of(job: Job) -> QuerySet[Response]:
    """The responses a job generated, by prompt and sample."""
    return Response.objects.filter(generation__job=job).order_by("generation__prompt_id", "generation__index")


def generation_summary(job: Job) -> dict[str, Any]:
    """What the CLI prints: {"job", "status", "responses"}."""
    job.refresh_from_db()
    return {"job": job.pk, "status": job.status, "responses": Generation.objects.filter(job=job).count()}
