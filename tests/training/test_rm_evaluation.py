"""Reward-model evaluation, RewardBench-style: pairs with a known preference (imported labels or the human
majority), accuracy overall and per category with ties apart, `evaluate_rm` and the model page."""

import io
import json
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from django.urls import reverse

from labeling.data import imports
from labeling.models import Item, Judgment, Membership
from tests.shared_data import shared_file
from training import evaluations
from training.evaluations import Pair
from training.models import Evaluation, Job
from training.services import register_model

pytestmark = pytest.mark.django_db

AUTOJ = {
    "prompt": "prompt",
    "response_a": "response 1",
    "response_b": "response 2",
    "label": "label",
    "category": "scenario",
}
SLICE = 60  # the first rows of the Auto-J test set: three scenarios, seven ties


@pytest.fixture
def autoj(make_project, tmp_path):
    """A project holding the first SLICE Auto-J pairs (labels imported, scenarios as categories), and those records."""
    lines = shared_file("autoj_pairwise.jsonl").read_text(encoding="utf-8").splitlines()[:SLICE]
    path = tmp_path / "autoj-slice.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    project = make_project(n_items=0)
    imports.import_file(project, path, fmt="mapped", mapping=AUTOJ)
    return project, [json.loads(line) for line in lines]


def vote(item, user, choice):
    return Judgment.objects.create(item=item, annotator=user, choice=choice, client_token=uuid.uuid4().hex)


def test_the_pairs_of_an_imported_test_set_keep_their_labels_and_categories(autoj):
    project, records = autoj

    pairs = evaluations.evaluation_pairs(project)

    assert len(pairs) == SLICE
    assert Counter(p.label for p in pairs) == Counter({0: "a", 1: "b", 2: "tie"}[r["label"]] for r in records)
    assert Counter(p.category for p in pairs) == Counter(r["scenario"] for r in records)
    assert evaluations.evaluation_pairs(project, category_field="")[0].category == evaluations.NO_CATEGORY


def test_without_imported_labels_the_human_majority_is_the_label(make_project, make_user):
    project = make_project(n_items=4)
    u1, u2, u3 = make_user(), make_user(), make_user()
    majority, split, tie, imported = Item.objects.filter(project=project).order_by("id")
    for user, choice in ((u1, "a"), (u2, "a"), (u3, "b")):
        vote(majority, user, choice)
    vote(split, u1, "a")
    vote(split, u2, "b")
    vote(tie, u1, "both_bad")
    vote(imported, u1, "a")  # the imported label wins over the human one
    Judgment.objects.create(item=imported, choice="b", source="import:file.jsonl", client_token=uuid.uuid4().hex)

    pairs = evaluations.evaluation_pairs(project)

    assert [(p.a, p.label) for p in pairs] == [("answer A0", "a"), ("answer A2", "tie"), ("answer A3", "b")]


def test_accuracy_counts_equal_scores_as_half_and_reports_both_kinds_of_tie_apart():
    pairs = [
        Pair("p1", "x", "y", "a", "math"),  # scores (2, 1): right
        Pair("p2", "x", "y", "b", "math"),  # scores (0, 3): the preferred one lower, wrong
        Pair("p3", "x", "y", "a", "math"),  # scores (5, 5): half
        Pair("p4", "x", "y", "tie", "math"),  # not scored
        Pair("p5", "x", "y", "b", "chat"),  # scores (1, 0): right
    ]
    rows = evaluations.scoring_rows(pairs)
    assert [r["chosen"] for r in rows] == ["x", "y", "x", "y"]  # the preferred response is `chosen`

    results = evaluations.summarize(pairs, [(2.0, 1.0), (0.0, 3.0), (5.0, 5.0), (1.0, 0.0)])

    assert results["n"] == 4 and results["accuracy"] == pytest.approx(2.5 / 4)
    assert results["ties"] == {"label": 1, "score": 1}
    assert results["categories"] == {
        "chat": {"accuracy": 1.0, "n": 1, "ties": {"label": 0, "score": 0}},
        "math": {"accuracy": pytest.approx(1.5 / 3), "n": 3, "ties": {"label": 1, "score": 1}},
    }


def test_an_evaluation_is_refused_with_the_field_at_fault(make_project, tmp_path):
    project = make_project(n_items=2)  # no judgments: no known preference
    reward = register_model(project=project, name="rm", base="tiny/rm", kind="reward")
    orphan = register_model(project=project, name="policy", base="tiny/policy")
    endpoint = register_model(project=project, name="ep", endpoint_url="http://127.0.0.1:9/v1", endpoint_model="m")

    with pytest.raises(ValueError, match="has no pairs with a known preference"):
        evaluations.start_evaluation(model=reward, project=project)
    with pytest.raises(ValueError, match="^model: policy is a policy with no parent version"):
        evaluations.start_evaluation(model=orphan, project=project)
    with pytest.raises(ValueError, match="^model: ep is served by an endpoint"):
        evaluations.start_evaluation(model=endpoint, project=project)
    with pytest.raises(ValueError, match="^category_field: a metadata key"):
        evaluations.start_evaluation(model=reward, project=project, category_field="bad key!")
    assert not Evaluation.objects.exists()


@pytest.mark.ml
def test_evaluate_rm_scores_the_autoj_slice_per_category_and_the_model_page_shows_it(
    autoj, tiny_dirs, make_user, client
):
    project, records = autoj
    register_model(project=project, name="rm", base=tiny_dirs["tiny-reward"], kind="reward")
    out = io.StringIO()

    call_command("evaluate_rm", model="rm", project=project.slug, category_field="category", inline=True, stdout=out)

    result = json.loads(out.getvalue().strip().splitlines()[-1])
    decisive = [r for r in records if r["label"] != 2]
    assert result["status"] == "succeeded"
    assert result["n"] == len(decisive) and 0 <= result["accuracy"] <= 1
    assert result["ties"]["label"] == len(records) - len(decisive) == 7
    assert set(result["categories"]) == {r["scenario"] for r in records}
    assert sum(c["n"] for c in result["categories"].values()) == result["n"]
    for name, category in result["categories"].items():
        assert category["n"] == sum(1 for r in decisive if r["scenario"] == name)
        assert 0 <= category["accuracy"] <= 1
    evaluation = Evaluation.objects.get(pk=result["job"])
    assert evaluation.status == Job.Status.SUCCEEDED and evaluation.step == evaluation.total == len(decisive)

    researcher = make_user()
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    client.force_login(researcher)
    page = client.get(reverse("training:model", args=[evaluation.model_id])).content.decode()
    assert 'data-testid="rm-eval"' in page
    for name, category in result["categories"].items():
        assert f"<tr><th>{name}</th><td>{format(category['accuracy'], '.3g')}</td><td>{category['n']}</td>" in page


@pytest.mark.ml
def test_a_dpo_policy_equal_to_its_reference_scores_every_pair_as_a_tie(training_project, tiny_dirs, make_snapshot):
    _, held_out = make_snapshot()
    base = register_model(project=training_project, name="base", base=tiny_dirs["tiny-policy"])
    same = register_model(project=training_project, name="same", base=tiny_dirs["tiny-policy"], parent=base)
    out = io.StringIO()

    call_command(
        "evaluate_rm", model="same", project=training_project.slug, snapshot=held_out.pk, inline=True, stdout=out
    )

    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["n"] == held_out.rows and result["accuracy"] == 0.5  # every implicit reward is 0: half each
    assert result["ties"] == {"label": 0, "score": held_out.rows}
    assert result["categories"] == {evaluations.NO_CATEGORY: {"accuracy": 0.5, "n": held_out.rows}}
    assert Evaluation.objects.get(pk=result["job"]).reference == base
    assert same.pk


@pytest.mark.ml
def test_a_sequence_longer_than_the_context_keeps_its_last_tokens_and_the_response_start_moves_with_them():
    from training.ml.evaluate import keep_last

    assert keep_last(range(10), 4, start=7) == ([6, 7, 8, 9], 1)  # the response began at token 7: now token 1
    assert keep_last(range(10), 6, start=7) == ([4, 5, 6, 7, 8, 9], 3)
    assert keep_last(range(10), None, start=7) == (list(range(10)), 7)
    assert keep_last(range(3), 4) == ([0, 1, 2], 0)
