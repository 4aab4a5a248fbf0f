"""The REST API: OpenAPI schema, token auth, researchers only; import, export and snapshots over HTTP."""

import hashlib
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.data.exporters import ExportSpec
from labeling.data.snapshots import create_snapshot
from labeling.models import DatasetSnapshot, Item, Project
from tests.data.conftest import data_file, db_counts
from training.models import ModelVersion
from webapp.models import ApiToken

pytestmark = pytest.mark.django_db

ROWS = [{"prompt": "2 + 2 =", "chosen": "4", "rejected": "5"}, {"prompt": "3 + 3 =", "chosen": "6", "rejected": "7"}]


def bearer(user) -> dict:
    _, secret = ApiToken.issue(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def jsonl_upload(rows=ROWS, name="prefs.jsonl"):
    return SimpleUploadedFile(name, "".join(json.dumps(r) + "\n" for r in rows).encode())


def test_the_openapi_schema_loads_and_describes_the_endpoints(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Preference workbench API"
    assert {
        "/api/projects",
        "/api/projects/{slug}/imports",
        "/api/projects/{slug}/snapshots",
        "/api/snapshots/{snapshot_id}/download",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    export_body = schema["components"]["schemas"]["ExportIn"]["properties"]
    assert export_body["policy"]["enum"] == ["majority", "unanimous", "every"]


def test_it_rejects_a_request_without_a_valid_token(client):
    assert client.get("/api/projects").status_code == 401
    assert client.get("/api/projects", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401


def _calls(project, snapshot, model):
    """Every endpoint of the schema, with a valid request for it."""
    slug = project.slug
    export = {"format": "preference", "file_type": "jsonl"}
    return [
        ("get", "/api/projects", {}),
        ("post", "/api/projects", {"data": {"slug": "new-one", "name": "New"}, "content_type": "application/json"}),
        ("get", f"/api/projects/{slug}", {}),
        ("get", f"/api/projects/{slug}/imports", {}),
        ("post", f"/api/projects/{slug}/imports", {"data": {"file": jsonl_upload(), "format": "trl"}}),
        ("post", f"/api/projects/{slug}/exports", {"data": export, "content_type": "application/json"}),
        ("get", f"/api/projects/{slug}/snapshots", {}),
        ("post", f"/api/projects/{slug}/snapshots", {"data": export, "content_type": "application/json"}),
        ("get", f"/api/snapshots/{snapshot.pk}", {}),
        ("get", f"/api/snapshots/{snapshot.pk}/download", {}),
        ("get", f"/api/projects/{slug}/members", {}),
        (
            "post",
            f"/api/projects/{slug}/members",
            {"data": {"username": "rita", "role": "admin"}, "content_type": "application/json"},
        ),
        (
            "put",
            f"/api/projects/{slug}/members/rita",
            {"data": {"role": "annotator"}, "content_type": "application/json"},
        ),
        ("delete", f"/api/projects/{slug}/members/rita", {}),
        ("get", f"/api/projects/{slug}/models", {}),
        (
            "post",
            f"/api/projects/{slug}/models",
            {"data": {"name": "m", "base": "org/model"}, "content_type": "application/json"},
        ),
        ("get", f"/api/models/{model.pk}", {}),
        ("get", f"/api/projects/{slug}/judgments", {}),
        ("get", f"/api/projects/{slug}/jobs", {}),
        (
            "post",
            f"/api/projects/{slug}/jobs",
            {
                "data": {"algorithm": "dpo", "base_model": model.pk, "snapshot": snapshot.pk},
                "content_type": "application/json",
            },
        ),
        ("get", "/api/jobs/424242", {}),
        ("post", "/api/jobs/424242/cancel", {}),
        ("post", "/api/jobs/424242/resume", {}),
        ("get", f"/api/projects/{slug}/leaderboard", {}),
        ("get", f"/api/projects/{slug}/campaigns", {}),
        (
            "post",
            f"/api/projects/{slug}/campaigns",
            {"data": {"models": ["tiny", "human"]}, "content_type": "application/json"},
        ),
        ("get", "/api/campaigns/424242", {}),
        ("post", f"/api/projects/{slug}/generations", {"data": {"model": "tiny"}, "content_type": "application/json"}),
        ("get", f"/api/projects/{slug}/judges", {}),
        (
            "post",
            f"/api/projects/{slug}/judges",
            {
                "data": {"name": "longer", "kind": "rule", "settings": {"rule": "length"}},
                "content_type": "application/json",
            },
        ),
        (
            "post",
            f"/api/projects/{slug}/judging-runs",
            {"data": {"judge": "rule:length"}, "content_type": "application/json"},
        ),
        ("get", f"/api/projects/{slug}/rounds", {}),
        ("post", f"/api/projects/{slug}/rounds", {"data": {"policy": "tiny"}, "content_type": "application/json"}),
        ("post", "/api/rounds/424242/close", {}),
    ]


# What an annotator's token may use: their own queue, and answering their assignments (tests/webapp/test_api_queue.py).
ANNOTATOR_ENDPOINTS = {
    ("get", "/api/queue"),
    ("get", "/api/projects/{slug}/queue"),
    ("post", "/api/projects/{slug}/judgments"),
}


def test_an_annotators_token_gets_403_on_every_researcher_endpoint(client, project, annotator):
    snapshot = create_snapshot(project, ExportSpec())
    model = ModelVersion.objects.create(project=project, name="tiny", base="org/tiny")
    calls = _calls(project, snapshot, model)
    schema = client.get("/api/openapi.json").json()
    documented = {(method, path) for path, ops in schema["paths"].items() for method in ops} - ANNOTATOR_ENDPOINTS
    called = {
        (
            method,
            path.replace(project.slug, "{slug}")
            .replace(f"/models/{model.pk}", "/models/{model_id}")
            .replace(f"/snapshots/{snapshot.pk}", "/snapshots/{snapshot_id}")
            .replace("/members/rita", "/members/{username}")
            .replace("/jobs/424242", "/jobs/{job_id}")
            .replace("/campaigns/424242", "/campaigns/{campaign_id}")
            .replace("/rounds/424242", "/rounds/{round_id}"),
        )
        for method, path, _ in calls
    }
    assert called == documented  # a new endpoint must be added here too
    headers = bearer(annotator)
    before = db_counts()

    for method, path, kwargs in calls:
        response = getattr(client, method)(path, **kwargs, **headers)
        assert response.status_code == 403, (method, path, response.content)

    assert db_counts() == before and DatasetSnapshot.objects.count() == 1


def test_a_researcher_of_another_project_gets_404(client, project):
    other = get_user_model().objects.create_user(username="olga")
    Project.objects.create(name="Hers", slug="hers").memberships.create(user=other, role="researcher")
    headers = bearer(other)
    assert client.get(f"/api/projects/{project.slug}", **headers).status_code == 404
    assert (
        client.post(
            f"/api/projects/{project.slug}/imports", {"file": jsonl_upload(), "format": "trl"}, **headers
        ).status_code
        == 404
    )
    snapshot = create_snapshot(project, ExportSpec())
    assert client.get(f"/api/snapshots/{snapshot.pk}/download", **headers).status_code == 404
    assert [p["slug"] for p in client.get("/api/projects", **headers).json()] == ["hers"]


def test_a_researcher_imports_a_file_and_downloads_a_snapshot_over_the_api(client, project, researcher):
    headers = bearer(researcher)

    imported = client.post(
        f"/api/projects/{project.slug}/imports",
        {
            "file": SimpleUploadedFile("pandalm.json", data_file("pandalm_testset_v1.json").read_bytes()),
            "format": "pandalm",
        },
        **headers,
    )

    assert imported.status_code == 200, imported.content
    body = imported.json()
    assert (body["items"], body["judgments"], body["skipped"], body["already_imported"]) == (999, 2997, 0, False)
    counts = client.get(f"/api/projects/{project.slug}", **headers).json()
    assert (counts["items"], counts["judgments"]) == (999, 2997)
    assert set(counts["judgments_by_source"]) == {f"import:pandalm.json#annotator{k}" for k in (1, 2, 3)}

    made = client.post(
        f"/api/projects/{project.slug}/snapshots",
        {"format": "preference", "policy": "unanimous"},
        content_type="application/json",
        **headers,
    )
    assert made.status_code == 201
    snapshot = made.json()
    listed = client.get(f"/api/projects/{project.slug}/snapshots", **headers).json()
    assert [s["id"] for s in listed] == [snapshot["id"]]

    download = client.get(snapshot["download"], **headers)
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == snapshot["sha256"] == download["X-Sha256"]
    assert len(content.decode().splitlines()) == snapshot["rows"] > 0

    again = client.post(
        f"/api/projects/{project.slug}/imports",
        {
            "file": SimpleUploadedFile("pandalm.json", data_file("pandalm_testset_v1.json").read_bytes()),
            "format": "pandalm",
        },
        **headers,
    ).json()
    assert again["already_imported"] and again["items"] == 0


def test_a_bad_import_over_the_api_gets_400_with_the_message_and_writes_nothing(client, project, researcher):
    before = db_counts()
    response = client.post(
        f"/api/projects/{project.slug}/imports",
        {"file": jsonl_upload(ROWS + [{"prompt": "x", "chosen": "y"}]), "format": "trl"},
        **bearer(researcher),
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "prefs.jsonl: line 3: field 'rejected': missing"}
    assert db_counts() == before


def test_a_researcher_creates_a_project_and_exports_it_over_the_api(client, researcher, project):
    headers = bearer(researcher)
    created = client.post(
        "/api/projects",
        {"slug": "maths", "name": "Maths", "kind": "pairwise"},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201 and created.json()["slug"] == "maths"
    assert (
        client.post("/api/projects/maths/imports", {"file": jsonl_upload(), "format": "trl"}, **headers).status_code
        == 200
    )

    export = client.post(
        "/api/projects/maths/exports",
        {"format": "preference", "file_type": "parquet"},
        content_type="application/json",
        **headers,
    )

    assert export.status_code == 200 and export["X-Rows"] == "2"
    assert b"".join(export.streaming_content).startswith(b"PAR1")
    assert Item.objects.filter(project__slug="maths").count() == 2
    bad = client.post(
        "/api/projects/maths/exports", {"split": "all", "test_size": 0.5}, content_type="application/json", **headers
    )
    assert bad.status_code == 400 and "test_size needs split train or test" in bad.json()["detail"]
