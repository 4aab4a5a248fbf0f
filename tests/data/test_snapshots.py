"""Dataset snapshots: frozen, content-addressed, immutable."""

import hashlib
import uuid

import pytest

from labeling.data.exporters import ExportSpec
from labeling.data.snapshots import create_snapshot
from labeling.models import DatasetSnapshot, Item, Judgment, Prompt, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(project, annotator):
    prompt = Prompt.objects.create(project=project, text="2 + 2 =")
    item = Item.objects.create(
        project=project,
        prompt=prompt,
        response_a=Response.objects.create(prompt=prompt, text="4"),
        response_b=Response.objects.create(prompt=prompt, text="5"),
    )
    Judgment.objects.create(item=item, annotator=annotator, choice="a", client_token=uuid.uuid4().hex)
    return project


def test_a_snapshot_stores_the_export_under_its_sha256_with_its_spec_and_row_count(judged, researcher, media_root):
    snapshot = create_snapshot(judged, ExportSpec(format="preference", policy="unanimous"), user=researcher)

    assert snapshot.path == media_root / "snapshots" / f"{snapshot.sha256}.jsonl"
    assert hashlib.sha256(snapshot.path.read_bytes()).hexdigest() == snapshot.sha256
    assert snapshot.path.read_text() == '{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}\n'
    assert (snapshot.rows, snapshot.size_bytes, snapshot.created_by) == (1, snapshot.path.stat().st_size, researcher)
    assert snapshot.spec == ExportSpec(format="preference", policy="unanimous", form="standard").as_dict()


def test_the_same_spec_over_the_same_judgments_gives_the_same_file(judged, annotator):
    first = create_snapshot(judged, ExportSpec(file_type="parquet"))
    second = create_snapshot(judged, ExportSpec(file_type="parquet"))
    assert first.pk != second.pk and first.sha256 == second.sha256 and first.path == second.path

    other = Item.objects.create(
        project=judged,
        prompt=Prompt.objects.get(),
        response_a=Response.objects.get(text="5"),
        response_b=Response.objects.get(text="4"),
    )
    Judgment.objects.create(item=other, annotator=annotator, choice="a", client_token=uuid.uuid4().hex)
    third = create_snapshot(judged, ExportSpec(file_type="parquet"))
    assert third.sha256 != first.sha256 and third.rows == 2
    assert first.path.is_file()  # the old file is still there, unchanged


def test_a_snapshot_cannot_be_changed_once_made(judged):
    snapshot = create_snapshot(judged, ExportSpec())
    snapshot.rows = 99
    with pytest.raises(ValueError, match="immutable"):
        snapshot.save()
    assert DatasetSnapshot.objects.get(pk=snapshot.pk).rows == 1
    assert not snapshot.path.stat().st_mode & 0o222  # and its file is read-only
