"""Staged uploads: a random token, good only for the user and the project that uploaded the file."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.models import Membership, Project
from tests.data.conftest import db_counts

pytestmark = pytest.mark.django_db

ROWS = [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}]


def _stage(client, project) -> dict:
    content = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    page = client.post(
        reverse("labeling:import", args=[project.slug]),
        {"file": SimpleUploadedFile("prefs.jsonl", content), "format": "trl"},
    ).content.decode()
    return {
        "token": re.search(r'name="token" value="([^"]+)"', page).group(1),
        "file_name": "prefs.jsonl",
        "format": "trl",
        "mapping": "",
    }


def test_the_same_file_uploaded_twice_gets_two_different_random_tokens(client, project, researcher):
    client.force_login(researcher)
    first, second = _stage(client, project)["token"], _stage(client, project)["token"]
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{64}\.jsonl", first)


def test_another_researcher_confirming_or_previewing_my_upload_gets_404_and_nothing_is_written(
    client, project, researcher
):
    client.force_login(researcher)
    fields = _stage(client, project)
    colleague = get_user_model().objects.create_user(username="carl")
    Membership.objects.create(project=project, user=colleague, role=Membership.Role.RESEARCHER)
    before = db_counts()

    client.force_login(colleague)
    assert client.post(reverse("labeling:import_confirm", args=[project.slug]), fields).status_code == 404
    assert client.post(reverse("labeling:import", args=[project.slug]), fields).status_code == 404
    assert db_counts() == before

    client.force_login(researcher)  # the uploader still can
    assert client.post(reverse("labeling:import_confirm", args=[project.slug]), fields).status_code == 200
    assert db_counts()["Item"] == before["Item"] + 1


def test_a_token_staged_for_one_project_gets_404_in_another(client, project, researcher):
    client.force_login(researcher)
    fields = _stage(client, project)
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=researcher, role=Membership.Role.RESEARCHER)
    before = db_counts()

    assert client.post(reverse("labeling:import_confirm", args=[other.slug]), fields).status_code == 404
    assert db_counts() == before
