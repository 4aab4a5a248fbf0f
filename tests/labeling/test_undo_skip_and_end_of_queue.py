"""Undo of the last answer, skipped items coming back last, skip counts, the end of the queue, and
a committed answer never reported as a failure."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from labeling import selectors, services
from labeling.models import Assignment, Item, Judgment

pytestmark = pytest.mark.django_db


@pytest.fixture
def annotator(make_user, make_project):
    user = make_user()
    project = make_project(n_items=3, overlap=1, members={user: "annotator"})
    client = Client()
    client.force_login(user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    return client, user, project


def _judge(client, project, lease, token, choice="a"):
    return client.post(
        reverse("labeling:judge", args=[project.slug, lease.pk]),
        {"choice": choice, "client_token": token},
        HTTP_HX_REQUEST="true",
    )


def _skip(client, project, lease, reason="Unsure"):
    return client.post(
        reverse("labeling:skip", args=[project.slug, lease.pk]), {"reason": reason}, HTTP_HX_REQUEST="true"
    )


def _undo(client, project, judgment_id):
    return client.post(reverse("labeling:undo", args=[project.slug]), {"judgment": judgment_id}, HTTP_HX_REQUEST="true")


def test_an_answer_can_be_undone_right_after_and_the_same_item_comes_back(annotator):
    client, user, project = annotator
    first = user.assignments.get()
    body = _judge(client, project, first, "t1").content.decode()
    judgment = Judgment.objects.get()
    assert 'id="undo-form"' in body and f'name="judgment" value="{judgment.pk}"' in body and 'data-key="u"' in body

    body = _undo(client, project, judgment.pk).content.decode()
    assert "Answer taken back" in body
    assert f"/{first.pk}/judge/" in body  # the undone item is shown again, before the next one
    assert Judgment.objects.count() == 0 and Item.objects.get(pk=first.item_id).judgment_count == 0
    assert Assignment.objects.get(pk=first.pk).state == "open"
    assert 'data-testid="judged-today">0<' in body

    _judge(client, project, first, "t2", choice="b")  # and it can be answered again
    assert list(Judgment.objects.values_list("choice", flat=True)) == ["b"]
    assert Item.objects.get(pk=first.item_id).judgment_count == 1


def test_an_answer_older_than_the_undo_window_is_kept(annotator):
    client, user, project = annotator
    _judge(client, project, user.assignments.get(), "t1")
    judgment = Judgment.objects.get()
    Judgment.objects.filter(pk=judgment.pk).update(
        created_at=judgment.created_at - timedelta(seconds=services.UNDO_SECONDS + 1)
    )
    body = _undo(client, project, judgment.pk).content.decode()
    assert "Too late to undo" in body
    assert Judgment.objects.count() == 1 and Item.objects.get(pk=judgment.item_id).judgment_count == 1


def test_nobody_can_undo_someone_elses_answer_and_a_double_undo_changes_nothing(annotator, make_user):
    client, user, project = annotator
    _judge(client, project, user.assignments.get(), "t1")
    judgment = Judgment.objects.get()
    other = make_user()
    project.memberships.create(user=other, role="annotator")
    intruder = Client()
    intruder.force_login(other)
    assert "no answer of yours to undo" in _undo(intruder, project, judgment.pk).content.decode()
    assert Judgment.objects.count() == 1
    _undo(client, project, judgment.pk)
    again = _undo(client, project, judgment.pk)
    assert again.status_code == 200 and "no answer of yours to undo" in again.content.decode()
    assert Item.objects.get(pk=judgment.item_id).judgment_count == 0  # decremented once, not twice
    assert _undo(client, project, "x").status_code == 400


def test_skipped_items_come_back_after_all_the_others(annotator):
    client, user, project = annotator
    skipped = user.assignments.get()
    _skip(client, project, skipped, "Needs expertise I lack")
    for n in range(2):
        body = _judge(client, project, user.assignments.get(state="open"), f"t{n}").content.decode()
    assert 'data-testid="done"' in body
    assert "You skipped 1 item that still needs answers" in body and 'data-key="r"' in body

    body = client.post(
        reverse("labeling:revisit_skipped", args=[project.slug]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f"/{skipped.pk}/judge/" in body
    _judge(client, project, Assignment.objects.get(pk=skipped.pk), "t-last")
    assert Judgment.objects.filter(item_id=skipped.item_id).count() == 1
    body = client.get(reverse("labeling:annotate", args=[project.slug]), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="done"' in body and 'data-testid="skipped"' not in body


def test_a_skipped_item_others_completed_is_not_offered_again(annotator, make_user):
    client, user, project = annotator
    skipped = user.assignments.get()
    _skip(client, project, skipped)
    other = make_user()
    services.submit_judgment(services.lease_next_item(project, other), choice="a", client_token="other")
    assert selectors.skipped_to_revisit(project, user) == 0
    assert services.reopen_skipped_item(project, user) is None


def test_the_project_counts_skips_by_reason(make_user, make_project):
    users = [make_user() for _ in range(3)]
    project = make_project(n_items=2, overlap=3, members={u: "annotator" for u in users})
    for user, reason in zip(users, ["Unsure", "Unsure", "Broken or empty item"], strict=True):
        services.skip_item(services.lease_next_item(project, user), reason)
    assert selectors.project_skip_counts(project) == {
        "total": 3,
        "by_reason": [("Unsure", 2), ("Broken or empty item", 1)],
    }


def test_the_end_of_the_queue_drops_the_keys_and_the_start_button(annotator):
    client, user, project = annotator
    for n in range(3):
        body = _judge(client, project, user.assignments.get(state="open"), f"t{n}").content.decode()
    assert 'data-testid="done"' in body and "Keys:" not in body and 'data-key="1"' not in body
    page = client.get(reverse("labeling:annotate", args=[project.slug])).content.decode()
    assert "Keys:" not in page and "All done here" in page
    queue = client.get(reverse("labeling:queue")).content.decode()
    assert "All done" in queue and ">Start<" not in queue


def test_every_skip_reason_has_its_own_key_and_strength_has_keys(make_user, make_project):
    user = make_user()
    project = make_project(members={user: "annotator"}, ask_strength=True)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("labeling:annotate", args=[project.slug])).content.decode()
    for key, reason in [
        ("s", "Unsure"),
        ("o", "Offensive or unsafe content"),
        ("x", "Needs expertise I lack"),
        ("b", "Broken or empty item"),
    ]:
        assert f'value="{reason}" data-key="{key}"' in page
    for key, value in [("q", 1), ("w", 2), ("e", 3)]:
        assert f'name="strength" value="{value}" data-key="{key}"' in page


def test_a_committed_answer_is_answered_as_saved_even_when_the_next_item_fails(annotator, monkeypatch):
    client, user, project = annotator
    lease = user.assignments.get()

    def broken(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "lease_next_item", broken)
    response = _judge(client, project, lease, "t1")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Your answer was saved" in body and "Reload for the next item" in body
    assert Judgment.objects.get().client_token == "t1"
