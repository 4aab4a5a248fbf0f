"""AI judges of a project (training/judging.py, workers/judging.py, manage.py judge): registering and
naming judges, judging runs as a job (on a real worker, idempotent), the judgments naming the judge,
agreement with the human majority, and the page that shows it."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from labeling.models import Item, Judgment, Prompt, Response
from labeling.services import record_judge_judgment
from training import jobs, judging
from training.ml import judges as ml_judges
from training.models import Job, Judge, JudgingRun
from workers.jobs import run_job

from .conftest import wait_for


@pytest.fixture
def lengths_project(make_project):
    """Four pairwise items whose a answer is the longer one, and one binary-like item left alone."""
    project = make_project(n_items=0)
    for i in range(4):
        prompt = Prompt.objects.create(project=project, text=f"question {i}?")
        a = Response.objects.create(prompt=prompt, text="a long and careful answer " * (i + 1))
        b = Response.objects.create(prompt=prompt, text="short")
        Item.objects.create(project=project, prompt=prompt, response_a=a, response_b=b)
    return project


def test_a_judging_run_on_a_real_worker_judges_each_item_once_as_the_judge_and_a_rerun_judges_none(
    transactional_db, start_worker, lengths_project
):
    worker = start_worker()
    run = judging.start_run(project=lengths_project, judge="rule:length")
    assert jobs.queue_for(run.kind) == jobs.queue_for(Job.Kind.TRAIN)
    wait_for(lambda: Job.objects.get(pk=run.pk).is_finished, 120, "the judging run", worker)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert judging.run_summary(run) == {"job": run.pk, "judged": 4, "ties": 0, "swap_inconsistent": 0}
    made = Judgment.objects.filter(item__project=lengths_project)
    assert sorted(made.values_list("choice", flat=True)) == ["a"] * 4
    assert {j.source for j in made} == {"judge:rule-length"}
    assert {j.annotator.username for j in made} == {f"judge:{lengths_project.slug}:rule-length"}
    assert not made[0].annotator.is_active and "rule:length a=" in made[0].rationale
    assert set(Item.objects.filter(project=lengths_project).values_list("judgment_count", flat=True)) == {0}

    again = judging.start_run(project=lengths_project, judge="rule:length")
    wait_for(lambda: Job.objects.get(pk=again.pk).is_finished, 120, "the second judging run", worker)
    assert Job.objects.get(pk=again.pk).status == "succeeded"
    assert judging.run_summary(again)["judged"] == 0 and again.total == 0
    assert Judgment.objects.filter(item__project=lengths_project).count() == 4


def test_a_limited_run_judges_that_many_items_and_the_next_run_takes_the_rest(db, lengths_project):
    first = judging.start_run(project=lengths_project, judge="rule:length", limit=3)
    run_job(first.pk, "test")
    assert judging.run_summary(first)["judged"] == 3
    second = judging.start_run(project=lengths_project, judge="rule:length")
    assert second.total == 1
    run_job(second.pk, "test")
    assert judging.run_summary(second)["judged"] == 1


def test_the_judge_command_prints_judged_ties_and_swap_inconsistent_last(db, make_project, monkeypatch):
    project = make_project(n_items=3)  # "answer A0" vs "answer B0": equal lengths
    out = StringIO()
    call_command("judge", "--project", project.slug, "--judge", "rule:length", "--inline", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(last) == {"job", "judged", "ties", "swap_inconsistent"}
    assert (last["judged"], last["ties"], last["swap_inconsistent"]) == (3, 3, 0)

    # an LLM judge with a position bias: "[[A]]" whatever the order -> each verdict a swap-inconsistent tie
    judge = ml_judges.LLMJudge(lambda prompts: ["[[A]]"] * len(prompts))
    monkeypatch.setattr(ml_judges, "make_judge", lambda spec, **kw: judge)
    out = StringIO()
    call_command("judge", "--project", project.slug, "--judge", "rule:regex:A", "--limit", "2", "--inline", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (last["judged"], last["ties"], last["swap_inconsistent"]) == (2, 2, 2)


def test_the_judge_command_names_an_unknown_judge(db, make_project):
    project = make_project(n_items=1)
    with pytest.raises(Exception, match="no judge named 'nobody'"):
        call_command("judge", "--project", project.slug, "--judge", "nobody", "--inline", stdout=StringIO())


def test_an_inline_model_judge_is_an_llm_judge_for_a_policy_and_a_reward_model_judge_for_a_reward_version(
    db, tiny_models, training_project
):
    assert judging.resolve_judge(training_project, "model:tiny-policy").kind == Judge.Kind.LLM
    reward = judging.resolve_judge(training_project, "model:tiny-reward")
    assert reward.kind == Judge.Kind.REWARD_MODEL and reward.name == "model-tiny-reward"
    assert judging.resolve_judge(training_project, "model:tiny-reward") == reward  # registered once
    spec = judging.judge_spec(reward)
    assert spec["judge_kind"] == "reward-model" and spec["base"] == tiny_models["reward"].base


def test_registering_a_judge_checks_its_settings_by_field(db, tiny_models, training_project):
    policy, reward = tiny_models["policy"], tiny_models["reward"]
    judge = judging.register_judge(
        training_project, name="gpt-ish", kind="llm", settings={"model": policy.pk, "template": "alpaca-eval"}
    )
    assert judge.settings == {"model": policy.pk, "template": "alpaca-eval", "max_new_tokens": 256}
    with pytest.raises(ValueError, match="^name: .* already has a judge"):
        judging.register_judge(training_project, name="gpt-ish", kind="rule", settings={"rule": "length"})
    with pytest.raises(ValueError, match="^model: tiny-policy is not a local reward model"):
        judging.register_judge(training_project, name="rm", kind="reward-model", settings={"model": policy.pk})
    with pytest.raises(ValueError, match="^rule: no rule 'shortest'"):
        judging.register_judge(training_project, name="r", kind="rule", settings={"rule": "shortest"})
    with pytest.raises(ValueError, match="^template: .* lacks"):
        judging.register_judge(training_project, name="t", kind="llm", settings={"model": policy.pk, "template": "Hi"})
    with pytest.raises(ValueError, match="^tie_margin: must be 0 or more"):
        judging.register_judge(
            training_project, name="rm", kind="reward-model", settings={"model": reward.pk, "tie_margin": -1}
        )


@pytest.fixture
def agreement_project(make_project, make_user):
    """Seven items; humans and a judge answer them as in the hand computation below."""
    project = make_project(n_items=7, overlap=3)
    items = list(Item.objects.filter(project=project).order_by("id"))
    alice, bob, carol = make_user(), make_user(), make_user()
    humans = [
        ("a", "a", "b"),
        ("a", "a", "a"),
        ("b", "b", "a"),
        ("b", "b", "b"),
        ("tie", "tie", "a"),
        ("a", None, None),
    ]
    humans.append(("a", "b", None))  # item 7: no strict majority, left out
    for item, answers in zip(items, humans, strict=True):
        for user, choice in zip((alice, bob, carol), answers, strict=True):
            if choice:
                Judgment.objects.create(item=item, annotator=user, choice=choice, client_token=f"h{item.pk}{user.pk}")
    judge = judging.resolve_judge(project, "rule:length")
    user = judging.judge_user(judge)
    for item, choice in zip(items, ["a", "b", "b", "b", "a", "a", "a"], strict=True):
        record_judge_judgment(item, user, choice=choice, client_token=f"j{item.pk}", source=judging.judge_source(judge))
    JudgingRun.objects.create(
        kind=Job.Kind.JUDGE, project=project, judge=judge, counts={"judged": 8, "swap_inconsistent": 2}
    )
    return project


def test_agreement_with_the_human_majority_matches_the_hand_computed_kappa(agreement_project):
    # majorities of items 1-6: a a b b tie a; the judge: a b b b a a -> 4 of 6 agree
    # judge a:3 b:3 tie:0; humans a:3 b:2 tie:1 -> chance (3*3 + 3*2 + 0*1) / 36 = 15/36
    # kappa = (24/36 - 15/36) / (1 - 15/36) = 9/21 = 3/7; position consistency 1 - 2/8
    [row] = judging.agreement(agreement_project)
    assert (row.n, row.judged) == (6, 7)
    assert row.accuracy == pytest.approx(4 / 6)
    assert row.kappa == pytest.approx(3 / 7)
    assert row.position_consistency == pytest.approx(0.75)


def test_cohen_kappa_is_one_for_perfect_agreement_and_none_without_data():
    assert judging.cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert judging.cohen_kappa([]) is None
    assert judging.cohen_kappa([("a", "a"), ("a", "a")]) is None  # chance agreement is certain


def test_the_project_page_fetches_the_agreement_table_that_researchers_see(agreement_project, client, make_user):
    from labeling.models import Membership

    researcher, annotator = make_user(), make_user()
    Membership.objects.create(project=agreement_project, user=researcher, role="researcher")
    Membership.objects.create(project=agreement_project, user=annotator, role="annotator")
    url = reverse("training:judge_agreement", args=[agreement_project.slug])
    client.force_login(researcher)
    page = client.get(reverse("labeling:project", args=[agreement_project.slug])).content.decode()
    assert f'hx-get="{url}"' in page
    annotators = page.split("<h2>Annotators</h2>", 1)[1].split("</table>", 1)[0]  # people only
    assert annotators.count("<tr><td>") == 3 and "judge:" not in annotators
    table = client.get(url).content.decode()
    assert "rule-length" in table and "0.667" in table and "0.429" in table and "0.750" in table
    client.force_login(annotator)
    assert client.get(url).status_code in (403, 404)
