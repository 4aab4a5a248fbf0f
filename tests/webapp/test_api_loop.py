"""The API of the model side of the loop (webapp/api_loop.py): the leaderboard, campaigns, generation batches,
judges and judging runs, rounds. Each answers what the page or command answers, refuses an annotator (403)
and anything of a project you are not in (404), and a refused request is a 422 naming the field at fault."""

import io
import json
import uuid
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from labeling.models import Item, Judgment, Prompt, Response
from tests.webapp.test_api_scoped import bearer, post
from training import campaigns, rounds
from training.models import Campaign, Generation, Job, Judge, ModelVersion, Round
from workers.jobs import run_job

pytestmark = pytest.mark.django_db


def get(client, path, user, **query):
    return client.get(path, query, **bearer(user))


@pytest.fixture
def people(make_user):
    """rita researches the project, anna annotates it, olga researches another project only."""
    return SimpleNamespace(**{name: make_user(username=name) for name in ("rita", "anna", "olga")})


@pytest.fixture
def project(make_project, people):
    """Three prompts (train split) with an item each, and its members."""
    make_project(n_items=0, members={people.olga: "researcher"})
    return make_project(n_items=3, members={people.rita: "researcher", people.anna: "annotator"})


@pytest.fixture
def versions(project):
    """v0 and v1 (trained from v0), policies of the project."""
    v0 = ModelVersion.objects.create(project=project, name="v0", base="org/tiny")
    v1 = ModelVersion.objects.create(project=project, name="v1", base="org/tiny", parent=v0)
    return v0, v1


@pytest.fixture
def sources(project):
    """Two imported response sources, gpt-4 and llama, answering each of the project's prompts."""
    for prompt in Prompt.objects.filter(project=project):
        for source in ("gpt-4", "llama"):
            Response.objects.create(prompt=prompt, text=f"{source} on {prompt.text}", source=source)


def assert_refused(response, status, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["detail"]
    if field is not None:
        assert body["field"] == field, body


def made():
    """How many of each thing the endpoints make (a refused request makes none)."""
    return [model.objects.count() for model in (Campaign, Job, Judge, Round)]


# --- leaderboard ---------------------------------------------------------------------------------


@pytest.fixture
def battles(project, versions):
    """Six judgments between v0 and v1 (v1 wins four, one tie) on generated responses; one by a judge."""
    job = Job.objects.create(kind=Job.Kind.GENERATE, project=project)
    for i in range(6):
        prompt = Prompt.objects.create(project=project, text=f"battle {i}")
        a, b = (
            Response.objects.create(prompt=prompt, text=f"{v.name} {i}", source=f"model:{v.name}") for v in versions
        )
        for response, version in ((a, versions[0]), (b, versions[1])):
            Generation.objects.create(response=response, model_version=version, job=job, prompt=prompt)
        item = Item.objects.create(project=project, prompt=prompt, response_a=a, response_b=b)
        choice = "b" if i < 4 else ("tie" if i == 4 else "a")
        source = "judge:rm" if i == 5 else "human"
        Judgment.objects.create(item=item, choice=choice, client_token=uuid.uuid4().hex, source=source)


def test_the_leaderboard_is_what_the_leaderboard_command_prints_last(client, project, battles, people):
    out = io.StringIO()
    call_command("leaderboard", "--project", project.slug, "--bootstrap", "200", "--seed", "3", stdout=out)
    printed = json.loads(out.getvalue().strip().splitlines()[-1])

    response = get(client, f"/api/projects/{project.slug}/leaderboard", people.rita, bootstrap=200, seed=3)

    assert response.status_code == 200, response.content
    board = response.json()
    assert board.pop("seconds") >= 0 and printed.pop("seconds") >= 0
    assert board == printed
    assert [m["name"] for m in board["models"]] == ["v1", "v0"] and board["battles"] == 6


def test_the_leaderboard_counts_whose_judgments_were_asked_for(client, project, battles, people):
    humans = get(client, f"/api/projects/{project.slug}/leaderboard", people.rita, who="humans", bootstrap=0)
    judges = get(client, f"/api/projects/{project.slug}/leaderboard", people.rita, who="judges", bootstrap=0)

    assert humans.status_code == 200 and humans.json()["battles"] == 5
    assert judges.json()["battles"] == 1
    assert all(m["ci"] == [m["rating"], m["rating"]] for m in humans.json()["models"])  # no bootstrap


@pytest.mark.parametrize(
    "query, field", [({"who": "robots"}, "who"), ({"bootstrap": 10_001}, "bootstrap"), ({"seed": -1}, "seed")]
)
def test_a_bad_leaderboard_query_is_a_422_naming_it(client, project, people, query, field):
    assert_refused(get(client, f"/api/projects/{project.slug}/leaderboard", people.rita, **query), 422, field)


# --- campaigns -----------------------------------------------------------------------------------


def test_a_researcher_starts_a_campaign_and_reads_its_progress_and_win_rates(client, project, sources, people):
    started = post(
        client,
        f"/api/projects/{project.slug}/campaigns",
        {"models": ["gpt-4", "llama"], "name": "sources", "sampling": {"max_new_tokens": 16}},
        people.rita,
    )

    assert started.status_code == 201, started.content
    campaign = started.json()
    assert (campaign["competitors"], campaign["mode"], campaign["items"]) == (["gpt-4", "llama"], "all_pairs", 0)
    assert campaign["sampling"]["max_new_tokens"] == 16 and campaign["job"]["status"] == "queued"
    assert campaign["job"]["kind"] == "campaign" and campaign["project"] == project.slug
    listed = get(client, f"/api/projects/{project.slug}/campaigns", people.rita).json()
    assert [c["id"] for c in listed] == [campaign["id"]]

    run_job(campaign["job"]["id"], "test")  # nothing to generate: it makes the items
    items = Item.objects.filter(campaign_item__campaign_id=campaign["id"]).order_by("id")
    for item, choice in zip(items, ("a", "b", "tie"), strict=True):
        Judgment.objects.create(item=item, choice=choice, client_token=uuid.uuid4().hex)
    detail = get(client, f"/api/campaigns/{campaign['id']}", people.rita).json()

    assert detail["job"]["status"] == "succeeded" and detail["job"]["progress"] == 1.0
    assert detail["items"] == 3 and detail["who"] == "all"
    [pair] = detail["pairs"]
    results = campaigns.campaign_results(Campaign.objects.get(pk=campaign["id"]))[0]
    assert (pair["a"], pair["b"], pair["items"], pair["judgments"]) == ("gpt-4", "llama", 3, 3)
    assert pair["win_rate"] == pytest.approx(results.win_rate) and pair["ci"] == pytest.approx(list(results.ci))
    assert (
        get(client, f"/api/campaigns/{campaign['id']}", people.rita, who="judges").json()["pairs"][0]["judgments"] == 0
    )


# --- generation batches --------------------------------------------------------------------------


def test_a_researcher_queues_a_generation_batch_by_model_name_or_id_and_follows_its_job(
    client, project, versions, people
):
    v0, v1 = versions
    by_name = post(
        client,
        f"/api/projects/{project.slug}/generations",
        {"model": "v1", "split": "train", "sampling": {"n": 2, "temperature": 0.7, "top_p": 0.9, "seed": 5}},
        people.rita,
    )
    by_id = post(client, f"/api/projects/{project.slug}/generations", {"model": v0.pk}, people.rita)

    assert by_name.status_code == 201, by_name.content
    batch = by_name.json()
    assert (batch["kind"], batch["status"], batch["model"], batch["split"]) == ("generate", "queued", v1.pk, "train")
    assert batch["total"] == 3 * 2 and batch["sampling"]["top_p"] == 0.9 and batch["sampling"]["seed"] == 5
    assert by_id.status_code == 201 and by_id.json()["model"] == v0.pk and by_id.json()["sampling"]["n"] == 1
    job = get(client, f"/api/jobs/{batch['id']}", people.rita).json()
    assert (job["kind"], job["status"], job["total"]) == ("generate", "queued", 6)


# --- judges and judging runs ---------------------------------------------------------------------


def test_a_researcher_registers_a_judge_runs_it_and_reads_its_agreement(client, project, people, make_user):
    registered = post(
        client,
        f"/api/projects/{project.slug}/judges",
        {"name": "longer", "kind": "rule", "settings": {"rule": "length"}},
        people.rita,
    )
    assert registered.status_code == 201, registered.content
    assert (registered.json()["name"], registered.json()["settings"]) == ("longer", {"rule": "length", "tie_margin": 0})

    started = post(client, f"/api/projects/{project.slug}/judging-runs", {"judge": "longer", "limit": 2}, people.rita)

    assert started.status_code == 201, started.content
    run = started.json()
    assert (run["kind"], run["status"], run["judge"], run["limit"], run["total"]) == ("judge", "queued", "longer", 2, 2)
    run_job(run["id"], "test")  # a rule judge is cheap: run it here
    assert get(client, f"/api/jobs/{run['id']}", people.rita).json()["status"] == "succeeded"
    human = make_user()
    for item in Item.objects.filter(project=project):
        Judgment.objects.create(item=item, annotator=human, choice="tie", client_token=uuid.uuid4().hex)
    [judge] = get(client, f"/api/projects/{project.slug}/judges", people.rita).json()
    assert (judge["name"], judge["kind"], judge["agreement"]["judged"], judge["agreement"]["n"]) == (
        "longer",
        "rule",
        2,
        2,
    )
    assert judge["agreement"]["accuracy"] == 1.0  # equal lengths: ties, as the humans answered
    assert judge["agreement"]["position_consistency"] == 1.0


def test_an_inline_judge_spec_is_registered_on_first_use(client, project, people):
    started = post(client, f"/api/projects/{project.slug}/judging-runs", {"judge": "rule:length"}, people.rita)

    assert started.status_code == 201, started.content
    assert started.json()["judge"] == "rule-length" and started.json()["total"] == 3
    assert Judge.objects.filter(project=project, name="rule-length").exists()


# --- rounds --------------------------------------------------------------------------------------


def test_a_researcher_starts_a_round_lists_it_and_closes_it(client, project, versions, people):
    v0, v1 = versions
    started = post(
        client,
        f"/api/projects/{project.slug}/rounds",
        {"policy": "v1", "judge": "rule:length", "humans": True, "settings": {"max_steps": 3, "split": "train"}},
        people.rita,
    )

    assert started.status_code == 201, started.content
    round_ = started.json()
    assert (round_["number"], round_["status"], round_["policy"], round_["opponent"]) == (1, "campaign", v1.pk, v0.pk)
    assert (round_["algorithm"], round_["judge"], round_["humans"]) == ("dpo", "rule:length", True)
    assert round_["settings"]["max_steps"] == 3 and round_["job"]["kind"] == "round"
    assert round_["job"]["status"] == "queued" and round_["collection"]["items"] == 0
    assert round_["rating_change"] is None and round_["close_requested"] is False and round_["campaign"] is None
    [listed] = get(client, f"/api/projects/{project.slug}/rounds", people.rita).json()
    assert listed["id"] == round_["id"] and listed["job"]["id"] == round_["job"]["id"]

    closed = post(client, f"/api/rounds/{round_['id']}/close", {}, people.rita)

    assert closed.status_code == 200, closed.content
    assert closed.json()["close_requested"] is True and Round.objects.get(pk=round_["id"]).close_requested


def test_a_round_may_name_its_policy_by_id_and_train_with_rm_ppo(client, project, versions, people):
    body = {"policy": versions[1].pk, "algorithm": "rm-ppo", "settings": {"ppo.max_steps": 2}}
    started = post(client, f"/api/projects/{project.slug}/rounds", body, people.rita)

    assert started.status_code == 201, started.content
    assert started.json()["algorithm"] == "rm-ppo" and started.json()["humans"] is True  # no judge: the annotators


# --- refusals ------------------------------------------------------------------------------------

TWO = {"models": ["gpt-4", "llama"]}

REFUSED = [  # (the project's endpoint, a body it refuses, the field the 422 names)
    ("campaigns", {"models": ["ghost", "spirit"]}, "models"),
    ("campaigns", {"models": ["gpt-4"]}, "models"),
    ("campaigns", {**TWO, "split": "dev"}, "split"),
    ("campaigns", {**TWO, "mode": "knockout"}, "mode"),
    ("campaigns", {**TWO, "reference": "gpt-4"}, "reference"),
    ("campaigns", {**TWO, "sampling": {"n": 0}}, "sampling.n"),
    ("campaigns", {**TWO, "sampling": {"beams": 4}}, "sampling.beams"),
    ("generations", {"model": "nobody"}, "model"),
    ("generations", {"model": 10**9}, "model"),
    ("generations", {"split": "test"}, "model"),
    ("generations", {"model": "v1", "split": "dev"}, "split"),
    ("generations", {"model": "v1", "snapshot": 10**9}, "snapshot"),
    ("generations", {"model": "v1", "sampling": {"temperature": -1}}, "sampling.temperature"),
    ("generations", {"model": "v1", "sampling": {"max_new_tokens": 0}}, "sampling.max_new_tokens"),
    ("generations", {"model": "v1", "sampling": "greedy"}, "sampling"),  # not an object: the field, not the body
    ("campaigns", {**TWO, "sampling": [1]}, "sampling"),
    ("judges", {"name": "taken", "kind": "rule", "settings": {"rule": "length"}}, "name"),
    ("judges", {"name": "bad name", "kind": "rule", "settings": {"rule": "length"}}, "name"),
    ("judges", {"name": "r", "kind": "oracle", "settings": {}}, "kind"),
    ("judges", {"name": "r", "kind": "rule", "settings": {"rule": "shortest"}}, "settings.rule"),
    ("judges", {"name": "r", "kind": "rule", "settings": {"rule": "length", "temperature": 1}}, "settings.temperature"),
    ("judges", {"name": "r", "kind": "reward-model", "settings": {"model": 10**9}}, "settings.model"),
    ("judging-runs", {"judge": "nobody"}, "judge"),
    ("judging-runs", {"judge": "rule:shortest"}, "judge"),
    ("judging-runs", {"judge": "taken", "limit": 0}, "limit"),
    ("rounds", {"policy": "v0"}, "policy"),  # v0 has no parent to meet
    ("rounds", {"policy": "nobody"}, "policy"),
    ("rounds", {"policy": "v1", "algorithm": "kto"}, "algorithm"),
    ("rounds", {"policy": "v1", "judge": "nobody"}, "judge"),
    ("rounds", {"policy": "v1", "settings": {"split": "dev"}}, "settings.split"),
    ("rounds", {"policy": "v1", "settings": "fast"}, "settings"),
    ("rounds", {"policy": "v1", "settings": {"opponent": "nobody"}}, "settings.opponent"),
    ("rounds", {"policy": "v1", "settings": {"learning_rate": -1}}, "settings.learning_rate"),
    ("rounds", {"policy": "v1", "algorithm": "rm-ppo", "settings": {"max_steps": 2}}, "settings.max_steps"),
    (
        "rounds",
        {"policy": "v1", "algorithm": "rm-ppo", "settings": {"reward.max_steps": -2}},
        "settings.reward.max_steps",
    ),
]


@pytest.mark.parametrize("endpoint, body, field", REFUSED)
def test_a_request_the_service_refuses_is_a_422_naming_the_field_and_makes_nothing(
    client, project, versions, sources, people, endpoint, body, field
):
    Judge.objects.create(project=project, name="taken", kind="rule", settings={"rule": "length"})
    before = made()

    assert_refused(post(client, f"/api/projects/{project.slug}/{endpoint}", body, people.rita), 422, field)
    assert made() == before


def test_a_field_that_is_not_an_object_is_named_and_a_body_that_is_not_one_is_the_body(client, project, people):
    refused = post(client, f"/api/projects/{project.slug}/generations", {"model": "v1", "sampling": 3}, people.rita)
    assert refused.json()["detail"] == "sampling: must be a JSON object"
    refused = post(client, f"/api/projects/{project.slug}/generations", [{"model": "v1"}], people.rita)
    assert (refused.status_code, refused.json()["field"]) == (422, "body")
    assert "JSON object" in refused.json()["detail"]


def test_an_annotator_gets_403_and_an_outsider_404_on_every_endpoint_and_nothing_is_made(
    client, project, versions, sources, people
):
    campaign = campaigns.start_campaign(project=project, competitors=["gpt-4", "llama"])
    round_ = post(client, f"/api/projects/{project.slug}/rounds", {"policy": "v1"}, people.rita).json()
    slug = project.slug
    calls = [
        (get, f"/api/projects/{slug}/leaderboard"),
        (get, f"/api/projects/{slug}/campaigns"),
        (post, f"/api/projects/{slug}/campaigns", TWO),
        (get, f"/api/campaigns/{campaign.pk}"),
        (post, f"/api/projects/{slug}/generations", {"model": "v1"}),
        (get, f"/api/projects/{slug}/judges"),
        (post, f"/api/projects/{slug}/judges", {"name": "longer", "kind": "rule", "settings": {"rule": "length"}}),
        (post, f"/api/projects/{slug}/judging-runs", {"judge": "rule:length"}),
        (get, f"/api/projects/{slug}/rounds"),
        (post, f"/api/projects/{slug}/rounds", {"policy": "v1"}),
        (post, f"/api/rounds/{round_['id']}/close", {}),
    ]
    before = made()

    for user, status in ((people.anna, 403), (people.olga, 404)):
        for call, path, *body in calls:
            response = call(client, path, *body, user) if body else call(client, path, user)
            assert_refused(response, status)

    assert made() == before and not Round.objects.get(pk=round_["id"]).close_requested


def test_a_campaign_or_round_of_another_project_answers_as_one_that_does_not_exist(client, project, versions, people):
    campaign = campaigns.start_campaign(project=project, competitors=["v0", "v1"])
    round_ = rounds.start_round(project=project, policy=versions[1])

    hidden, missing = (get(client, f"/api/campaigns/{pk}", people.olga) for pk in (campaign.pk, campaign.pk + 1000))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"detail": "No such campaign"}
    hidden, missing = (post(client, f"/api/rounds/{pk}/close", {}, people.olga) for pk in (round_.pk, round_.pk + 1000))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"detail": "No such round"}
