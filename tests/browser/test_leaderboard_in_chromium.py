"""The leaderboard and a campaign page in Chromium: the ratings chart has a visible size, the table
and the matrix show, a campaign's win rates show per pair (screenshots under $SCREENSHOT_DIR)."""

import os
import uuid
from pathlib import Path

import pytest

from labeling.models import Item, Judgment, Prompt, Response
from tests.browser.conftest import log_in
from training import campaigns, jobs
from training.generation import parse_sampling
from training.models import Generation, Job, ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_leaderboard_and_campaign_pages_render_in_chromium(page, live_server, make_user, make_project):
    user = make_user(username="res")
    project = make_project(n_items=0, members={user: "researcher"})
    versions = [
        ModelVersion.objects.create(project=project, name=n, base="/m") for n in ("policy-v3", "policy-v2", "policy-v1")
    ]
    job = Job.objects.create(kind=Job.Kind.CAMPAIGN, project=project, status="succeeded", total=1, step=1)
    for i in range(12):
        prompt = Prompt.objects.create(project=project, text=f"p{i}")
        answers = {}
        for v in versions:
            answers[v.name] = r = Response.objects.create(
                prompt=prompt,
                text=f"{v.name} says {i}",
                source=f"model:{v.name}",
                sampling={**parse_sampling({}), "sample": 0},
            )
            Generation.objects.create(response=r, model_version=v, job=job, prompt=prompt)
        for a, b, choice in (
            ("policy-v3", "policy-v2", "a" if i % 4 else "b"),
            ("policy-v1", "policy-v2", "b" if i % 3 else "tie"),
            ("policy-v3", "policy-v1", "a" if i % 5 else "both_bad"),
        ):
            item = Item.objects.create(project=project, prompt=prompt, response_a=answers[a], response_b=answers[b])
            Judgment.objects.create(item=item, choice=choice, client_token=uuid.uuid4().hex, left="a" if i % 2 else "b")
    campaign = campaigns.start_campaign(project=project, competitors=["policy-v3", "policy-v2"])
    jobs.claim(campaign.job_id, "w@test")
    campaigns.make_items(campaign)
    jobs.record_progress(campaign.job_id, step=1, total=1)
    jobs.finish(campaign.job_id, "succeeded")
    for n, link in enumerate(campaign.campaign_items.select_related("item")[:9]):
        won = "a" if (link.competitor_a == "policy-v3") == (n % 3 != 0) else "b"
        Judgment.objects.create(
            item=link.item, choice="tie" if n == 4 else won, client_token=uuid.uuid4().hex, left="a"
        )

    page.set_default_timeout(60_000)
    log_in(page, live_server, "res")
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))

    page.goto(f"{live_server.url}/training/projects/{project.slug}/leaderboard/")
    box = page.locator(".charts figure svg").bounding_box()
    assert box and box["width"] >= 400 and box["height"] >= 200
    first = page.locator("[data-testid=leaderboard] tbody tr").first.inner_text()
    assert "policy-v3" in first
    assert page.locator("[data-testid=win-matrix] tbody tr").count() == 3
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)

    page.goto(f"{live_server.url}/training/campaigns/{campaign.pk}/")
    pairs = page.locator("[data-testid=pairs]").inner_text()
    assert "policy-v3" in pairs and "12" in pairs and "%" in pairs
    page.screenshot(path=str(shots / "campaign.png"), full_page=True)
