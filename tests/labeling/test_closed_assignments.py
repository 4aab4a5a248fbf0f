"""An assignment that was skipped, or whose lapsed lease went to someone else, cannot be answered.

The old page says so and moves on to the next item; nothing is stored twice.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling import services
from labeling.models import Assignment, Item, Judgment

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _post_judge(client, project, assignment, token="tok", choice="a"):
    return client.post(
        reverse("labeling:judge", args=[project.slug, assignment.pk]),
        {"choice": choice, "client_token": token},
        HTTP_HX_REQUEST="true",
    )


def test_an_item_skipped_in_another_tab_cannot_be_judged_from_the_old_page(make_user, make_project):
    user = make_user()
    project = make_project(n_items=2, members={user: "annotator"})
    client = _client(user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    lease = user.assignments.get()
    client.post(reverse("labeling:skip", args=[project.slug, lease.pk]), {"reason": "Unsure"}, HTTP_HX_REQUEST="true")

    response = _post_judge(client, project, lease)  # the first tab still shows the skipped item
    body = response.content.decode()
    assert response.status_code == 200
    assert "You skipped this item" in body and "not stored" in body
    next_lease = user.assignments.get(state="open")
    assert next_lease.item_id != lease.item_id and f"/{next_lease.pk}/judge/" in body  # moved on
    assert Judgment.objects.count() == 0
    assert Item.objects.get(pk=lease.item_id).judgment_count == 0


def test_a_skip_that_lands_while_the_answer_is_sent_wins_and_nothing_is_counted(make_user, make_project):
    user = make_user()
    project = make_project(n_items=1, members={user: "annotator"})
    lease = services.lease_next_item(project, user)  # read as open, as the judge view reads it
    services.skip_item(lease, "Unsure")  # then skipped before the submit's transaction
    with pytest.raises(services.AssignmentClosed):
        services.submit_judgment(lease, choice="a", client_token="t1")
    assert Judgment.objects.count() == 0 and Item.objects.get().judgment_count == 0


def test_a_lapsed_lease_that_went_to_someone_else_cannot_be_judged(make_user, make_project):
    first, second = make_user(), make_user()
    project = make_project(n_items=1, overlap=1, members={first: "annotator", second: "annotator"})
    client = _client(first)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    old = first.assignments.get()
    Assignment.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = services.lease_next_item(project, second)
    assert taken.item_id == old.item_id

    response = _post_judge(client, project, old)
    body = response.content.decode()
    assert response.status_code == 200
    assert "went to another annotator" in body and 'data-testid="done"' in body
    assert Judgment.objects.count() == 0

    services.submit_judgment(taken, choice="b", client_token="t-second")
    assert list(Judgment.objects.values_list("annotator_id", "choice")) == [(second.pk, "b")]
    assert Item.objects.get().judgment_count == 1


def test_a_resent_answer_on_a_lapsed_lease_returns_the_stored_one(make_user, make_project):
    first, second = make_user(), make_user()
    project = make_project(n_items=1, overlap=1, members={first: "annotator", second: "annotator"})
    lease = services.lease_next_item(project, first)
    services.submit_judgment(lease, choice="a", client_token="t1")
    stale = Assignment.objects.get(pk=lease.pk)
    stale.project = project
    stale.state = Assignment.State.OPEN  # the copy the resent request read before the first commit
    stale.expires_at = timezone.now() - timedelta(seconds=1)
    result = services.submit_judgment(stale, choice="a", client_token="t1")
    assert not result.created and Judgment.objects.count() == 1


def test_without_htmx_the_page_says_so_after_the_redirect(make_user, make_project):
    user = make_user()
    project = make_project(n_items=2, members={user: "annotator"})
    client = _client(user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    lease = user.assignments.get()
    services.skip_item(lease, "Unsure")
    response = client.post(
        reverse("labeling:judge", args=[project.slug, lease.pk]), {"choice": "a", "client_token": "t"}, follow=True
    )
    assert response.status_code == 200 and "You skipped this item" in response.content.decode()
    assert Judgment.objects.count() == 0
