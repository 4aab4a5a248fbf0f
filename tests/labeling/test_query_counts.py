"""Queries per request on the annotation loop, pinned so that a regression fails.

bench/annotation_load.py measures what these numbers cost under load. The tests run without an
outer transaction (transaction=True), so the counts are the statements a real request sends,
BEGIN and COMMIT included: they are round trips too.
"""

import pytest
from django.test import Client
from django.urls import reverse

from labeling import selectors
from labeling.models import Judgment

pytestmark = pytest.mark.django_db(transaction=True)

# GET next when the annotator holds a lease: session, user, project with the user's role, the
# lease with its item's prompt and responses, judged today, answered among the open items,
# open items in the project (counted exactly below OPEN_ITEMS_EXACT_BELOW, cached above).
GET_NEXT = 7
# POST a judgment, answered with the next item: session, user, the assignment with its project and
# membership; BEGIN, the item's count (+1 under k, takes the row lock), the judgment, the lease
# marked done, COMMIT; the annotator's open lease (none); BEGIN, the locked candidate with its
# content, its live leases, the new lease, COMMIT; then the three progress counts as above.
POST_JUDGE = 17


@pytest.fixture
def annotator_client(make_user, make_project):
    user = make_user()
    project = make_project(overlap=2, n_items=5, members={user: "annotator"})
    client = Client()
    client.force_login(user)
    return client, user, project


def _next(client, project):
    return client.get(reverse("labeling:annotate", args=[project.slug]), HTTP_HX_REQUEST="true")


def test_getting_the_next_item_takes_a_fixed_number_of_queries(annotator_client, django_assert_max_num_queries):
    client, user, project = annotator_client
    assert _next(client, project).status_code == 200  # takes the lease
    with django_assert_max_num_queries(GET_NEXT):
        response = _next(client, project)
    assert response.status_code == 200 and b"judge-form" in response.content


def test_submitting_a_judgment_takes_a_fixed_number_of_queries(annotator_client, django_assert_max_num_queries):
    client, user, project = annotator_client
    _next(client, project)
    lease = user.assignments.get()
    url = reverse("labeling:judge", args=[project.slug, lease.pk])
    with django_assert_max_num_queries(POST_JUDGE):
        response = client.post(url, {"choice": "a", "client_token": "tok-1", "ms": "900"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'data-testid="judged-today">1<' in response.content
    assert Judgment.objects.get().client_token == "tok-1"
    assert user.assignments.filter(state="open").exclude(pk=lease.pk).count() == 1  # the next item is leased


def test_the_project_count_behind_left_is_cached_on_large_projects(
    annotator_client, django_assert_max_num_queries, monkeypatch
):
    client, user, project = annotator_client
    monkeypatch.setattr(selectors, "OPEN_ITEMS_EXACT_BELOW", 1)  # "large" from 1 item up
    _next(client, project)  # counts, and caches the count
    with django_assert_max_num_queries(GET_NEXT - 1):
        _next(client, project)


def test_left_counts_down_as_the_annotator_answers(annotator_client):
    client, user, project = annotator_client
    assert b'data-testid="left">5<' in _next(client, project).content
    for expected_left in (4, 3):
        lease = user.assignments.get(state="open")
        response = client.post(
            reverse("labeling:judge", args=[project.slug, lease.pk]),
            {"choice": "b", "client_token": f"t{lease.pk}"},
            HTTP_HX_REQUEST="true",
        )
        assert f'data-testid="left">{expected_left}<'.encode() in response.content
    lease = user.assignments.get(state="open")
    response = client.post(
        reverse("labeling:skip", args=[project.slug, lease.pk]), {"reason": "Unsure"}, HTTP_HX_REQUEST="true"
    )
    assert b'data-testid="left">2<' in response.content
