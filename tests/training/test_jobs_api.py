"""The jobs part of the REST API: list and launch in a project, read one with its metrics, cancel, resume."""

import math

import pytest

from labeling.models import DatasetSnapshot, Membership
from training import jobs, services
from training.models import Job, TrainingJob
from webapp.models import ApiToken

pytestmark = pytest.mark.django_db


def bearer(user) -> dict:
    _, secret = ApiToken.issue(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def setup(make_project, make_user, tmp_path, settings):
    (tmp_path / "m").mkdir()
    settings.MODEL_ROOTS = [str(tmp_path)]
    project = make_project(n_items=0)
    researcher, annotator = make_user(), make_user()
    Membership.objects.create(project=project, user=researcher, role="researcher")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    base = services.register_model(project=project, name="base-model", base=str(tmp_path / "m"))
    snapshot = DatasetSnapshot.objects.create(
        project=project, format="preference", file_type="jsonl", spec={}, sha256="0" * 64, rows=10, size_bytes=100
    )
    return {"project": project, "researcher": researcher, "annotator": annotator, "base": base, "snapshot": snapshot}


def test_a_researcher_launches_a_job_and_reads_its_progress_and_metrics(client, setup):
    auth = bearer(setup["researcher"])
    slug = setup["project"].slug
    response = client.post(
        f"/api/projects/{slug}/jobs",
        {
            "algorithm": "dpo",
            "base_model": setup["base"].pk,
            "snapshot": setup["snapshot"].pk,
            "settings": {"beta": 0.3, "max_steps": 10},
        },
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["kind"] == "train" and body["total"] == 10
    assert body["training"]["algorithm"] == "dpo" and body["training"]["config"]["beta"] == 0.3
    job_id = body["id"]
    jobs.claim(job_id, "w")
    jobs.record_progress(job_id, step=2, total=10, metrics=[{"step": 1, "loss": 1.0}, {"step": 2, "loss": math.nan}])
    detail = client.get(f"/api/jobs/{job_id}", **auth).json()
    assert detail["status"] == "running" and detail["step"] == 2 and detail["progress"] == 0.2
    assert detail["metrics"] == {"loss": [{"step": 1, "value": 1.0}, {"step": 2, "value": None}]}  # NaN is null
    listed = client.get(f"/api/projects/{slug}/jobs", **auth).json()
    assert [j["id"] for j in listed] == [job_id]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"algorithm": "dpoo"}, "algorithm"),
        ({"base_model": 999999}, "base_model"),
        ({"snapshot": 999999}, "snapshot"),
        ({"settings": {"beta": -1}}, "beta"),
        ({"settings": {"max_steps": 10**12}}, "max_steps"),
    ],
)
def test_a_bad_launch_is_422_naming_the_field_and_queues_nothing(client, setup, change, field):
    body = {"algorithm": "dpo", "base_model": setup["base"].pk, "snapshot": setup["snapshot"].pk, **change}
    response = client.post(
        f"/api/projects/{setup['project'].slug}/jobs",
        body,
        content_type="application/json",
        **bearer(setup["researcher"]),
    )
    assert response.status_code == 422 and response.json()["field"] == field, response.json()
    assert Job.objects.count() == 0


def test_cancel_then_resume_says_where_the_job_continues(client, setup):
    auth = bearer(setup["researcher"])
    job = services.launch_job(algorithm="sft", base_model=setup["base"], snapshot=setup["snapshot"], overrides={})
    jobs.claim(job.pk, "w")
    cancelled = client.post(f"/api/jobs/{job.pk}/cancel", **auth).json()
    assert cancelled["status"] == "running" and cancelled["cancel_requested"] is True
    jobs.finish(job.pk, "cancelled", step=12)
    (job.output_dir / "checkpoint-10").mkdir(parents=True)
    (job.output_dir / "checkpoint-10" / "trainer_state.json").write_text("{}")
    assert (
        client.get(f"/api/jobs/{job.pk}", **auth)
        .json()["resume_note"]
        .startswith("Resuming will continue from step 10")
    )
    resumed = client.post(f"/api/jobs/{job.pk}/resume", **auth)
    assert resumed.status_code == 200 and resumed.json()["status"] == "queued"
    assert "continue from step 10" in resumed.json()["note"]
    again = client.post(f"/api/jobs/{job.pk}/resume", **auth)
    assert again.status_code == 409 and "only a failed or cancelled job" in again.json()["detail"]


def test_jobs_are_for_the_projects_researchers(client, setup, make_user):
    job = services.launch_job(algorithm="sft", base_model=setup["base"], snapshot=setup["snapshot"], overrides={})
    annotator = bearer(setup["annotator"])
    assert client.get(f"/api/jobs/{job.pk}", **annotator).status_code == 403
    assert client.post(f"/api/jobs/{job.pk}/cancel", **annotator).status_code == 403
    outsider = make_user()
    Membership.objects.create(
        project=type(setup["project"]).objects.create(name="Other", slug="other"), user=outsider, role="researcher"
    )
    other = bearer(outsider)
    assert client.get(f"/api/jobs/{job.pk}", **other).status_code == 404
    assert client.post(f"/api/jobs/{job.pk}/resume", **other).status_code == 404
    assert client.get(f"/api/projects/{setup['project'].slug}/jobs", **other).status_code == 404
    assert client.get("/api/jobs/999999", **bearer(setup["researcher"])).status_code == 404
    assert TrainingJob.objects.get(pk=job.pk).status == "queued"


def test_every_jobs_operation_documents_its_response_codes(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path, method in [
        ("/api/projects/{slug}/jobs", "get"),
        ("/api/projects/{slug}/jobs", "post"),
        ("/api/jobs/{job_id}", "get"),
        ("/api/jobs/{job_id}/cancel", "post"),
        ("/api/jobs/{job_id}/resume", "post"),
    ]:
        codes = set(paths[path][method]["responses"])
        assert {"401", "403", "404", "422"} <= codes, (path, method, codes)
    assert "409" in paths["/api/jobs/{job_id}/resume"]["post"]["responses"]
    assert "201" in paths["/api/projects/{slug}/jobs"]["post"]["responses"]
