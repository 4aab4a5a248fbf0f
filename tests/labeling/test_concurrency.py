"""Many annotators at once, on whichever database the run uses (make test runs Postgres and SQLite)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from labeling import services
from labeling.models import Judgment

pytestmark = pytest.mark.django_db(transaction=True)

N_ANNOTATORS = 20
K = 3
N_ITEMS = 30


def _annotate_until_done(project, user, acknowledged, errors):
    try:
        while (lease := services.lease_next_item(project, user)) is not None:
            try:
                result = services.submit_judgment(lease, choice="a", client_token=services.new_client_token())
            except services.ItemAlreadyComplete:
                continue
            acknowledged.append((result.judgment.item_id, user.pk))
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        errors.append(repr(exc))
    finally:
        connection.close()


def test_twenty_annotators_in_parallel_fill_every_item_exactly(make_user, make_project):
    users = [make_user() for _ in range(N_ANNOTATORS)]
    project = make_project(overlap=K, n_items=N_ITEMS, members={u: "annotator" for u in users})
    acknowledged: list[tuple[int, int]] = []
    errors: list[str] = []
    threads = [threading.Thread(target=_annotate_until_done, args=(project, u, acknowledged, errors)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    stored = list(Judgment.objects.filter(item__project=project).values_list("item_id", "annotator_id"))
    per_item = Counter(item for item, _ in stored)
    assert len(per_item) == N_ITEMS and set(per_item.values()) == {K}, "every item ends with exactly k judgments"
    assert len(set(stored)) == len(stored), "no annotator judged an item twice"
    assert sorted(acknowledged) == sorted(stored), "nothing acknowledged is lost"
    assert list(project.items.values_list("judgment_count", flat=True).distinct()) == [K]
