import pytest
from django.core.management import call_command

from labeling.models import Item, Membership, Project


@pytest.mark.django_db
def test_seed_demo_is_safe_to_run_twice(capsys):
    call_command("seed_demo", "--no-models")
    counts = (Project.objects.count(), Item.objects.count(), Membership.objects.count())
    call_command("seed_demo", "--no-models")
    assert (Project.objects.count(), Item.objects.count(), Membership.objects.count()) == counts
    assert set(Project.objects.values_list("kind", flat=True)) == {"pairwise", "binary"}
    out = capsys.readouterr().out
    assert "researcher / researcher" in out and "annotator1 / annotator1" in out
