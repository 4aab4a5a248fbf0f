"""The reward source of an online training job, resolved against its project (torch-free).

A job's config names it as a string (the `reward` setting): "model:NAME" (a reward ModelVersion of
the project), "judge:NAME" (a Judge registered in the project) or "rule:NAME" (a closed-form rule).
`resolve_reward` checks it at launch (ConfigError on `reward`) and, in the worker, turns it into the
plain dict the ML side takes (`training.ml.rewards.reward_function`):

    {"kind": "rule", "rule": "vocab-share"}
    {"kind": "model", "name": ..., "base": ..., "adapters": [...]}
    {"kind": "judge", ...training.judging.judge_spec(judge)}
"""

from __future__ import annotations

from typing import Any

from labeling.models import Project
from training import algorithms, judging
from training.ml import rules
from training.models import Judge, ModelVersion


def resolve_reward(project: Project, value: Any) -> dict[str, Any]:
    """The reward source `value` of a job in `project` as a plain dict; ConfigError naming `reward` when it is
    malformed or names nothing of the project."""
    kind, name = algorithms.parse_reward(value)
    if kind == "rule":
        try:
            rules.get(name)  # pure Python, no torch
        except KeyError as exc:
            raise algorithms.ConfigError("reward", str(exc.args[0])) from None
        return {"kind": "rule", "rule": name}
    if kind == "model":
        return {"kind": "model", **_reward_version(project, name, "reward")}
    return _resolve_judge(project, name)


def resolve_value_model(project: Project, value: Any) -> dict[str, Any] | None:
    """PPO's `value_model` setting ("model:NAME", a reward version of the project, or empty) as the
    {"name", "base", "adapters"} the value model starts from; None when empty; ConfigError naming
    `value_model` when it is malformed or names no local reward model of the project."""
    if not value:
        return None
    kind, sep, name = str(value).strip().partition(":")
    if kind != "model" or not sep or not name.strip():
        raise algorithms.ConfigError("value_model", f"must be model:NAME (a reward version), not {value!r}")
    return _reward_version(project, name.strip(), "value_model")


def local_reward_version(project: Project, name: str, field: str) -> ModelVersion:
    """The project's reward version `name` with local weights; ConfigError naming `field` otherwise."""
    version = ModelVersion.objects.filter(project=project, name=name).first()
    if version is None:
        raise algorithms.ConfigError(field, f"no model named {name!r} in project {project.slug}")
    if version.kind != ModelVersion.Kind.REWARD or not version.base:
        raise algorithms.ConfigError(field, f"{name} is not a local reward model (model:NAME names a reward version)")
    return version


def _reward_version(project: Project, name: str, field: str) -> dict[str, Any]:
    version = local_reward_version(project, name, field)
    return {"name": name, "base": version.base, "adapters": list(version.adapters)}


def _resolve_judge(project: Project, name: str) -> dict[str, Any]:
    """A judge registered in `project` as `training.ml.judges.pairwise_reward_fn` takes it."""
    judge = Judge.objects.filter(project=project, name=name).first()
    if judge is None:
        raise algorithms.ConfigError("reward", f"no judge named {name!r} in project {project.slug}; see `judge`")
    return {"kind": "judge", **judging.judge_spec(judge)}
