import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from labeling import services
from labeling.models import Judgment


@pytest.mark.django_db(transaction=True)
def test_the_same_submission_sent_five_times_concurrently_stores_one_row(make_user, make_project):
    user = make_user()
    project = make_project(overlap=2, members={user: "annotator"})
    lease = services.lease_next_item(project, user)
    token = services.new_client_token()
    barrier = threading.Barrier(5)
    results, errors = [], []

    def send():
        try:
            barrier.wait()
            results.append(services.submit_judgment(lease, choice="b", client_token=token))
        except Exception as exc:  # pragma: no cover
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Judgment.objects.count() == 1
    assert sum(r.created for r in results) == 1
    assert {r.judgment.pk for r in results} == {Judgment.objects.get().pk}
    assert project.items.get(pk=lease.item_id).judgment_count == 1


@pytest.mark.django_db
def test_the_same_form_posted_five_times_in_sequence_stores_one_row(make_user, make_project):
    user = make_user()
    project = make_project(overlap=2, n_items=3, members={user: "annotator"})
    client = Client()
    client.force_login(user)
    client.get(reverse("labeling:annotate", args=[project.slug]))
    lease = user.assignments.get()
    url = reverse("labeling:judge", args=[project.slug, lease.pk])
    for _ in range(5):
        response = client.post(url, {"choice": "a", "client_token": "tok-1", "ms": "1200"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
    assert Judgment.objects.count() == 1
    judgment = Judgment.objects.get()
    assert judgment.ms_taken == 1200 and judgment.client_token == "tok-1"
    # a resubmission with a fresh token after a reload is still one row per item and annotator
    client.post(url, {"choice": "b", "client_token": "tok-2"}, HTTP_HX_REQUEST="true")
    assert Judgment.objects.count() == 1 and Judgment.objects.get().choice == "a"
