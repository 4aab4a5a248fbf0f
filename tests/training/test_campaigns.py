"""Comparison campaigns: generate what is missing, then pairwise items balanced left/right in the queue."""

import io
import json
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from labeling.models import Item, Judgment, Prompt, Response
from labeling.services import lease_next_item
from training import campaigns
from training.models import Campaign, CampaignItem, Generation
from training.services import register_model
from workers.jobs import run_job

SAMPLING = {"max_new_tokens": 3}


@pytest.fixture
def two_versions(tiny_models, training_project):
    second = register_model(project=training_project, name="tiny-policy-v2", base=tiny_models["policy"].base)
    for i in range(4):
        Prompt.objects.create(project=training_project, text=f"compare on {i}", split="test")
    Prompt.objects.create(project=training_project, text="not in the test split", split="train")
    return tiny_models["policy"], second


def _judge(item: Item, choice: str, source: str = "human") -> None:
    Judgment.objects.create(item=item, choice=choice, client_token=uuid.uuid4().hex, source=source, left="a")


@pytest.mark.ml
def test_a_campaign_of_two_versions_generates_then_puts_balanced_items_in_the_queue(
    db, two_versions, django_user_model
):
    first, second = two_versions
    campaign = campaigns.start_campaign(
        project=first.project, competitors=["tiny-policy", "tiny-policy-v2"], split="test", sampling=SAMPLING
    )
    assert run_job(campaign.job_id, "here") == "succeeded"
    campaign.refresh_from_db()
    assert campaign.items_created == 4 and campaign.job.step == campaign.job.total
    assert Generation.objects.filter(job=campaign.job, model_version=first).count() == 4
    assert Generation.objects.filter(job=campaign.job, model_version=second).count() == 4
    links = CampaignItem.objects.filter(campaign=campaign).select_related("item")
    assert Counter(link.competitor_a for link in links) == {"tiny-policy": 2, "tiny-policy-v2": 2}
    for link in links:  # response_a is the named competitor's response
        assert link.item.response_a.generation.model_version.name == link.competitor_a
        assert link.item.response_b.generation.model_version.name == link.competitor_b
        assert link.item.in_queue and link.item.prompt.split == "test"
    annotator = django_user_model.objects.create_user("ann")
    first.project.memberships.create(user=annotator, role="annotator")
    assert lease_next_item(first.project, annotator).item_id in {link.item_id for link in links}

    # a second campaign on the same prompts generates nothing new: it reuses what is there
    again = campaigns.start_campaign(
        project=first.project, competitors=["tiny-policy-v2", "tiny-policy"], split="test", sampling=SAMPLING
    )
    assert run_job(again.job_id, "here") == "succeeded"
    assert (
        Generation.objects.filter(job=again.job).count() == 0 and Campaign.objects.get(pk=again.pk).items_created == 4
    )
    # making the items again adds none
    assert campaigns.make_items(campaign) == 0


def test_a_campaign_against_a_reference_pairs_each_with_it_and_counts_wins_with_ties_half(db, make_project):
    project = make_project(n_items=0)
    writer_prompts = [Prompt.objects.create(project=project, text=f"p{i}") for i in range(4)]
    for p in writer_prompts:
        for source in ("gpt-4", "human-written", "dataset:old"):
            Response.objects.create(prompt=p, text=f"{source} on {p.text}", source=source)
    campaign = campaigns.start_campaign(
        project=project,
        competitors=["gpt-4", "human-written", "dataset:old"],
        mode="vs_reference",
        reference="human-written",
    )
    assert campaigns.make_items(campaign) == 8
    assert campaigns.campaign_pairs(campaign) == [("human-written", "gpt-4"), ("human-written", "dataset:old")]
    links = list(CampaignItem.objects.filter(campaign=campaign).select_related("item"))
    assert all("human-written" in (link.competitor_a, link.competitor_b) for link in links)
    vs_gpt = [link for link in links if "gpt-4" in (link.competitor_a, link.competitor_b)]
    assert Counter(link.competitor_a for link in vs_gpt) == {"human-written": 2, "gpt-4": 2}
    for link in vs_gpt:  # the reference wins wherever it stands; one tie
        won = "a" if link.competitor_a == "human-written" else "b"
        _judge(link.item, won)
    _judge(next(link.item for link in links if "dataset:old" in (link.competitor_a, link.competitor_b)), "both_bad")
    results = {(r.a, r.b): r for r in campaigns.campaign_results(campaign)}
    assert results[("human-written", "gpt-4")].win_rate == 1.0 and results[("human-written", "gpt-4")].judgments == 4
    low, high = results[("human-written", "gpt-4")].ci
    assert 0.45 < low < 0.55 and high == 1.0  # Wilson, n=4
    assert results[("human-written", "dataset:old")].win_rate == 0.5
    assert campaigns.campaign_results(campaign, "judges")[0].judgments == 0


def test_a_campaign_is_refused_with_the_field_named(db, make_project):
    project = make_project(n_items=1)
    with pytest.raises(ValueError, match="models: give two or more"):
        campaigns.start_campaign(project=project, competitors=["only-one"])
    with pytest.raises(ValueError, match="models: project .* has no model version or response source named 'ghost'"):
        campaigns.start_campaign(project=project, competitors=["ghost", "spirit"])
    with pytest.raises(CommandError, match="--project"):
        call_command("campaign", "--project", "nope", "--models", "a,b")


def test_a_campaign_on_a_split_without_prompts_is_refused_and_the_form_names_the_held_out_split(
    client, make_user, make_project
):
    user = make_user("rita")
    project = make_project(n_items=1, members={user: "researcher"})  # its one prompt is in train
    Response.objects.create(prompt=project.prompts.get(), text="other", source="other")
    with pytest.raises(ValueError, match="prompts: project .* has no prompts in split test"):
        campaigns.start_campaign(project=project, competitors=["human", "other"], split="test")
    assert not Campaign.objects.exists()
    client.force_login(user)
    page = client.get(reverse("training:campaigns", args=[project.slug])).content.decode()
    assert '<option value="test">Test (held out)</option>' in page


@pytest.mark.ml
def test_the_campaign_command_prints_the_campaign_and_its_items(db, two_versions):
    out = io.StringIO()
    call_command(
        "campaign",
        "--project",
        two_versions[0].project.slug,
        "--models",
        "tiny-policy,tiny-policy-v2",
        "--split",
        "test",
        "--max-new-tokens",
        "2",
        "--inline",
        stdout=out,
    )
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["items"] == 4 and last["status"] == "succeeded"
    assert Campaign.objects.get(pk=last["campaign"]).competitors == ["tiny-policy", "tiny-policy-v2"]
