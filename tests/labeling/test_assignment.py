from datetime import timedelta

import pytest
from django.utils import timezone

from labeling import services
from labeling.models import Assignment, Item, Judgment

pytestmark = pytest.mark.django_db


def _judge(assignment, choice="a"):
    return services.submit_judgment(assignment, choice=choice, client_token=services.new_client_token())


def test_a_reload_returns_the_open_lease(make_user, make_project):
    user = make_user()
    project = make_project(members={user: "annotator"})
    first = services.lease_next_item(project, user)
    again = services.lease_next_item(project, user)
    assert first.pk == again.pk
    assert Assignment.objects.count() == 1


def test_it_never_offers_an_item_the_annotator_judged_or_skipped(make_user, make_project):
    user = make_user()
    project = make_project(overlap=3, n_items=3, members={user: "annotator"})
    seen = set()
    first = services.lease_next_item(project, user)
    _judge(first)
    seen.add(first.item_id)
    second = services.lease_next_item(project, user)
    services.skip_item(second, "unsure")
    seen.add(second.item_id)
    third = services.lease_next_item(project, user)
    assert third.item_id not in seen
    _judge(third)
    assert services.lease_next_item(project, user) is None


def test_items_with_the_fewest_judgments_come_first(make_user, make_project):
    a, b = make_user(), make_user()
    project = make_project(overlap=2, n_items=3, members={a: "annotator", b: "annotator"})
    judged_by_a = []
    for _ in range(3):
        lease = services.lease_next_item(project, a)
        judged_by_a.append(lease.item_id)
        _judge(lease)
    # every item now has one judgment; b starts on the lowest id among them
    assert sorted(judged_by_a) == list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    Item.objects.filter(pk=judged_by_a[0]).update(judgment_count=0)  # pretend it lost one: it must come first
    assert services.lease_next_item(project, b).item_id == judged_by_a[0]


def test_an_expired_lease_returns_to_the_pool(make_user, make_project, settings):
    a, b = make_user(), make_user()
    project = make_project(overlap=1, n_items=1, members={a: "annotator", b: "annotator"})
    lease = services.lease_next_item(project, a)
    assert services.lease_next_item(project, b) is None  # the only slot is leased to a
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = services.lease_next_item(project, b)
    assert taken is not None and taken.item_id == lease.item_id


def test_a_late_submit_is_kept_while_the_item_still_needs_judgments(make_user, make_project):
    a = make_user()
    project = make_project(overlap=2, n_items=1, members={a: "annotator"})
    lease = services.lease_next_item(project, a)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(minutes=5))
    result = _judge(lease)
    assert result.created and Judgment.objects.count() == 1


def test_a_late_submit_on_a_full_item_is_refused_plainly(make_user, make_project):
    a, b = make_user(), make_user()
    project = make_project(overlap=1, n_items=1, members={a: "annotator", b: "annotator"})
    lease_a = services.lease_next_item(project, a)
    Assignment.objects.filter(pk=lease_a.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _judge(services.lease_next_item(project, b))
    with pytest.raises(services.ItemAlreadyComplete, match="not stored"):
        _judge(lease_a)
    assert Judgment.objects.count() == 1


def test_it_refuses_a_choice_the_project_does_not_offer(make_user, make_project):
    a = make_user()
    project = make_project(allow_tie=False, members={a: "annotator"})
    lease = services.lease_next_item(project, a)
    with pytest.raises(services.SubmitError, match="choice must be one of"):
        _judge(lease, choice="tie")
    with pytest.raises(services.SubmitError):
        _judge(lease, choice="up")
    assert Judgment.objects.count() == 0


def test_the_left_side_is_recorded(make_user, make_project):
    a = make_user()
    project = make_project(n_items=20, members={a: "annotator"})
    lefts = set()
    while (lease := services.lease_next_item(project, a)) is not None:
        judgment = _judge(lease).judgment
        assert judgment.left == ("a" if lease.a_on_left else "b")
        lefts.add(judgment.left)
    assert lefts == {"a", "b"}  # randomised per assignment (20 coin flips)
