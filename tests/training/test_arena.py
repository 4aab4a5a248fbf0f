"""The arena without a worker: starting a battle, recording its answers as the worker does, the
SSE view, the vote as a judgment with its left/right position, and who may see what."""

import json
import random

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Assignment, Judgment, Membership
from labeling.services import lease_next_item
from training import arena, streams
from training.models import Generation, Job, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """The arena tasks sent to the broker (captured instead of sent)."""
    calls = []
    monkeypatch.setattr(arena.current_app, "send_task", lambda name, **kw: calls.append((name, kw)))
    return calls


@pytest.fixture
def member(make_user):
    return make_user()


@pytest.fixture
def project(make_project, member):
    project = make_project(n_items=1, members={member: Membership.Role.ANNOTATOR})
    for name in ("policy-v1", "policy-v2"):
        ModelVersion.objects.create(project=project, name=name, base=f"/models/{name}")
    ModelVersion.objects.create(project=project, name="reward", base="/models/reward", kind="reward")
    return project


def _record(battle, *, a_on_left, texts=("left answer", "right answer")):
    """What the worker does once both sides have streamed."""
    ((_, kwargs),) = [c for c in battle._sent if c[1]["kwargs"]["battle_id"] == battle.pk]
    k = kwargs["kwargs"]
    return arena.record_battle(
        battle.pk,
        k["prompt_id"],
        a_on_left=a_on_left,
        answers={
            "left": (k["left_id"], texts[0], {"seed": 1}),
            "right": (k["right_id"], texts[1], {"seed": 2}),
        },
    ), k


def _start(project, member, sent, django_capture_on_commit_callbacks, **kw):
    with django_capture_on_commit_callbacks(execute=True):
        battle = arena.start_battle(project, member, rng=random.Random(kw.pop("seed", 0)), **kw)
    battle._sent = sent  # type: ignore[attr-defined]
    return battle


def test_a_battle_draws_two_distinct_policy_versions_and_goes_to_the_training_queue(
    project, member, sent, settings, django_capture_on_commit_callbacks
):
    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_text="  Why is the sky blue?  ")
    assert battle.kind == Job.Kind.ARENA and battle.status == Job.Status.QUEUED and battle.created_by == member
    ((name, call),) = sent
    assert name == arena.TASK and call["queue"] == settings.TRAINING_QUEUE
    k = call["kwargs"]
    names = set(ModelVersion.objects.filter(pk__in=[k["left_id"], k["right_id"]]).values_list("name", flat=True))
    assert names == {"policy-v1", "policy-v2"}
    assert project.prompts.get(pk=k["prompt_id"]).text == "Why is the sky blue?"


def test_a_failed_battle_is_an_arena_job_that_is_not_resumed_but_says_to_start_a_new_one(
    project, member, sent, django_capture_on_commit_callbacks
):
    from training import jobs

    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_text="Hi")
    jobs.fail(battle.pk, "the worker went away")
    battle.refresh_from_db()
    assert battle.get_kind_display() == "Arena battle"
    with pytest.raises(ValueError, match="an arena battle is not resumed.*start a new battle"):
        jobs.resume(battle)
    battle.refresh_from_db()
    assert battle.status == Job.Status.FAILED


def test_recording_makes_an_item_outside_the_queue_linked_to_both_versions(
    project, member, make_user, sent, django_capture_on_commit_callbacks
):
    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_id=project.prompts.first().pk)
    item, k = _record(battle, a_on_left=False, texts=("left\x00 answer", "right answer"))
    assert item.in_queue is False
    assert {g.model_version_id for g in Generation.objects.filter(job=battle)} == {k["left_id"], k["right_id"]}
    assert item.response_a.text == "right answer" and item.response_b.text == "left answer"  # a was on the right
    battle.refresh_from_db()
    assert battle.status == Job.Status.SUCCEEDED
    assert arena.record_battle(battle.pk, k["prompt_id"], a_on_left=False, answers={}) == item  # idempotent
    other = make_user()
    Membership.objects.create(project=project, user=other)
    project.items.exclude(pk=item.pk).delete()
    assert lease_next_item(project, other) is None  # the battle is never offered through the queue


@pytest.mark.parametrize("a_on_left", [True, False])
def test_a_vote_is_a_judgment_with_its_left_right_position_and_reveals_the_names(
    client, project, member, sent, django_capture_on_commit_callbacks, a_on_left
):
    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_text="hi")
    item, k = _record(battle, a_on_left=a_on_left)
    client.force_login(member)
    url = reverse("training:arena_vote", args=[project.slug, battle.pk])
    page = client.get(reverse("training:arena_battle", args=[project.slug, battle.pk])).content.decode()
    left_name = ModelVersion.objects.get(pk=k["left_id"]).name
    assert "left answer" in page and left_name not in page  # anonymous before the vote
    response = client.post(url, {"choice": "left", "client_token": "tok-1", "ms": "1500"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    judgment = Judgment.objects.get(item=item, annotator=member)
    assert judgment.choice == ("a" if a_on_left else "b") and judgment.left == ("a" if a_on_left else "b")
    assert judgment.ms_taken == 1500
    html = response.content.decode()
    assert f'data-testid="name-left">{left_name}<' in html and "Left is better" in html
    assert Assignment.objects.get(item=item).state == Assignment.State.DONE
    client.post(url, {"choice": "left", "client_token": "tok-1"})  # a resubmission stores nothing new
    assert Judgment.objects.filter(item=item).count() == 1


def test_a_vote_before_the_answers_are_recorded_is_refused_in_words(
    client, project, member, sent, django_capture_on_commit_callbacks
):
    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_text="hi")
    client.force_login(member)
    response = client.post(
        reverse("training:arena_vote", args=[project.slug, battle.pk]), {"choice": "left", "client_token": "t"}
    )
    assert response.status_code == 422 and "not finished yet" in response.content.decode()
    assert not Judgment.objects.filter(annotator=member).exists()


@pytest.mark.parametrize(
    "data, field",
    [
        ({}, "Type a prompt"),
        ({"prompt": "x" * 5000}, "at most 4,000"),
        ({"prompt_id": "abc"}, "whole number"),
        ({"prompt_id": "999999"}, "is not a prompt of"),
    ],
)
def test_bad_prompts_are_refused_naming_the_problem(client, project, member, sent, data, field):
    client.force_login(member)
    response = client.post(reverse("training:arena_start", args=[project.slug]), data)
    assert response.status_code == 422 and field in response.content.decode()
    assert not sent and not Job.objects.exists()


def test_a_project_with_one_policy_version_says_why_there_is_no_arena(client, make_project, member):
    project = make_project(n_items=0, members={member: Membership.Role.ANNOTATOR})
    ModelVersion.objects.create(project=project, name="only", base="/m")
    client.force_login(member)
    page = client.get(reverse("training:arena", args=[project.slug])).content.decode()
    assert "needs two policy model versions" in page and 'name="prompt"' not in page


def test_battles_are_private_to_their_member_and_projects_to_their_members(
    client, project, member, make_user, sent, django_capture_on_commit_callbacks
):
    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_text="hi")
    colleague, stranger = make_user(), make_user()
    Membership.objects.create(project=project, user=colleague)
    client.force_login(colleague)
    assert client.get(reverse("training:arena_battle", args=[project.slug, battle.pk])).status_code == 404
    assert client.get(reverse("training:arena_stream", args=[project.slug, battle.pk, "left"])).status_code == 404
    client.force_login(stranger)
    assert client.get(reverse("training:arena", args=[project.slug])).status_code == 404


def test_the_event_stream_escapes_model_output_and_ends_with_done(
    client, project, member, sent, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.REDIS_URL, settings.VAR_DIR = "", tmp_path  # the embedded default's file streams
    battle = _start(project, member, sent, django_capture_on_commit_callbacks, prompt_text="hi")
    sid = arena.stream_id(battle, "left")
    streams.publish(sid, '<script>alert("x")</script>\nline two')
    streams.done(sid, {"tokens": 7})
    client.force_login(member)
    response = client.get(reverse("training:arena_stream", args=[project.slug, battle.pk, "left"]))
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.streaming_content).decode()
    assert "<script>" not in body and "\\u003cscript\\u003e" in body
    events = [block for block in body.split("\n\n") if "event:" in block]
    assert [e.split("event: ")[1].split("\n")[0] for e in events] == ["piece", "done"]
    data = json.loads(events[0].split("data: ")[1])
    assert data == '<script>alert("x")</script>\nline two'  # the page gets the text back, inserted as text
    resumed = client.get(
        reverse("training:arena_stream", args=[project.slug, battle.pk, "left"]), HTTP_LAST_EVENT_ID="1"
    )
    assert "event: piece" not in b"".join(resumed.streaming_content).decode()


def test_a_stream_nobody_writes_to_tells_the_page_no_worker_answers(settings, tmp_path):
    settings.REDIS_URL, settings.VAR_DIR = "", tmp_path
    body = "".join(arena.sse_events(Job(pk=123456, created_at=timezone.now()), "right", timeout=0.2))
    assert "event: failed" in body and "worker" in body
