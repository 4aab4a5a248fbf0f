"""The REST API of the model side of the loop: the leaderboard, campaigns, generation batches, judges and
judging runs, rounds. A ninja Router that webapp/api.py registers, so it shares that API's token auth,
error schema, handlers and documented error codes; what both modules use is webapp/api_shared.py.

Scoping as in webapp/api.py: every endpoint is for the project's researchers. A project you are not a
member of answers 404, whether or not it exists, and so does a campaign or round of one; an annotator of
the project gets 403 (their token reads their queue and answers their items). A service's refusal (a
ValueError naming its field, a ConfigError) is a 422 whose `field` is the input field at fault; a key of
`sampling` or `settings` is named as `sampling.KEY` / `settings.KEY`. Endpoints parse input, call one
service or selector of training/ (the same the pages and commands call), and return.
"""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as InvalidFields
from django.db.models import QuerySet
from django.http import Http404
from ninja import Field, Query, Router, Schema

from labeling.models import Project
from training import campaigns, generation, judging, rounds
from training import selectors as training_selectors
from training.leaderboard import leaderboard
from training.models import Campaign, Job, Judge, ModelVersion, Round
from webapp.api_shared import ApiRequest, JobOut, job_out, project_for, require_researcher

router = Router()

HEAD = re.compile(r"[A-Za-z_][\w.-]*")
MAX_BOOTSTRAP = 10_000  # bootstrap rounds in one request (the command allows more)


# --- helpers ---------------------------------------------------------------------------------


@contextmanager
def _refusals(schema: type[Schema], inside: str = "body") -> Iterator[None]:
    """A service's ValueError ("field: reason") as a 422 naming the input field: a field of `schema` (or the
    prompts a service finds none of) by its name, any other as a key of the object `inside`."""
    try:
        yield
    except ValueError as exc:
        head, sep, reason = str(exc).partition(": ")
        if not (sep and HEAD.fullmatch(head)):
            raise InvalidFields({inside: [str(exc)]}) from None
        own = head.split(".", 1)[0] in {*schema.model_fields, "prompts"}
        raise InvalidFields({head if own else f"{inside}.{head}": [reason]}) from None


def _model(project: Project, ref: int | str, field: str) -> ModelVersion:
    """The project's model version `ref` (an id, or a name); a 422 naming `field` when it has none."""
    if isinstance(ref, int):
        version = training_selectors.project_model(project, ref)
    else:
        version = ModelVersion.objects.filter(project=project, name=ref).first()
    if version is None:
        raise InvalidFields({field: [f"no model version {ref!r} in project {project.slug}"]})
    return version


def _in_research_project(request: ApiRequest, queryset: QuerySet[Any], pk: int, what: str) -> Any:
    """Row `pk` of `queryset` if you research its project: 404 "No such WHAT" when it does not exist or its
    project is not yours (the same answer), 403 for an annotator (as for a job or a model)."""
    require_researcher(request)
    found = queryset.select_related("project").filter(pk=pk).first()
    try:
        if found is not None:
            project_for(request, found.project.slug)
    except Http404:
        found = None
    if found is None:
        raise Http404(f"No such {what}")
    return found


def _shown(row: Any, schema: type[Schema], **computed: Any) -> dict:
    """What `schema` shows of `row`: each field is the row's attribute of that name, but the `computed` ones."""
    return {name: computed[name] if name in computed else getattr(row, name) for name in schema.model_fields}


def _job_or_none(job: Job | None) -> dict | None:
    return job_out(job) if job is not None else None


ModelRef = Annotated[int | str, Field(description="A model version of the project: its id, or its name")]


def sampling_field() -> Any:
    """The `sampling` object of a request (checked by training/ml/sampling.py, which holds the defaults)."""
    return Field(
        default_factory=dict,
        description="Sampling settings by name: n, max_new_tokens, temperature, top_p, top_k, stop, seed "
        "(defaults: one greedy sample of at most 64 new tokens, seed 0); an unknown one is refused by name",
    )


# --- leaderboard -----------------------------------------------------------------------------


class RatingOut(Schema):
    name: str
    rating: float = Field(description="Bradley-Terry rating, Elo-like points centred on 1000")
    ci: list[float] = Field(description="95% bootstrap interval [low, high]")
    battles: int
    win_rate: float = Field(description="Share of its battles won, a tie counting half")


class LeaderboardOut(Schema):
    models: list[RatingOut]
    battles: int
    seconds: float = Field(description="Time the fit and the bootstrap took")


@router.get("/projects/{slug}/leaderboard", response=LeaderboardOut, tags=["leaderboard"])
def project_leaderboard(
    request: ApiRequest,
    slug: str,
    who: Query[campaigns.Who] = "all",
    bootstrap: Annotated[int, Query(ge=0, le=MAX_BOOTSTRAP, description="Bootstrap rounds (0: no intervals)")] = 1000,
    seed: Annotated[int, Query(ge=0, lt=2**32)] = 0,
) -> dict:
    """Bradley-Terry ratings of the project's model versions from its pairwise judgments between them
    (`who`: all, humans or judges), with 95% bootstrap intervals: what `manage.py leaderboard` prints last."""
    battles = campaigns.battles(project_for(request, slug), who)
    start = time.perf_counter()
    board = leaderboard(battles, bootstrap=bootstrap, seed=seed)
    return campaigns.leaderboard_json(board, time.perf_counter() - start)


# --- campaigns -------------------------------------------------------------------------------


class CampaignIn(Schema):
    models: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=2, max_length=50, description="Two or more model version names (or imported response sources)"
    )
    split: str = Field("", max_length=8, description="Only the prompts of this split (train | test); empty: all")
    mode: Literal[tuple(Campaign.Mode.values)] = Campaign.Mode.ALL_PAIRS  # type: ignore[valid-type]
    reference: str = Field("", max_length=200, description="vs_reference: the model every other meets")
    sampling: dict = sampling_field()
    name: str = Field("", max_length=200)


class CampaignOut(Schema):
    id: int
    project: str
    name: str
    split: str
    mode: str
    reference: str
    competitors: list[str]
    sampling: dict
    items: int = Field(description="Pairwise items made so far")
    created_at: datetime
    job: JobOut | None = Field(description="The job that generates and makes the items: its status and progress")


class PairOut(Schema):
    a: str = Field(description="The pair's first competitor")
    b: str = Field(description="The pair's second competitor")
    items: int = Field(description="Items the campaign made for the pair")
    judgments: int = Field(description="Judgments of those items by `who`")
    wins_a: int
    wins_b: int
    ties: int = Field(description="Ties and both-bad answers (half a win each way)")
    win_rate: float | None = Field(description="How often a beat b; null before any judgment")
    ci: list[float] = Field(description="95% Wilson interval of the win rate [low, high]")


class CampaignDetail(CampaignOut):
    who: str
    pairs: list[PairOut]


def _campaign_out(campaign: Campaign, schema: type[Schema] = CampaignOut, **more: Any) -> dict:
    job = _job_or_none(campaign.job)
    return _shown(campaign, schema, project=campaign.project.slug, items=campaign.items_created, job=job, **more)


@router.get("/projects/{slug}/campaigns", response=list[CampaignOut], tags=["campaigns"])
def list_campaigns(request: ApiRequest, slug: str) -> list[dict]:
    """The project's comparison campaigns, newest first (at most 200)."""
    project = project_for(request, slug)
    return [_campaign_out(c) for c in campaigns.campaigns_of(project).select_related("project", "job__project")[:200]]


@router.post("/projects/{slug}/campaigns", response={201: CampaignOut}, tags=["campaigns"])
def start_campaign(request: ApiRequest, slug: str, data: CampaignIn) -> tuple[int, dict]:
    """Queue a campaign: generate what each model is missing, then pairwise items (every pair, or each
    against `reference`), sides alternated, into the annotation queue. Its progress is its job's
    (GET /api/jobs/{id}). 422 names the field: a model the project lacks, a bad split or sampling key."""
    project = project_for(request, slug)
    with _refusals(CampaignIn, "sampling"):
        campaign = campaigns.start_campaign(
            project=project, competitors=data.models, user=request.user, **data.dict(exclude={"models"})
        )
    return 201, _campaign_out(campaign)


@router.get("/campaigns/{campaign_id}", response=CampaignDetail, tags=["campaigns"])
def get_campaign(request: ApiRequest, campaign_id: int, who: Query[campaigns.Who] = "all") -> dict:
    """A campaign with its job's status and progress, and per pair the items, the judgments (`who`: all,
    humans or judges) and how often the first beat the second, with a 95% Wilson interval."""
    campaign = _in_research_project(request, Campaign.objects.select_related("job"), campaign_id, "campaign")
    pairs = [_shown(pair, PairOut) for pair in campaigns.campaign_results(campaign, who)]
    return _campaign_out(campaign, CampaignDetail, who=who, pairs=pairs)


# --- generation batches ----------------------------------------------------------------------


class GenerationIn(Schema):
    model: ModelRef
    split: str = Field("", max_length=8, description="Only the prompts of this split (train | test); empty: all")
    snapshot: int | None = Field(None, ge=1, description="Generate for this snapshot's prompts instead")
    sampling: dict = sampling_field()


class GenerationOut(JobOut):
    model: int
    split: str
    snapshot: int | None
    sampling: dict


@router.post("/projects/{slug}/generations", response={201: GenerationOut}, tags=["generations"])
def start_generation(request: ApiRequest, slug: str, data: GenerationIn) -> tuple[int, dict]:
    """Queue a generation batch: the model x the project's prompts (a split, or a snapshot's) x sampling
    settings -> responses. Its progress: GET /api/jobs/{id}. 422 names the field at fault."""
    project = project_for(request, slug)
    model = _model(project, data.model, "model")
    snapshot = training_selectors.project_snapshot(project, data.snapshot) if data.snapshot else None
    if data.snapshot and snapshot is None:
        raise InvalidFields({"snapshot": [f"no snapshot {data.snapshot} in project {project.slug}"]})
    with _refusals(GenerationIn, "sampling"):
        batch = generation.start_generation(
            model_version=model, split=data.split, snapshot=snapshot, sampling=data.sampling, user=request.user
        )
    extra = {"model": model.pk, "split": batch.split, "snapshot": batch.snapshot_id, "sampling": batch.sampling}
    return 201, {**job_out(batch), **extra}


# --- judges and judging runs -----------------------------------------------------------------


class JudgeIn(Schema):
    name: str = Field(min_length=1, max_length=100, description="Letters, digits, - and _; unique in the project")
    kind: Literal[tuple(Judge.Kind.values)]  # type: ignore[valid-type]
    settings: dict = Field(
        default_factory=dict,
        description="By kind: rule {rule, tie_margin, tokenizer}; reward-model {model (a reward version id), "
        "tie_margin}; llm {model (a policy or endpoint version id), template, max_new_tokens}",
    )


class JudgeOut(Schema):
    id: int
    name: str
    kind: str
    settings: dict
    created_at: datetime


class AgreementOut(Schema):
    n: int = Field(description="Items with both a verdict of the judge and a human majority")
    judged: int = Field(description="The judge's judgments in the project")
    accuracy: float | None = Field(description="Agreement with the human majority; null without data")
    kappa: float | None = Field(description="Cohen's kappa over a / b / tie against the human majority")
    position_consistency: float | None = Field(description="Share of its verdicts that held in both orders")


class JudgeRow(JudgeOut):
    agreement: AgreementOut


class JudgingRunIn(Schema):
    judge: str = Field(
        min_length=1,
        max_length=500,
        description="A registered judge NAME, or model:NAME or rule:NAME (registered on first use)",
    )
    limit: int | None = Field(None, description="Judge at most this many items (empty: every one not judged yet)")


class JudgingRunOut(JobOut):
    judge: str
    limit: int | None
    counts: dict


@router.get("/projects/{slug}/judges", response=list[JudgeRow], tags=["judges"])
def list_judges(request: ApiRequest, slug: str) -> list[dict]:
    """The project's judges, each with its agreement with the human majority (as the project page shows)."""
    rows = judging.agreement(project_for(request, slug))
    return [_shown(row.judge, JudgeRow, agreement=_shown(row, AgreementOut)) for row in rows]


@router.post("/projects/{slug}/judges", response={201: JudgeOut}, tags=["judges"])
def register_judge(request: ApiRequest, slug: str, data: JudgeIn) -> tuple[int, dict]:
    """Register a judge. 422 names the field: a name already used, a setting the kind does not take, a
    model that is not a version of the project of the right kind, an unknown rule or template."""
    project = project_for(request, slug)
    with _refusals(JudgeIn, "settings"):
        judge = judging.register_judge(project, user=request.user, **data.dict())
    return 201, _shown(judge, JudgeOut)


@router.post("/projects/{slug}/judging-runs", response={201: JudgingRunOut}, tags=["judges"])
def start_judging_run(request: ApiRequest, slug: str, data: JudgingRunIn) -> tuple[int, dict]:
    """Queue a judging run: the judge answers the project's pairwise items it has not judged yet (at most
    `limit`). model:NAME and rule:NAME are registered on first use. Progress: GET /api/jobs/{id}."""
    project = project_for(request, slug)
    with _refusals(JudgingRunIn):
        run = judging.start_run(project=project, user=request.user, **data.dict())
    return 201, {**job_out(run), "judge": run.judge.name, "limit": run.limit, "counts": run.counts}


# --- rounds ----------------------------------------------------------------------------------


class RoundIn(Schema):
    policy: ModelRef
    algorithm: Literal[tuple(rounds.ROUND_ALGORITHMS)] = "dpo"  # type: ignore[valid-type]
    judge: str = Field(
        "", max_length=200, description="A judge: NAME, model:NAME or rule:NAME; empty: the annotators judge"
    )
    humans: bool = Field(False, description="Also wait for the annotators (always, without a judge)")
    settings: dict = Field(
        default_factory=dict,
        description=f"Round settings ({', '.join(rounds.ROUND_DEFAULTS)}) and training overrides by name "
        f"({rounds.RM_PPO}: reward.KEY and ppo.KEY)",
    )


class Collection(Schema):
    items: int
    complete: int = Field(description="Items the annotators brought to the project's overlap")
    judgments: int
    human: int


class RoundOut(Schema):
    id: int
    number: int
    status: str
    policy: int
    opponent: int
    algorithm: str
    judge: str
    humans: bool
    settings: dict
    close_requested: bool
    campaign: int | None
    judging_job: int | None
    snapshot: int | None
    reward_job: int | None
    reward_version: int | None
    training_job: int | None
    new_version: int | None = Field(description="vN+1, once trained")
    eval_campaign: int | None
    collection: Collection
    rating_change: dict | None = Field(description='vN+1 vs vN: {"new", "old", "delta", "ci", "battles"}')
    created_at: datetime
    job: JobOut | None = Field(description="The job that drives the round: its status and progress")


def _round_out(round_: Round, counts: dict[str, int], change: dict | None) -> dict:
    """The round with what it links to by id (its policy, campaign, snapshot, jobs, new version, ...)."""
    links = {f.name: getattr(round_, f.attname) for f in Round._meta.concrete_fields if f.is_relation}
    computed = {**links, "collection": counts, "rating_change": change or None, "job": _job_or_none(round_.job)}
    return _shown(round_, RoundOut, **computed)


@router.get("/projects/{slug}/rounds", response=list[RoundOut], tags=["rounds"])
def list_rounds(request: ApiRequest, slug: str) -> list[dict]:
    """The project's rounds, newest first, as the rounds page shows them: what each made, its collection
    counts and its rating change (live while it is not recorded yet)."""
    rows = rounds.round_rows(project_for(request, slug))
    return [_round_out(row["round"], row["counts"], row["change"]) for row in rows]


@router.post("/projects/{slug}/rounds", response={201: RoundOut}, tags=["rounds"])
def start_round(request: ApiRequest, slug: str, data: RoundIn) -> tuple[int, dict]:
    """Queue a round from a policy version: a campaign against its parent (or settings.opponent), judgments
    by the judge and/or the annotators, a snapshot, a training job, vN+1 and its rating change. 422 names
    the field: a policy the project lacks or without a parent, a judge, a setting unknown or out of bounds."""
    project = project_for(request, slug)
    policy = _model(project, data.policy, "policy")
    with _refusals(RoundIn, "settings"):
        round_ = rounds.start_round(project=project, policy=policy, user=request.user, **data.dict(exclude={"policy"}))
    return 201, _round_out(round_, rounds.collection(round_), None)


@router.post("/rounds/{round_id}/close", response=RoundOut, tags=["rounds"])
def close_round(request: ApiRequest, round_id: int) -> dict:
    """Stop waiting for the annotators: the round goes on with the judgments it has."""
    round_ = _in_research_project(request, Round.objects.select_related("job"), round_id, "round")
    rounds.close_round(round_)
    round_.refresh_from_db()
    return _round_out(round_, rounds.collection(round_), round_.rating_change)
