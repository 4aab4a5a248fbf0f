"""Rounds: one turn of the loop, as alignment teams run it (Llama 2's iterative rounds). Torch-free.

    policy vN --campaign vs vN-1 (its parent, or a version named)--> pairwise items
      --a judge and/or the annotators--> judgments --snapshot (preference)--> training job (DPO by default)
      --> vN+1 --evaluation campaign vN+1 vs vN, judged--> rating change on the leaderboard

An rm-ppo round trains in two jobs instead of one: a reward-model update on the preference snapshot
(from the reward version named by `reward_model`, else the project's newest, else the policy), then
PPO from the policy on a prompt snapshot of the round's split, with the new reward version as reward.

`start_round` validates everything it can up front and queues the round's ROUND job; the job's runner
(workers/rounds.py) calls the `ensure_*` steps below in order. Each step is idempotent: it records
what it made on the Round row (campaign, judging job, snapshot, training job, new version, ...) and
does nothing when that is already there, so a resumed round job continues where it stopped and never
makes anything twice. Waiting on a child job is the runner's business (it polls the child with its
own progress heartbeat).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet

from labeling.data import exporters
from labeling.data.snapshots import create_snapshot
from labeling.models import Item, Project, Prompt
from training import algorithms, campaigns, generation, jobs, reward_sources, services
from training.models import Campaign, Job, ModelVersion, Round, TrainingJob

# The algorithms a round trains with (start_round, the rounds page and the round command read this): each
# preference algorithm of the table that trains a policy (one job on the round's snapshot), and RM_PPO.
RM_PPO = "rm-ppo"
RM_PPO_JOBS = ("reward", "ppo")  # its jobs' algorithms, in order; its training overrides are "<algorithm>.KEY"
ROUND_ALGORITHMS: dict[str, str] = {
    **{
        a.name: a.label
        for a in algorithms.ALGORITHMS.values()
        if "preference" in a.trains_on and a.produces == "policy"
    },
    RM_PPO: "Reward-model update, then PPO",
}

# Settings of the round itself; every other key is a training override of the round's algorithm.
ROUND_DEFAULTS: dict[str, Any] = {
    "split": "train",  # the prompts of the round's campaign
    "eval_split": "test",  # the prompts vN+1 and vN meet on afterwards ("" or "none": no evaluation campaign)
    "max_new_tokens": 32,
    "temperature": 0.0,
    "seed": 0,
    "opponent": "",  # a version of the project to meet instead of the policy's parent
    "reward_model": "",  # rm-ppo: the reward version to update (empty: the project's newest, else the policy)
    "limit": None,  # judge at most this many items per judging run
    "bootstrap": 1000,  # bootstrap rounds of the rating-change interval
}


def parse_settings(values: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(round settings with defaults, training overrides) of what was given; ValueError naming the key."""
    values = dict(values or {})
    own = {k: values.pop(k) for k in list(values) if k in ROUND_DEFAULTS}
    out = {**ROUND_DEFAULTS, **own}
    for key in ("split", "eval_split"):
        value = str(out[key] or "").strip()
        if value == "none":
            value = ""
        if value and value not in Prompt.Split.values:
            raise ValueError(f"{key}: must be one of {', '.join(Prompt.Split.values)} (or none), not {value!r}")
        out[key] = value
    for key, kind, low in (("max_new_tokens", int, 1), ("seed", int, 0), ("bootstrap", int, 0)):
        try:
            out[key] = kind(out[key])
        except (TypeError, ValueError):
            raise ValueError(f"{key}: must be a whole number, not {out[key]!r}") from None
        if out[key] < low:
            raise ValueError(f"{key}: must be at least {low}")
    try:
        out["temperature"] = float(out["temperature"])
    except (TypeError, ValueError):
        raise ValueError(f"temperature: must be a number, not {out['temperature']!r}") from None
    if not math.isfinite(out["temperature"]) or out["temperature"] < 0:
        raise ValueError("temperature: must be 0 (greedy) or more")
    if out["limit"] not in (None, ""):
        try:
            out["limit"] = int(out["limit"])
        except (TypeError, ValueError):
            raise ValueError(f"limit: must be a whole number, not {out['limit']!r}") from None
        if out["limit"] < 1:
            raise ValueError("limit: must be at least 1")
    else:
        out["limit"] = None
    for key in ("opponent", "reward_model"):
        out[key] = str(out[key] or "").strip()
    return out, values


def job_overrides(algorithm: str, overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The training overrides of each job a round of `algorithm` launches, by the job's algorithm: an
    rm-ppo round's keys are prefixed with it (reward.max_steps); ValueError naming a key without one."""
    if algorithm != RM_PPO:
        return {algorithm: overrides}
    out: dict[str, dict[str, Any]] = {name: {} for name in RM_PPO_JOBS}
    for key, value in overrides.items():
        prefix, _, name = key.partition(".")
        if prefix not in out or not name:
            raise ValueError(
                f"{key}: not a round setting; an {RM_PPO} round's training overrides are "
                f"{' or '.join(p + '.KEY' for p in RM_PPO_JOBS)}"
            )
        out[prefix][name] = value
    return out


def check_overrides(algorithm: str, overrides: dict[str, Any]) -> None:
    """Validate the overrides of each of the round's jobs with the algorithm table; ValueError naming the key
    as it was given (an rm-ppo round's with its prefix)."""
    prefixed = algorithm == RM_PPO
    for name, values in job_overrides(algorithm, overrides).items():
        if prefixed and name == "ppo" and "reward" in values:
            raise ValueError("ppo.reward: set by the round (model:<the reward version it trains>)")
        try:
            algorithms.validate(name, values)
        except algorithms.ConfigError as exc:
            if not prefixed:
                raise
            raise ValueError(f"{name}.{exc}") from None


def sampling_of(round_: Round) -> dict[str, Any]:
    s = round_.settings
    return {"max_new_tokens": s["max_new_tokens"], "temperature": s["temperature"], "seed": s["seed"]}


def check_judge(project: Project, judge: str) -> str:
    """The judge spec if the project can use it (a registered judge NAME, model:NAME or rule:NAME)."""
    judge = (judge or "").strip()
    if not judge:
        return ""
    from training import judging

    try:
        judging.resolve_judge(project, judge)
    except (ValueError, LookupError) as exc:
        message = str(exc)
        raise ValueError(message if message.startswith("judge:") else f"judge: {message}") from None
    return judge


def opponent_for(policy: ModelVersion, name: str = "") -> ModelVersion:
    """The version `policy` meets: the one named, else its parent (vN-1, or the base it was trained from)."""
    if name:
        opponent = ModelVersion.objects.filter(project=policy.project, name=name).first()
        if opponent is None:
            where = f"project {policy.project.slug}" if policy.project is not None else "the unassigned models"
            raise ValueError(f"opponent: {where} has no model named {name!r}")
    else:
        opponent = policy.parent  # None exactly when parent_id is None
    if opponent is None:
        raise ValueError(
            f"policy: {policy.name} has no parent version to meet; name one with opponent=NAME "
            "(e.g. a version trained from it, or another base)"
        )
    if opponent.pk == policy.pk:
        raise ValueError("opponent: a version cannot meet itself")
    if opponent.kind != ModelVersion.Kind.POLICY:
        raise ValueError(f"opponent: {opponent.name} is a {opponent.kind} model, not a policy")
    return opponent


def start_round(
    *,
    project: Project,
    policy: ModelVersion,
    algorithm: str = "dpo",
    judge: str = "",
    humans: bool = False,
    settings: dict[str, Any] | None = None,
    user: Any = None,
) -> Round:
    """Validate a round and queue its ROUND job; ValueError naming the field when it is refused.

    Judgments come from `judge` (a registered judge NAME, model:NAME or rule:NAME), from the
    project's annotators (`humans`: the round waits until the campaign's items reach the project's
    overlap, or the researcher closes it), or both. Without a judge the annotators judge.
    """
    if policy.project_id != project.pk:
        raise ValueError(f"policy: {policy.name} belongs to another project")
    if policy.kind != ModelVersion.Kind.POLICY:
        raise ValueError(f"policy: {policy.name} is a {policy.kind} model; a round starts from a policy")
    if algorithm not in ROUND_ALGORITHMS:
        raise ValueError(
            f"algorithm: a round trains a policy on preference pairs, or a reward model then PPO: "
            f"one of {', '.join(ROUND_ALGORITHMS)}, not {algorithm!r}"
        )
    own, overrides = parse_settings(settings)
    check_overrides(algorithm, overrides)  # ConfigError (a ValueError) naming the field
    if own["reward_model"]:
        if algorithm != RM_PPO:
            raise ValueError(f"reward_model: only an {RM_PPO} round trains a reward model")
        reward_sources.local_reward_version(project, own["reward_model"], "reward_model")
    opponent = opponent_for(policy, own["opponent"])
    judge = check_judge(project, judge)
    generation.require_prompts(project, split=own["split"], field="split")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one number per round
        number = (Round.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        job = jobs.create(Job, kind=Job.Kind.ROUND, project=project, user=user)
        return Round.objects.create(
            project=project,
            number=number,
            policy=policy,
            opponent=opponent,
            judge=judge,
            humans=humans or not judge,  # without a judge, the annotators judge
            algorithm=algorithm,
            settings={**own, **overrides},
            job=job,
            created_by=job.created_by,
        )


def round_of_job(job_id: int) -> Round:
    return Round.objects.select_related("project", "policy", "opponent", "new_version", "reward_version").get(
        job_id=job_id
    )


def overrides_of(round_: Round) -> dict[str, Any]:
    return {k: v for k, v in round_.settings.items() if k not in ROUND_DEFAULTS}


def set_status(round_: Round, status: str) -> None:
    round_.status = status
    Round.objects.filter(pk=round_.pk).update(status=status)


def _save(round_: Round, *fields: str) -> None:
    round_.save(update_fields=list(fields))


def _ensure_campaign(
    round_: Round, field: str, competitors: Callable[[], list[str]], split_setting: str, name: str
) -> Campaign:
    """The campaign kept in the round's `field`: `competitors()` on the split of `split_setting` (made once)."""
    if getattr(round_, f"{field}_id") is None:
        with transaction.atomic():
            campaign = campaigns.start_campaign(
                project=round_.project,
                competitors=competitors(),
                split=round_.settings[split_setting],
                sampling=sampling_of(round_),
                name=name,
                user=round_.created_by,
            )
            setattr(round_, field, campaign)
            _save(round_, field)
    return getattr(round_, field)


def ensure_campaign(round_: Round) -> Campaign:
    """The round's campaign: policy vs opponent on the round's split (made once)."""
    return _ensure_campaign(
        round_, "campaign", lambda: [round_.policy.name, round_.opponent.name], "split", f"round {round_.number}"
    )


def _start_judging(round_: Round) -> Job:
    from training import judging

    return judging.start_run(
        project=round_.project, judge=round_.judge, limit=round_.settings.get("limit"), user=round_.created_by
    )


def _ensure_judging_job(round_: Round, field: str) -> Job | None:
    """The judging run kept in the round's `field`, started when missing (None when the round has no judge)."""
    if not round_.judge:
        return None
    if getattr(round_, f"{field}_id") is None:
        with transaction.atomic():
            setattr(round_, field, _start_judging(round_))
            _save(round_, field)
    return getattr(round_, field)


def ensure_judging(round_: Round) -> Job | None:
    """The judging run over the round's items (None when the round has no judge)."""
    return _ensure_judging_job(round_, "judging_job")


def items_of(campaign: Campaign) -> QuerySet[Item]:
    return Item.objects.filter(campaign_item__campaign=campaign)


def collection(round_: Round) -> dict[str, int]:
    """{"items", "complete", "judgments", "human"}: the round's items, those the annotators brought to
    the project's overlap, and the judgments on them (all, and by humans)."""
    if round_.campaign_id is None:
        return {"items": 0, "complete": 0, "judgments": 0, "human": 0}
    items = items_of(round_.campaign).annotate(  # type: ignore[arg-type]
        n=Count("judgments"), h=Count("judgments", filter=Q(judgments__source="human"))
    )
    rows = list(items.values_list("n", "h"))
    overlap = max(1, round_.project.overlap)
    return {
        "items": len(rows),
        "complete": sum(1 for _, h in rows if h >= overlap),
        "judgments": sum(n for n, _ in rows),
        "human": sum(h for _, h in rows),
    }


def collection_done(round_: Round) -> bool:
    """True when the annotators are not waited for, or every item reached the overlap, or the round was closed."""
    if not round_.humans:
        return True
    round_.refresh_from_db(fields=["close_requested"])
    counts = collection(round_)
    return round_.close_requested or (counts["items"] > 0 and counts["complete"] >= counts["items"])


def close_round(round_: Round) -> None:
    """The researcher stops collecting: the round goes on with the judgments it has."""
    Round.objects.filter(pk=round_.pk).update(close_requested=True)


def _ensure_snapshot(round_: Round, field: str, spec: exporters.ExportSpec, empty: str) -> Any:
    """The snapshot kept in the round's `field`, made once; ValueError `empty` when it has no row."""
    if getattr(round_, f"{field}_id") is None:
        snapshot = create_snapshot(round_.project, spec, user=round_.created_by)
        if snapshot.rows == 0:
            raise ValueError(empty)
        setattr(round_, field, snapshot)
        _save(round_, field)
    return getattr(round_, field)


def ensure_snapshot(round_: Round) -> Any:
    """A preference snapshot of the project's judgments (every round's, majority per item)."""
    return _ensure_snapshot(
        round_,
        "snapshot",
        exporters.ExportSpec(format="preference"),
        "snapshot: the judgments give no preference pairs (every item was a tie or is unjudged); "
        "judge more items or use another judge",
    )


def ensure_prompt_snapshot(round_: Round) -> Any:
    """rm-ppo: a prompt-only snapshot of the round's split, the prompts PPO samples from."""
    split = round_.settings["split"] or "all"
    return _ensure_snapshot(
        round_, "prompt_snapshot", exporters.ExportSpec(format="prompts", split=split), f"split: no prompts in {split}"
    )


def trains_reward_model(round_: Round) -> bool:
    return round_.algorithm == RM_PPO


def reward_start(round_: Round) -> ModelVersion:
    """Where an rm-ppo round's reward job starts: the reward version named by the setting reward_model,
    else the project's newest local reward version, else the policy itself (a new score head)."""
    name = round_.settings.get("reward_model", "")
    if name:
        return reward_sources.local_reward_version(round_.project, name, "reward_model")
    newest = (
        ModelVersion.objects.filter(project=round_.project, kind=ModelVersion.Kind.REWARD)
        .exclude(base="")
        .order_by("-created_at", "-pk")
        .first()
    )
    return newest or round_.policy


def _ensure_training_job(
    round_: Round, field: str, algorithm: str, base: Callable[[], ModelVersion], snapshot: Any, **fixed: Any
) -> TrainingJob:
    """The training job kept in the round's `field`: `algorithm` from `base()` on `snapshot`, with the
    round's overrides for it and the `fixed` ones (launched once)."""
    if getattr(round_, f"{field}_id") is None:
        with transaction.atomic():
            job = services.launch_job(
                algorithm=algorithm,
                base_model=base(),
                snapshot=snapshot,
                overrides={**job_overrides(round_.algorithm, overrides_of(round_))[algorithm], **fixed},
                user=round_.created_by,
            )
            setattr(round_, field, job)
            _save(round_, field)
    return getattr(round_, field)


def ensure_reward_training(round_: Round) -> TrainingJob:
    """rm-ppo: the reward-model update on the round's preference snapshot."""
    return _ensure_training_job(round_, "reward_job", "reward", lambda: reward_start(round_), round_.snapshot)


def ensure_training(round_: Round) -> TrainingJob:
    """The job that trains vN+1 from the policy: the round's algorithm on its snapshot, or (rm-ppo) PPO on
    the prompt snapshot against the round's new reward version."""
    if not trains_reward_model(round_):
        return _ensure_training_job(round_, "training_job", round_.algorithm, lambda: round_.policy, round_.snapshot)
    reward = f"model:{record_reward_version(round_).name}"
    return _ensure_training_job(
        round_, "training_job", "ppo", lambda: round_.policy, round_.prompt_snapshot, reward=reward
    )


def _record_version(round_: Round, field: str, job_field: str) -> ModelVersion:
    """The version the training job in `job_field` registered, kept in `field` (ValueError if it registered none)."""
    if getattr(round_, f"{field}_id") is None:
        job_id = getattr(round_, f"{job_field}_id")
        version = ModelVersion.objects.filter(produced_by_id=job_id).first()
        if version is None:
            raise ValueError(f"training: job {job_id} registered no model version")
        setattr(round_, field, version)
        _save(round_, field)
    return getattr(round_, field)


def record_reward_version(round_: Round) -> ModelVersion:
    """rm-ppo: the reward version the reward job registered."""
    return _record_version(round_, "reward_version", "reward_job")


def record_new_version(round_: Round) -> ModelVersion:
    """vN+1: the version the training job registered (ValueError if it registered none)."""
    return _record_version(round_, "new_version", "training_job")


def wants_evaluation(round_: Round) -> bool:
    split = round_.settings.get("eval_split", "")
    return bool(split) and campaigns.prompt_set(round_.project, split=split).exists()


def ensure_eval_campaign(round_: Round) -> Campaign:
    """vN+1 vs vN on the evaluation split (made once)."""
    return _ensure_campaign(
        round_,
        "eval_campaign",
        lambda: [round_.new_version.name, round_.policy.name],  # type: ignore[union-attr]
        "eval_split",
        f"round {round_.number}: evaluation",
    )


def ensure_eval_judging(round_: Round) -> Job | None:
    """The judging run over the round's evaluation items (None when the round has no judge)."""
    return _ensure_judging_job(round_, "eval_judging_job")


# ---------------------------------------------------------------- the rating change


def rating_change(
    battles: Sequence[tuple[str, str, str]], new: str, old: str, *, bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """How far `new` is rated above `old` on the Bradley-Terry leaderboard of `battles` (Elo-like
    points), with a 95% bootstrap interval of the difference itself (battles resampled, both ratings
    refitted together), and the battles between the two. {"delta": None} when either has no battle."""
    from training.leaderboard import _cells, _wins, fit, to_rating

    names, counts = _cells(battles)
    direct = sum(1 for a, b, _ in battles if {a, b} == {new, old})
    if new not in names or old not in names:
        return {"new": new, "old": old, "delta": None, "ci": None, "battles": direct}
    i, j = names.index(new), names.index(old)
    theta = fit(_wins(counts))
    ratings = to_rating(theta)
    delta = float(ratings[i] - ratings[j])
    low = high = delta
    total = int(counts.sum())
    if bootstrap > 0 and total > 0:
        rng = np.random.default_rng(seed)
        flat = counts.ravel()
        samples = rng.multinomial(total, flat / total, size=bootstrap).reshape(bootstrap, *counts.shape)
        boot = to_rating(fit(_wins(samples), start=theta))
        low, high = (float(x) for x in np.percentile(boot[:, i] - boot[:, j], [2.5, 97.5]))
    return {"new": new, "old": old, "delta": round(delta, 2), "ci": [round(low, 2), round(high, 2)], "battles": direct}


def rating_change_of(round_: Round, *, bootstrap: int | None = None) -> dict[str, Any]:
    """The rating change of the round's new version against its policy, from the project's battles now."""
    new_version = round_.new_version  # None (no query) while the round has made none
    if new_version is None:
        return {}
    boots = round_.settings.get("bootstrap", 1000) if bootstrap is None else bootstrap
    return rating_change(
        campaigns.battles(round_.project),
        new_version.name,
        round_.policy.name,
        bootstrap=boots,
        seed=round_.settings.get("seed", 0),
    )


def record_rating_change(round_: Round) -> dict[str, Any]:
    round_.rating_change = rating_change_of(round_)
    _save(round_, "rating_change")
    return round_.rating_change


# ---------------------------------------------------------------- selectors


def rounds_of(project: Project) -> QuerySet[Round]:
    return (
        Round.objects.filter(project=project)
        .select_related(
            "policy",
            "opponent",
            "campaign",
            "judging_job",
            "snapshot",
            "reward_job",
            "reward_version",
            "training_job",
            "new_version",
            "eval_campaign",
            "job__project",
        )
        .order_by("-number")
    )


def round_rows(project: Project) -> list[dict[str, Any]]:
    """What the rounds page shows, per round: the round, its collection counts and its rating change (live)."""
    rows = []
    for r in rounds_of(project):
        change = r.rating_change or (rating_change_of(r, bootstrap=200) if r.new_version_id else {})
        rows.append({"round": r, "counts": collection(r), "change": change})
    return rows


def round_summary(round_: Round) -> dict[str, Any]:
    """What the CLI prints last: {"round", "status", "snapshot", "job", "model", "rating_change"}."""
    round_.refresh_from_db()
    return {
        "round": round_.number,
        "status": round_.status,
        "snapshot": round_.snapshot_id,
        "job": round_.training_job_id,
        "model": round_.new_version.name if round_.new_version_id else None,  # type: ignore[union-attr]
        "rating_change": round_.rating_change or None,
    }
