"""The model page starts work on its model: generate responses, best-of-n, an evaluation on labelled
pairs. Each form queues one job through the same service the API and the commands call."""

import re
import uuid

import pytest
from django.urls import reverse

from labeling.models import Judgment
from training.models import BestOfNRun, Evaluation, GenerationBatch, Job, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(make_project, make_user):
    rita, anna, olga = make_user("rita"), make_user("anna"), make_user("olga")
    make_project(n_items=0, members={olga: "researcher"})
    project = make_project(n_items=3, members={rita: "researcher", anna: "annotator"})
    for item in project.items.all():  # imported labels: pairs with a known preference
        Judgment.objects.create(item=item, choice="a", client_token=uuid.uuid4().hex, source="import:x.jsonl")
    v0 = ModelVersion.objects.create(project=project, name="v0", base="org/tiny")
    v1 = ModelVersion.objects.create(project=project, name="v1", base="org/tiny", parent=v0)
    rm = ModelVersion.objects.create(project=project, name="rm", base="org/tiny-rm", kind=ModelVersion.Kind.REWARD)
    return project, (rita, anna, olga), (v0, v1, rm)


def run(client, model, action, **form):
    return client.post(reverse("training:model_run", args=[model.pk, action]), form)


def test_a_policy_page_offers_the_three_forms_and_a_reward_page_only_the_evaluation(client, setup):
    _, (rita, _, _), (v0, v1, rm) = setup
    client.force_login(rita)
    page = client.get(reverse("training:model", args=[v1.pk])).content.decode()
    assert all(h in page for h in ("Generate responses", "Best-of-n", "Evaluate on labelled pairs"))
    assert re.search(rf'<option value="{v0.pk}">v0 \(parent\)</option>', page)  # the DPO reference
    assert f'<option value="{rm.pk}">rm</option>' in page  # ranks best-of-n
    page = client.get(reverse("training:model", args=[rm.pk])).content.decode()
    assert "Evaluate on labelled pairs" in page and "Generate responses" not in page


def test_generate_queues_a_batch_with_the_form_settings_and_opens_its_job(client, setup):
    project, (rita, _, _), (_, v1, _) = setup
    project.prompts.update(split="test")
    client.force_login(rita)
    response = run(client, v1, "generate", split="test", n="2", max_new_tokens="16", temperature="0.7")
    batch = GenerationBatch.objects.get()
    assert response.status_code == 302 and response.url == reverse("training:job", args=[batch.pk])
    assert (batch.model_version, batch.split, batch.status) == (v1, "test", Job.Status.QUEUED)
    assert batch.sampling["n"] == 2 and batch.sampling["max_new_tokens"] == 16 and batch.sampling["temperature"] == 0.7
    assert batch.total == 3 * 2
    page = client.get(response.url).content.decode()
    assert f"Generation job #{batch.pk}" in page and "queued" in page


def test_best_of_n_ranks_by_the_reward_model_chosen(client, setup):
    _, (rita, _, _), (_, v1, rm) = setup
    client.force_login(rita)
    assert run(client, v1, "best-of-n", n="3", reward=str(rm.pk)).status_code == 302
    bon = BestOfNRun.objects.get()
    assert (bon.policy, bon.n, bon.reward, bon.judge) == (v1, 3, rm, None)


def test_evaluate_reads_a_reward_model_directly_and_a_policy_against_its_reference(client, setup):
    _, (rita, _, _), (v0, v1, rm) = setup
    client.force_login(rita)
    assert run(client, rm, "evaluate").status_code == 302
    assert run(client, v1, "evaluate", reference=str(v0.pk)).status_code == 302
    evaluations = list(Evaluation.objects.order_by("pk"))
    assert [(e.model, e.reference, e.total) for e in evaluations] == [(rm, None, 3), (v1, v0, 3)]


@pytest.mark.parametrize(
    "model, action, form, message",
    [
        ("v1", "generate", {"max_new_tokens": "lots"}, "max_new_tokens: must be a number, not &#x27;lots&#x27;"),
        ("v1", "generate", {"split": "test"}, "prompts: project .* has no prompts in split test"),
        ("v1", "best-of-n", {}, "judge: name either a judge .* or a reward version"),
        ("v1", "best-of-n", {"n": "1", "judge": "rule:length"}, "n: samples per prompt, a whole number from 2"),
        ("v1", "best-of-n", {"n": "0", "judge": "rule:length"}, "n: samples per prompt, a whole number from 2"),
        ("v1", "best-of-n", {"reward": "999999"}, "reward: no model version 999999 in this project"),
        ("rm", "evaluate", {"reference": "v0"}, "reference: must be a number"),
        ("v0", "evaluate", {}, "model: v0 is a policy with no parent version"),
    ],
)
def test_a_refused_form_shows_the_page_again_naming_the_field_and_queues_nothing(
    client, setup, model, action, form, message
):
    _, (rita, _, _), versions = setup
    target = {v.name: v for v in versions}[model]
    client.force_login(rita)
    response = run(client, target, action, **form)
    assert response.status_code == 422
    shown = re.search(r'data-testid="run-error">([^<]*)<', response.content.decode())
    assert shown and re.search(message, shown.group(1)), shown
    assert not Job.objects.exists()


def test_an_annotator_is_refused_an_outsider_sees_no_model_and_an_unknown_action_is_404(client, setup):
    _, (_, anna, olga), (_, v1, _) = setup
    client.force_login(anna)
    assert run(client, v1, "generate").status_code == 403
    client.force_login(olga)
    assert run(client, v1, "generate").status_code == 404
    assert client.get(reverse("training:model_run", args=[v1.pk, "generate"])).status_code in (404, 405)
    assert not Job.objects.exists()
