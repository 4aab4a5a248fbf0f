"""The leaderboard: battles from judgments (honouring which response was A), the CLI on a battle log
and on a project, the leaderboard and campaign pages."""

import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Item, Judgment, Prompt, Response
from training import campaigns
from training.models import Generation, Job, ModelVersion


def _version(project, name):
    return ModelVersion.objects.create(project=project, name=name, base="/models/x")


def _generated(job, version, prompt, text):
    response = Response.objects.create(prompt=prompt, text=text, source=f"model:{version.name}")
    Generation.objects.create(response=response, model_version=version, job=job, prompt=prompt)
    return response


@pytest.fixture
def arena(db, make_project, make_user):
    """Three versions; big beats small in 5 of 6 judgments, whichever is response_a and whichever side it was on."""
    researcher = make_user(username="res")
    project = make_project(n_items=0, members={researcher: "researcher"})
    big, small, mid = (_version(project, n) for n in ("big", "small", "mid"))
    job = Job.objects.create(kind=Job.Kind.GENERATE, project=project)
    for i in range(6):
        prompt = Prompt.objects.create(project=project, text=f"p{i}")
        r_big, r_small, r_mid = (_generated(job, v, prompt, f"{v.name} {i}") for v in (big, small, mid))
        # alternate which model is response_a, and where A was shown
        first, second = (r_big, r_small) if i % 2 else (r_small, r_big)
        item = Item.objects.create(project=project, prompt=prompt, response_a=first, response_b=second)
        winner = "a" if (first == r_big) != (i == 0) else "b"  # small wins once, as response_a
        Judgment.objects.create(item=item, choice=winner, left="b" if i % 3 else "a", client_token=uuid.uuid4().hex)
        tie = Item.objects.create(project=project, prompt=prompt, response_a=r_mid, response_b=r_big)
        Judgment.objects.create(item=tie, choice="both_bad", client_token=uuid.uuid4().hex, source="judge:rm")
        same = Item.objects.create(
            project=project,
            prompt=prompt,
            response_a=r_mid,
            response_b=Response.objects.create(prompt=prompt, text="human", source="human"),
        )
        Judgment.objects.create(item=same, choice="a", client_token=uuid.uuid4().hex)  # not a battle: B is no version
    return project, researcher


def test_battles_name_response_a_model_a_whatever_side_it_was_shown_on(arena):
    project, _ = arena
    rows = campaigns.battles(project)
    assert len(rows) == 12
    assert sorted(set(rows)) == [
        ("big", "small", "model_a"),
        ("mid", "big", "tie (bothbad)"),
        ("small", "big", "model_a"),
        ("small", "big", "model_b"),
    ]
    assert rows.count(("small", "big", "model_a")) == 1
    assert {r[2] for r in campaigns.battles(project, "humans")} == {"model_a", "model_b"}
    assert {r[2] for r in campaigns.battles(project, "judges")} == {"tie (bothbad)"}


def test_the_leaderboard_command_rates_a_project_from_its_judgments(arena):
    project, _ = arena
    out = io.StringIO()
    call_command("leaderboard", "--project", project.slug, "--bootstrap", "200", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["battles"] == 12 and [m["name"] for m in last["models"]][0] == "big"
    small = next(m for m in last["models"] if m["name"] == "small")
    assert (
        small["win_rate"] == pytest.approx(1 / 6, abs=1e-4)
        and small["battles"] == 6
        and small["ci"][0] <= small["rating"] <= small["ci"][1]
    )
    humans = io.StringIO()
    call_command("leaderboard", "--project", project.slug, "--who", "humans", "--bootstrap", "0", stdout=humans)
    assert {m["name"] for m in json.loads(humans.getvalue().strip().splitlines()[-1])["models"]} == {"big", "small"}


@pytest.mark.parametrize("shape", ["json", "jsonl"])
def test_the_leaderboard_command_reads_a_chatbot_arena_battle_log(tmp_path, shape):
    rows = (
        [{"model_a": "gpt", "model_b": "llama", "winner": "model_a"}] * 7
        + [{"model_a": "llama", "model_b": "gpt", "winner": "model_a"}] * 3
        + [{"model_a": "gpt", "model_b": "claude", "winner": "tie"}] * 4
        + [{"model_a": "claude", "model_b": "llama", "winner": "tie (bothbad)"}] * 2
        + [{"model_a": "claude", "model_b": "llama", "winner": "model_a"}] * 4
    )
    path = tmp_path / f"battles.{shape}"
    path.write_text(json.dumps(rows) if shape == "json" else "\n".join(json.dumps(r) for r in rows) + "\n")
    out = io.StringIO()
    call_command("leaderboard", "--battles", str(path), "--bootstrap", "100", "--seed", "1", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["battles"] == 20 and last["seconds"] >= 0
    by = {m["name"]: m for m in last["models"]}
    assert by["gpt"]["rating"] > by["llama"]["rating"] and by["gpt"]["battles"] == 14
    assert by["gpt"]["win_rate"] == pytest.approx((7 + 2) / 14, abs=1e-4)
    assert all(m["ci"][0] <= m["rating"] <= m["ci"][1] for m in last["models"])
    again = io.StringIO()
    call_command("leaderboard", "--battles", str(path), "--bootstrap", "100", "--seed", "1", stdout=again)
    assert json.loads(again.getvalue().strip().splitlines()[-1])["models"] == last["models"]  # seeded


def test_a_bad_battle_log_is_refused_naming_the_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "x", "model_b": "y", "winner": "x"}\n'
    )
    with pytest.raises(CommandError, match="line 2: field 'winner'"):
        call_command("leaderboard", "--battles", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("leaderboard", "--battles", str(tmp_path / "missing.jsonl"))


def test_the_leaderboard_page_shows_ratings_intervals_the_matrix_and_a_sized_chart(arena, client):
    project, researcher = arena
    client.force_login(researcher)
    html = client.get(f"/training/projects/{project.slug}/leaderboard/").content.decode()
    assert "Leaderboard" in html and "12 battles" in html
    assert html.index(">big<") < html.index(">small<")  # best first
    assert 'data-testid="win-matrix"' in html and "83%" in html  # big beat small 5 times in 6
    assert "<svg" in html and 'width="720"' in html and 'height="340"' in html
    humans = client.get(f"/training/projects/{project.slug}/leaderboard/?who=humans").content.decode()
    assert "6 battles" in humans and ">mid<" not in humans


def test_the_leaderboard_is_for_members_only(arena, client, make_user):
    project, _ = arena
    client.force_login(make_user(username="stranger"))
    assert client.get(f"/training/projects/{project.slug}/leaderboard/").status_code == 404


def test_the_campaign_page_shows_progress_and_win_rates_per_pair(db, make_project, make_user, client):
    researcher = make_user(username="res")
    project = make_project(n_items=0, members={researcher: "researcher"})
    for i in range(2):
        prompt = Prompt.objects.create(project=project, text=f"p{i}")
        for source in ("<b>gpt</b>", "llama"):
            Response.objects.create(prompt=prompt, text=f"{source} {i}", source=source)
    campaign = campaigns.start_campaign(project=project, competitors=["<b>gpt</b>", "llama"])
    campaigns.make_items(campaign)
    client.force_login(researcher)
    html = client.get(f"/training/campaigns/{campaign.pk}/").content.decode()
    assert "&lt;b&gt;gpt&lt;/b&gt;" in html and "<b>gpt</b>" not in html  # outside text is escaped
    assert "no judgment yet" in html and 'data-testid="items">2<' in html
    listing = client.get(f"/training/projects/{project.slug}/campaigns/").content.decode()
    assert f"/training/campaigns/{campaign.pk}/" in listing
    refused = client.post(f"/training/projects/{project.slug}/campaigns/", {"models": ["llama"]})
    assert refused.status_code == 422 and "models: give two or more" in refused.content.decode()
    started = client.post(
        f"/training/projects/{project.slug}/campaigns/", {"sources": "llama, <b>gpt</b>", "max_new_tokens": "8"}
    )
    assert started.status_code == 302
    client.force_login(make_user(username="other"))
    assert client.get(f"/training/campaigns/{campaign.pk}/").status_code == 404
