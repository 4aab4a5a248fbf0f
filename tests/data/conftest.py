import gzip
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from labeling.models import ImportBatch, Item, Judgment, Membership, Project, Prompt, Response
from tests.shared_data import shared_file


def data_file(name: str) -> Path:
    """A data set from ../shared/data (skipped with where it comes from when missing; failed in CI)."""
    return shared_file(name)


def read_jsonl(name: str) -> list[dict]:
    path = data_file(name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def db_counts() -> dict:
    return {model.__name__: model.objects.count() for model in (Project, Prompt, Response, Item, Judgment, ImportBatch)}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads and snapshots go to a temporary folder, never to var/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user(username="rita")  # no password: tests log in with force_login


@pytest.fixture
def annotator(db):
    return get_user_model().objects.create_user(username="anna")


@pytest.fixture
def project(db, researcher, annotator):
    """An empty pairwise project: rita is its researcher, anna one of its annotators."""
    project = Project.objects.create(name="Helpfulness", slug="helpfulness", kind=Project.Kind.PAIRWISE, overlap=3)
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    return project


@pytest.fixture
def binary_project(db, researcher, annotator):
    project = Project.objects.create(name="Thumbs", slug="thumbs", kind=Project.Kind.BINARY)
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    return project


@pytest.fixture
def write(tmp_path):
    """Write a small file for a test: write("name.jsonl", rows | text | bytes) -> its path."""

    def write(name: str, content) -> Path:
        path = tmp_path / "files" / name
        path.parent.mkdir(exist_ok=True)
        if isinstance(content, list):
            content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in content)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    return write
