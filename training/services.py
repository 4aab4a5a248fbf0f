"""Writes of the training domain: the model registry and training jobs (their lifecycle: training/jobs.py)."""

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from labeling.data import exporters
from labeling.data.snapshots import create_snapshot
from labeling.models import DatasetSnapshot, Project
from training import algorithms, jobs, reward_sources
from training.models import Job, ModelVersion, TrainingJob

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


class NotKeyValue(ValueError):
    """A settings pair that is not KEY=VALUE; `pair` is it as given (the caller names the field)."""

    def __init__(self, pair: str) -> None:
        super().__init__(f"expected KEY=VALUE, not {pair!r}")
        self.pair = pair


def parse_key_values(pairs: Iterable[str]) -> dict[str, Any]:
    """KEY=VALUE pairs as a dict (settings of a round or a pipeline, from the web form or the CLI).

    A VALUE that reads as JSON (a number, true, null, ...) is that value, else its text without the
    spaces around it. NotKeyValue on the first pair that is not KEY=VALUE.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise NotKeyValue(pair)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def model_roots() -> list[Path]:
    """Directories a registered model's files may live under: MODEL_ROOTS, job outputs, the demo models."""
    roots: list[str | Path]  # MODEL_ROOTS holds strings
    roots = [*settings.MODEL_ROOTS, Path(settings.MEDIA_ROOT) / "jobs", Path(settings.VAR_DIR) / "models"]
    return [Path(root).expanduser().resolve() for root in roots]


def check_model_location(field: str, value: str) -> str:
    """`value` if it is a hub id or a directory under the model roots (symlinks resolved); ValueError otherwise."""
    value = value.strip()
    if not value:
        raise ValueError(f"{field}: give a hub id or a local directory")
    looks_local = value.startswith(("/", ".", "~")) or ".." in value or Path(value).exists()
    if not looks_local and HUB_ID.match(value):
        return value
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(f"{field}: {value} is not a directory (nor a hub id like org/name)")
    real = path.resolve()
    if not any(real == root or root in real.parents for root in model_roots()):
        raise ValueError(
            f"{field}: {value} is outside the model roots; put the model under one of the MODEL_ROOTS "
            f"directories (now: {', '.join(str(r) for r in model_roots())})"
        )
    return str(real)


def register_model(
    *,
    project: Project,
    name: str,
    base: str = "",
    kind: str = ModelVersion.Kind.POLICY,
    adapters: list[str] | None = None,
    parent: ModelVersion | None = None,
    endpoint_url: str = "",
    endpoint_model: str = "",
    api_key_env: str = "",
) -> ModelVersion:
    """Register a model (hub id or local directory, plus optional LoRA adapters) under `name` in `project`,
    or a model served elsewhere: an OpenAI-compatible `endpoint_url`, the `endpoint_model` it serves and
    the NAME of the environment variable holding its key (never the key). An endpoint has no base.

    Never overwrites: the same name twice in one project is an error.
    """
    if kind not in ModelVersion.Kind.values:
        raise ValueError(f"kind: must be one of {', '.join(ModelVersion.Kind.values)}, not {kind!r}")
    location = check_location(base, adapters, endpoint_url, endpoint_model, api_key_env)
    with transaction.atomic():
        if ModelVersion.objects.filter(project=project, name=name).exists():
            raise ValueError(f"name: project {project.slug} already has a model named {name!r}; choose another name")
        return ModelVersion.objects.create(project=project, name=name, kind=kind, parent=parent, **location)


def check_location(
    base: str, adapters: list[str] | None, endpoint_url: str, endpoint_model: str, api_key_env: str
) -> dict[str, Any]:
    """Where a model's weights are, checked, as ModelVersion fields: a base (hub id or directory under
    the model roots) with its LoRA adapters, or an OpenAI-compatible endpoint (no base, no adapters).
    ValueError naming the field."""
    if endpoint_url or endpoint_model or api_key_env:
        from training.generation import check_endpoint

        endpoint_url, endpoint_model, api_key_env = check_endpoint(endpoint_url, endpoint_model, api_key_env)
        if base.strip() or adapters:
            raise ValueError("base: an endpoint version has no base directory or adapters; give one or the other")
    else:
        base = check_model_location("base", base)
    return {
        "base": base,
        "adapters": [check_model_location("adapter", a) for a in adapters or [] if a.strip()],
        "endpoint_url": endpoint_url,
        "endpoint_model": endpoint_model,
        "api_key_env": api_key_env,
    }


def launch_job(
    *,
    algorithm: str,
    base_model: ModelVersion,
    snapshot: DatasetSnapshot,
    overrides: dict,
    eval_snapshot: DatasetSnapshot | None = None,
    user: Any = None,
) -> TrainingJob:
    """Validate the config and queue the job for the training workers; nothing is queued if it is refused.

    A training snapshot cut by a seeded split (`split=train`, `test_size`) gets its test side frozen
    now as the evaluation snapshot, unless one is given.
    """
    if base_model.project_id != snapshot.project_id:
        raise algorithms.ConfigError("base_model", f"{base_model.name} belongs to another project than the snapshot")
    config = algorithms.validate(algorithm, overrides)
    if algorithms.check_reward(algorithm, config) is not None:  # online: the reward source must exist in the project
        reward_sources.resolve_reward(snapshot.project, config["reward"])
    reward_sources.resolve_value_model(snapshot.project, config.get("value_model"))  # PPO's, when it names one
    algorithms.check_snapshot_format(algorithm, snapshot.format)
    algorithms.check_base_kind(algorithm, base_model.kind)
    if eval_snapshot is not None and eval_snapshot.format != snapshot.format:
        raise algorithms.ConfigError("eval_snapshot", f"must be a {snapshot.format} snapshot like the training one")
    with transaction.atomic():
        if eval_snapshot is None and snapshot.spec.get("split") == "train" and snapshot.spec.get("test_size"):
            test_spec = exporters.ExportSpec.from_dict({**snapshot.spec, "split": "test"})
            eval_snapshot = create_snapshot(snapshot.project, test_spec, user=user)
        return jobs.create(
            TrainingJob,
            kind=Job.Kind.TRAIN,
            project=snapshot.project,
            user=user,
            total=max(0, int(config.get("max_steps") or 0)),
            algorithm=algorithm,
            base_model=base_model,
            snapshot=snapshot,
            eval_snapshot=eval_snapshot,
            config=config,
        )


def finish_job(
    job_id: int,
    *,
    status: Job.Status,
    step: int,
    final_metrics: dict | None = None,
    model_dir: str = "",
    evaluation: dict | None = None,
) -> TrainingJob:
    """End a running training job; a succeeded one registers its output ModelVersion with its lineage."""
    with transaction.atomic():
        job = (
            TrainingJob.objects.select_for_update(of=("self",))
            .select_related("base_model", "snapshot__project")
            .get(pk=job_id)
        )
        if status == Job.Status.SUCCEEDED and not job.is_finished:
            start = job.base_model
            lora = bool(job.config.get("use_lora"))
            ModelVersion.objects.create(
                project=job.snapshot.project,
                name=f"{job.algorithm}-{job.pk}",
                # LoRA: the starting version's whole chain plus this job's adapter; else the full model
                base=start.base if lora else model_dir,
                adapters=[*start.adapters, model_dir] if lora else [],
                kind=ModelVersion.Kind.REWARD if job.algorithm == "reward" else ModelVersion.Kind.POLICY,
                parent=start,
                produced_by=job,
                evaluation={**(evaluation or {}), "train": final_metrics or {}},
            )
        jobs.finish(job_id, status, step=step)
    job.refresh_from_db()
    return job
