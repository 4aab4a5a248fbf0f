"""Pipelines: a recipe of steps run in order, each step's inputs taken from earlier steps' outputs. Torch-free.

A recipe is a list of (step name, action, params). An action has `start(ctx) -> Job | dict`: it either
queues a child job (the pipeline's job waits for it, workers/pipelines.py) or does its work at once
and returns its outputs; `collect(ctx, job) -> dict` then reads a finished child's outputs (a model
name, a snapshot id, ...). `ctx` holds the pipeline, the step's params and everything earlier steps
output, under "<step name>.<key>" and plain "<key>" (the latest wins), plus the pipeline's settings.

Resuming a failed pipeline (`resume_pipeline`, optionally with corrected settings) runs its job again:
succeeded steps are skipped and keep their job ids; a step whose child job failed resumes that job;
a step that failed before queuing anything starts again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import QuerySet

from labeling.models import Project
from training import jobs
from training.models import Job, ModelVersion, Pipeline, PipelineStep

StartFn = Callable[[dict[str, Any]], "Job | dict[str, Any]"]
CollectFn = Callable[[dict[str, Any], Job], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    start: StartFn
    collect: CollectFn = lambda ctx, job: {"job": job.pk}  # noqa: E731


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    steps: tuple[Step, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    # steps that depend on the settings (e.g. k iterations); None: `steps` as they are
    expand: Callable[[dict[str, Any]], tuple[Step, ...]] | None = None

    def steps_for(self, values: dict[str, Any]) -> tuple[Step, ...]:
        return self.expand(values) if self.expand is not None else self.steps


ACTIONS: dict[str, Action] = {}
RECIPES: dict[str, Recipe] = {}
FIXED_ON_RESUME: dict[str, tuple[str, ...]] = {}  # recipe -> settings a resume may not change


def action(name: str, collect: CollectFn | None = None) -> Callable[[StartFn], StartFn]:
    """Register the start function of an action (and how its child's outputs are read)."""

    def register(fn: StartFn) -> StartFn:
        ACTIONS[name] = Action(fn, collect) if collect else Action(fn)
        return fn

    return register


def register_recipe(recipe: Recipe) -> Recipe:
    unknown = [s.action for s in recipe.steps_for(recipe.defaults) if s.action not in ACTIONS]
    if unknown:
        raise ValueError(f"recipe {recipe.name}: unknown action(s) {', '.join(unknown)}")
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"recipe: unknown recipe {name!r}; one of {', '.join(sorted(RECIPES))}") from None


# ---------------------------------------------------------------- services


def parse_settings(recipe: Recipe, values: dict[str, Any] | None) -> dict[str, Any]:
    """The recipe's defaults with `values` over them; ValueError naming an unknown key."""
    values = dict(values or {})
    prefixes = {f"{s.name}." for s in recipe.steps_for({**recipe.defaults, **values}) if s.action == "train"}
    prefixes |= {
        s.params["settings_prefix"]
        for s in recipe.steps_for({**recipe.defaults, **values})
        if "settings_prefix" in s.params
    }
    unknown = sorted(k for k in set(values) - set(recipe.defaults) if not any(k.startswith(p) for p in prefixes))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a setting of recipe {recipe.name} ({', '.join(sorted(recipe.defaults))})")
    out = {**recipe.defaults, **values}
    json.dumps(out)  # settings are stored as JSON
    return out


def start_pipeline(
    *, project: Project, recipe: str, base: ModelVersion, settings: dict[str, Any] | None = None, user: Any = None
) -> Pipeline:
    """Create a pipeline with its steps (pending) and queue its PIPELINE job; ValueError naming the field."""
    spec = get_recipe(recipe)
    if base.project_id != project.pk:
        raise ValueError(f"base: {base.name} belongs to another project")
    values = parse_settings(spec, settings)
    with transaction.atomic():
        job = jobs.create(Job, kind=Job.Kind.PIPELINE, project=project, user=user, total=len(spec.steps_for(values)))
        pipeline = Pipeline.objects.create(
            project=project, recipe=spec.name, base=base, settings=values, job=job, created_by=job.created_by
        )
        PipelineStep.objects.bulk_create(
            PipelineStep(pipeline=pipeline, index=i, name=s.name, action=s.action)
            for i, s in enumerate(spec.steps_for(values))
        )
    return pipeline


def resume_pipeline(pipeline: Pipeline, settings: dict[str, Any] | None = None) -> Pipeline:
    """Queue a failed or cancelled pipeline again, with corrected `settings` merged in; finished steps stay."""
    spec = get_recipe(pipeline.recipe)
    with transaction.atomic():
        if settings:
            fixed = [
                k
                for k in settings
                if k in FIXED_ON_RESUME.get(spec.name, ()) and settings[k] != pipeline.settings.get(k)
            ]
            if fixed:
                raise ValueError(f"{fixed[0]}: cannot change when resuming (it shapes the steps)")
            pipeline.settings = parse_settings(spec, {**pipeline.settings, **settings})
            pipeline.save(update_fields=["settings"])
        if pipeline.job is None:
            raise ValueError(f"pipeline: {pipeline.pk} has no job to resume")
        jobs.resume(pipeline.job)  # ValueError unless failed or cancelled
    return pipeline


def pipeline_of_job(job_id: int) -> Pipeline:
    return Pipeline.objects.select_related("project", "base", "job").get(job_id=job_id)


def context(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    """What a step sees: the settings, every earlier succeeded step's outputs, the step's params."""
    ctx: dict[str, Any] = {**pipeline.settings}
    for done in pipeline.steps.filter(status=PipelineStep.Status.SUCCEEDED).order_by("index"):
        for key, value in done.outputs.items():
            ctx[f"{done.name}.{key}"] = value
            ctx[key] = value
    ctx.update(step.params)
    ctx["pipeline"] = pipeline
    ctx["step"] = step.name
    return ctx


def step_spec(pipeline: Pipeline, row: PipelineStep) -> Step:
    return get_recipe(pipeline.recipe).steps_for(pipeline.settings)[row.index]


def mark(row: PipelineStep, status: str, **fields: Any) -> None:
    row.status = status
    for key, value in fields.items():
        setattr(row, key, value)
    row.save(update_fields=["status", *fields])


# ---------------------------------------------------------------- selectors


def pipelines_of(project: Project) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(project=project).select_related("job", "base").order_by("-created_at", "-id")


def steps_of(pipeline: Pipeline) -> list[PipelineStep]:
    return list(pipeline.steps.select_related("job").order_by("index"))


def pipeline_summary(pipeline: Pipeline) -> dict[str, Any]:
    """What the CLI prints last: {"pipeline", "status", "steps": [{"name", "job", "status"}]}."""
    pipeline.refresh_from_db()
    return {
        "pipeline": pipeline.pk,
        "status": pipeline.job.status if pipeline.job else "",
        "steps": [{"name": s.name, "job": s.job_id, "status": s.status} for s in steps_of(pipeline)],
    }


# ---------------------------------------------------------------- actions


@action("noop")
def _noop(ctx: dict[str, Any]) -> Job:
    """A no-op job of `total` steps (health checks and tests); fails at start when the setting
    `fail_step` names this step."""
    if ctx.get("fail_step") == ctx["step"]:
        raise ValueError(f"{ctx['step']}: asked to fail (fail_step={ctx['fail_step']!r})")
    return jobs.create(Job, kind=Job.Kind.NOOP, project=ctx["pipeline"].project, total=int(ctx.get("total", 2)))


def _model(ctx: dict[str, Any], name: str) -> ModelVersion:
    version = ModelVersion.objects.filter(project=ctx["pipeline"].project, name=name).first()
    if version is None:
        raise ValueError(f"{ctx['step']}: no model named {name!r} in the project")
    return version


def _trained(ctx: dict[str, Any], job: Job) -> dict[str, Any]:
    version = ModelVersion.objects.filter(produced_by_id=job.pk).first()
    if version is None:
        raise ValueError(f"{ctx['step']}: training job {job.pk} registered no model")
    return {"job": job.pk, "model": version.name}


@action("train", collect=_trained)
def _train(ctx: dict[str, Any]) -> Job:
    """A training job: params algorithm, from (a ctx key naming the start model, or "base"), snapshot
    (a ctx key naming the snapshot id), overrides (ctx keys prefixed "<step>." in the settings)."""
    from labeling.models import DatasetSnapshot
    from training import services

    pipeline: Pipeline = ctx["pipeline"]
    start = pipeline.base if ctx.get("from", "base") == "base" else _model(ctx, ctx[ctx["from"]])
    snapshot = DatasetSnapshot.objects.get(pk=ctx[ctx.get("snapshot", "snapshot")], project=pipeline.project)
    prefix = ctx.get("settings_prefix") or f"{ctx['step']}."
    overrides = {
        **ctx.get("overrides", {}),
        **{k[len(prefix) :]: v for k, v in pipeline.settings.items() if k.startswith(prefix)},
    }
    for key, source in ctx.get("overrides_from", {}).items():
        overrides[key] = source.format(**{k.replace(".", "_"): v for k, v in ctx.items() if isinstance(v, str | int)})
    return services.launch_job(algorithm=ctx["algorithm"], base_model=start, snapshot=snapshot, overrides=overrides)


def shared_data_dir() -> Path:
    """The folder of the shared data sets: settings.SHARED_DATA_DIR, else ../shared/data next to the repository."""
    configured = getattr(django_settings, "SHARED_DATA_DIR", None)
    return Path(configured) if configured else Path(django_settings.BASE_DIR).parent / "shared" / "data"


def data_path(value: str) -> Path:
    """A data file the recipe reads: absolute, or relative to the shared data folder (shared_data_dir)."""
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = shared_data_dir() / value
    if not path.is_file():
        raise ValueError(
            f"data: no file {str(path)!r}; the shared data sets live in {shared_data_dir()} "
            "(settings.SHARED_DATA_DIR), or give an absolute path with --set data=PATH"
        )
    return path


def _int(ctx: dict[str, Any], key: str, low: int = 0) -> int:
    value = ctx.get(key)
    try:
        out = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{key}: must be a whole number, not {value!r}") from None
    if isinstance(value, bool) or out < low:
        raise ValueError(f"{key}: must be a whole number of at least {low}, not {value!r}")
    return out


def _sampling(ctx: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "n": n,
        "temperature": float(ctx.get("temperature", 1.0)),
        "max_new_tokens": _int(ctx, "max_new_tokens", 1),
        "seed": _int(ctx, "seed"),
    }


@action("import_sft")
def _import_sft(ctx: dict[str, Any]) -> dict[str, Any]:
    """Read `rows` records of the JSON-lines file `data`: the first ones (all but `heldout`) become
    prompt/completion rows (a binary item with the completion and an imported "up" label: what an
    unpaired snapshot gives SFT), the last `heldout` ones held-out prompts (split test). Columns:
    `prompt_column` and `completion_column`. Re-running it adds nothing (prompts are found by content)."""
    from labeling.data.writer import Writer
    from labeling.models import Item

    pipeline: Pipeline = ctx["pipeline"]
    path = data_path(ctx["data"])
    rows, heldout = _int(ctx, "rows", 2), _int(ctx, "heldout", 1)
    if heldout >= rows:
        raise ValueError(f"heldout: must be fewer than rows ({rows}), not {heldout}")
    pcol, ccol = str(ctx.get("prompt_column", "instruction")), str(ctx.get("completion_column", "gold_response"))
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if len(records) >= rows:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"data: {path.name} line {n}: not JSON ({exc.msg})") from None
            for col in (pcol, ccol):
                if not isinstance(record.get(col), str) or not record[col].strip():
                    raise ValueError(f"data: {path.name} line {n}: column {col!r} is missing or empty")
            records.append(record)
    if len(records) <= heldout:
        raise ValueError(f"data: {path.name} has {len(records)} rows, fewer than heldout + 1 ({heldout + 1})")
    source = f"dataset:{path.name}"
    project = pipeline.project
    with transaction.atomic():
        writer = Writer(project)
        cut = len(records) - heldout
        n_train = 0
        for record in records[:cut]:
            prompt = writer.prompt(record[pcol].strip(), split="train")
            if prompt.pk and Item.objects.filter(prompt=prompt, response_b__isnull=True).exists():
                continue  # imported before (a resumed or repeated step)
            item = writer.item(prompt, writer.response(prompt, record[ccol].strip(), source=source))
            writer.label(item, "up", source=f"import:{path.name}")
            n_train += 1
        for record in records[cut:]:
            writer.prompt(record[pcol].strip(), split="test")
        counts = writer.save()
    return {"imported": counts.items, "train_rows": cut, "heldout_rows": heldout, "new_prompts": counts.prompts}


@action("snapshot")
def _snapshot(ctx: dict[str, Any]) -> dict[str, Any]:
    """A snapshot of the project: params format (preference, unpaired, prompts), split, source."""
    from labeling.data.exporters import ExportError, ExportSpec
    from labeling.data.snapshots import create_snapshot

    pipeline: Pipeline = ctx["pipeline"]
    try:
        spec = ExportSpec(
            format=ctx.get("format", "preference"), split=ctx.get("split", "all"), source=ctx.get("source", "all")
        )
    except ExportError as exc:
        raise ValueError(f"{ctx['step']}: {exc}") from None
    snapshot = create_snapshot(pipeline.project, spec)
    if snapshot.rows == 0:
        raise ValueError(f"{ctx['step']}: the {spec.format} snapshot has no rows (nothing judged or imported yet?)")
    return {"snapshot": snapshot.pk, "rows": snapshot.rows}


def _generated(ctx: dict[str, Any], job: Job) -> dict[str, Any]:
    return {"job": job.pk, "generation": job.pk}


@action("generate", collect=_generated)
def _generate(ctx: dict[str, Any]) -> Job:
    """`n` samples per prompt of split `split` from the model named by ctx key `from` ("base": the base)."""
    from training.generation import start_generation

    pipeline: Pipeline = ctx["pipeline"]
    model = pipeline.base if ctx.get("from", "base") == "base" else _model(ctx, ctx[ctx["from"]])
    return start_generation(
        model_version=model, split=ctx.get("split", "test"), sampling=_sampling(ctx, _int(ctx, "n", 2))
    )


@action("pairs")
def _pairs(ctx: dict[str, Any]) -> dict[str, Any]:
    """Pairwise items from the samples of the generation step: every two distinct samples of a prompt
    (two samples: one item). Re-running it adds no item twice."""
    from itertools import combinations

    from labeling.data.writer import Writer
    from labeling.models import Item
    from training.generation import responses_of

    pipeline: Pipeline = ctx["pipeline"]
    job = Job.objects.get(pk=ctx["generation"], project=pipeline.project)
    by_prompt: dict[int, list[Any]] = {}
    for response in responses_of(job).select_related("prompt"):
        by_prompt.setdefault(response.prompt_id, []).append(response)
    made = 0
    with transaction.atomic():
        writer = Writer(pipeline.project)
        for responses in by_prompt.values():
            for a, b in combinations(responses, 2):
                if a.text == b.text:
                    continue
                if Item.objects.filter(response_a=a, response_b=b).exists():
                    continue
                writer.item(a.prompt, a, b)
                made += 1
        writer.save()
    if not made and not Item.objects.filter(response_a__generation__job=job).exists():
        raise ValueError(f"{ctx['step']}: the samples of job {job.pk} gave no pair of distinct responses")
    return {"items": made}


def _judged(ctx: dict[str, Any], job: Job) -> dict[str, Any]:
    from training.judging import run_summary

    summary = run_summary(job)
    return {"job": job.pk, "judged": summary.get("judged", summary.get("counts", {}).get("judged"))}


@action("judge", collect=_judged)
def _judge(ctx: dict[str, Any]) -> Job:
    """A judging run over the project's unjudged pairwise items: the setting `judge` (NAME, model:NAME,
    rule:NAME); "self" is the policy named by ctx key `from` judging as an LLM judge."""
    from training.judging import start_run

    pipeline: Pipeline = ctx["pipeline"]
    spec = str(ctx.get("judge") or "").strip()
    judge: Any = spec
    if spec == "self":
        from training.judging import register_judge
        from training.models import Judge

        model = pipeline.base if ctx.get("from", "base") == "base" else _model(ctx, ctx[ctx["from"]])
        from django.utils.text import slugify

        name = f"self-{slugify(model.name)}"[:80]
        judge = Judge.objects.filter(project=pipeline.project, name=name).first() or register_judge(
            pipeline.project,
            name=name,
            kind=Judge.Kind.LLM,
            settings={"model": model.pk, "max_new_tokens": _int(ctx, "judge_max_new_tokens", 1)},
        )
    limit = ctx.get("limit")
    return start_run(project=pipeline.project, judge=judge, limit=int(limit) if limit not in (None, "") else None)


def _evaluated(ctx: dict[str, Any], job: Job) -> dict[str, Any]:
    from training.evaluations import evaluation_summary

    summary = evaluation_summary(job)
    return {"job": job.pk, "accuracy": summary["accuracy"], "n": summary["n"]}


@action("evaluate", collect=_evaluated)
def _evaluate(ctx: dict[str, Any]) -> Job:
    """Reward-model accuracy of the model named by ctx key `model_from` on the preference snapshot
    named by ctx key `snapshot` (the judged pairs)."""
    from labeling.models import DatasetSnapshot
    from training.evaluations import start_evaluation

    pipeline: Pipeline = ctx["pipeline"]
    model = _model(ctx, ctx[ctx["model_from"]])
    snapshot = DatasetSnapshot.objects.get(pk=ctx[ctx.get("snapshot", "snapshot")], project=pipeline.project)
    return start_evaluation(model=model, snapshot=snapshot)


def _campaigned(ctx: dict[str, Any], job: Job) -> dict[str, Any]:
    from training.models import Campaign

    campaign = Campaign.objects.filter(job=job).first()
    return {"job": job.pk, "campaign": campaign.pk if campaign else None}


@action("compare", collect=_campaigned)
def _compare(ctx: dict[str, Any]) -> Job:
    """An all-pairs campaign of the models named by the ctx keys in `models` ("base": the base) on split `split`."""
    from training.campaigns import start_campaign

    pipeline: Pipeline = ctx["pipeline"]
    names = [pipeline.base.name if key == "base" else str(ctx[key]) for key in ctx["models"]]
    sampling = {**_sampling(ctx, 1), "temperature": 0.0}
    campaign = start_campaign(
        project=pipeline.project,
        competitors=list(dict.fromkeys(names)),
        split=ctx.get("split", "test"),
        sampling=sampling,
        name=f"pipeline {pipeline.pk}: {' vs '.join(names)}",
    )
    assert campaign.job is not None
    return campaign.job


@action("leaderboard")
def _leaderboard(ctx: dict[str, Any]) -> dict[str, Any]:
    """The project's Bradley-Terry leaderboard now: [{"model", "rating", "ci"}] best first."""
    from training.campaigns import leaderboard_of

    board = leaderboard_of(ctx["pipeline"].project, bootstrap=_int(ctx, "bootstrap"))
    return {"leaderboard": _board_rows(board)}


def _board_rows(board: Any) -> list[dict[str, Any]]:
    return [
        {
            "model": r.name,
            "rating": round(float(r.rating), 1),
            "ci": [round(float(r.ci[0]), 1), round(float(r.ci[1]), 1)],
            "battles": int(r.battles),
        }
        for r in board.models
    ]


@action("best_worst")
def _best_worst(ctx: dict[str, Any]) -> dict[str, Any]:
    """A preference snapshot of the generation step's samples: per prompt, the sample with the most wins
    in the judged items (a tie half a win) as chosen, the one with the fewest as rejected; prompts whose
    samples all scored alike give no pair. Frozen as a content-addressed file like any snapshot."""
    import hashlib
    import os

    from labeling.data.snapshots import snapshot_dir
    from labeling.models import DatasetSnapshot, Item, Judgment

    pipeline: Pipeline = ctx["pipeline"]
    job = Job.objects.get(pk=ctx["generation"], project=pipeline.project)
    items = Item.objects.filter(response_a__generation__job=job, response_b__isnull=False)
    wins: dict[int, dict[int, float]] = {}  # prompt -> response -> wins
    responses: dict[int, Any] = {}
    for judgment in Judgment.objects.filter(item__in=items).select_related(
        "item__prompt", "item__response_a", "item__response_b"
    ):
        item = judgment.item
        a, b = item.response_a, item.response_b
        assert b is not None
        share = {"a": (1.0, 0.0), "b": (0.0, 1.0), "tie": (0.5, 0.5)}.get(judgment.choice)
        if share is None:
            continue
        board = wins.setdefault(item.prompt_id, {})
        for response, points in ((a, share[0]), (b, share[1])):
            board[response.pk] = board.get(response.pk, 0.0) + points
            responses[response.pk] = response
    rows: list[dict[str, Any]] = []
    for board in wins.values():
        best, worst = max(board, key=lambda r: board[r]), min(board, key=lambda r: board[r])
        if board[best] <= board[worst]:
            continue
        chosen, rejected = responses[best], responses[worst]
        prompt = chosen.prompt
        if prompt.conversation:
            rows.append(
                {
                    "prompt": prompt.conversation,
                    "chosen": [{"role": "assistant", "content": chosen.text}],
                    "rejected": [{"role": "assistant", "content": rejected.text}],
                }
            )
        else:
            rows.append({"prompt": prompt.text, "chosen": chosen.text, "rejected": rejected.text})
    if not rows:
        raise ValueError(f"{ctx['step']}: no prompt had a best and a worst sample (every verdict a tie?)")
    data = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode()
    sha = hashlib.sha256(data).hexdigest()
    path = snapshot_dir() / f"{sha}.jsonl"
    if not path.exists():
        part = path.with_name(f".new-{sha}.jsonl")
        part.write_bytes(data)
        os.chmod(part, 0o444)
        os.replace(part, path)
    snapshot = DatasetSnapshot.objects.create(
        project=pipeline.project,
        format=DatasetSnapshot.Format.PREFERENCE,
        file_type="jsonl",
        spec={"format": "preference", "pipeline": pipeline.pk, "best_vs_worst_of_job": job.pk},
        sha256=sha,
        rows=len(rows),
        size_bytes=len(data),
    )
    return {"snapshot": snapshot.pk, "rows": len(rows)}


# ---------------------------------------------------------------- built-in recipes

SUMMARISE_DEFAULTS: dict[str, Any] = {
    "data": "tldr_dove_test.jsonl",  # in the shared data folder, or an absolute path
    "prompt_column": "instruction",
    "completion_column": "gold_response",
    "rows": 200,  # records read from the file
    "heldout": 40,  # of them, the last ones: held-out posts (split test)
    "judge": "rule:length",  # NAME, model:NAME or rule:NAME
    "limit": None,  # judge at most this many items per run
    "max_new_tokens": 64,
    "temperature": 1.0,
    "seed": 0,
    "bootstrap": 200,
    "sft.max_steps": 100,
    "reward.max_steps": 100,
    "ppo.max_steps": 50,
}

register_recipe(
    Recipe(
        name="summarise",
        description=(
            "The course recipe: SFT on posts and reference summaries, the SFT model writes two summaries per "
            "held-out post, a judge (or the annotators) prefers one, a reward model on those judgments, PPO "
            "with LoRA against it; then the reward model's accuracy and a leaderboard of base vs SFT vs PPO."
        ),
        steps=(
            Step("import", "import_sft"),
            Step("sft_data", "snapshot", {"format": "unpaired", "split": "all", "source": "imported"}),
            Step("sft", "train", {"algorithm": "sft", "from": "base", "snapshot": "sft_data.snapshot"}),
            Step("samples", "generate", {"from": "sft.model", "split": "test", "n": 2}),
            Step("pairs", "pairs"),
            Step("judge", "judge"),
            Step("judgments", "snapshot", {"format": "preference", "split": "all"}),
            Step("reward", "train", {"algorithm": "reward", "from": "sft.model", "snapshot": "judgments.snapshot"}),
            Step("prompts", "snapshot", {"format": "prompts", "split": "train"}),
            Step(
                "ppo",
                "train",
                {
                    "algorithm": "ppo",
                    "from": "sft.model",
                    "snapshot": "prompts.snapshot",
                    "overrides": {"use_lora": True},
                    "overrides_from": {"reward": "model:{reward_model}"},
                },
            ),
            Step("rm_accuracy", "evaluate", {"model_from": "reward.model", "snapshot": "judgments.snapshot"}),
            Step("compare", "compare", {"models": ["base", "sft.model", "ppo.model"], "split": "test"}),
            Step("compare_judge", "judge"),
            Step("leaderboard", "leaderboard"),
        ),
        defaults=SUMMARISE_DEFAULTS,
    )
)


SELF_REWARDING_DEFAULTS: dict[str, Any] = {
    "k": 2,  # iterations
    "n": 2,  # samples per prompt (every two distinct ones are an item the policy judges; best vs worst: a DPO pair)
    "split": "train",  # the prompts the policy answers
    "judge": "self",  # the current policy as an LLM judge; or NAME, model:NAME, rule:NAME
    "judge_max_new_tokens": 64,  # of the self-judge's verdict
    "limit": None,
    "max_new_tokens": 32,
    "temperature": 1.0,
    "seed": 0,
    "dpo.max_steps": 20,
}


def _self_rewarding_steps(values: dict[str, Any]) -> tuple[Step, ...]:
    k = int(values.get("k", 1))
    if not 1 <= k <= 20:
        raise ValueError(f"k: must be a whole number from 1 to 20, not {values.get('k')!r}")
    steps: list[Step] = []
    policy = "base"
    for i in range(1, k + 1):
        steps += [
            Step(f"samples{i}", "generate", {"from": policy, "split": values.get("split", "train")}),
            Step(f"pairs{i}", "pairs"),
            Step(f"judge{i}", "judge", {"from": policy}),
            Step(f"judgments{i}", "best_worst"),
            Step(
                f"dpo{i}",
                "train",
                {"algorithm": "dpo", "from": policy, "snapshot": f"judgments{i}.snapshot", "settings_prefix": "dpo."},
            ),
        ]
        policy = f"dpo{i}.model"
    return tuple(steps)


register_recipe(
    Recipe(
        name="self-rewarding",
        description=(
            "Self-rewarding: the policy samples n answers per prompt and judges them itself with an LLM-judge "
            "prompt; the preferred vs the other answer become DPO pairs; k iterations, each from the last policy."
        ),
        steps=(),
        defaults=SELF_REWARDING_DEFAULTS,
        expand=_self_rewarding_steps,
    )
)
FIXED_ON_RESUME["self-rewarding"] = ("k",)
