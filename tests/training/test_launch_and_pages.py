"""Launching jobs from the form and the command line, and the training pages (no model runs here)."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from labeling.models import DatasetSnapshot, Membership
from training import algorithms as configs
from training import jobs, services
from training.models import ModelVersion, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(tmp_path, make_project, settings):
    (tmp_path / "m").mkdir()
    settings.MODEL_ROOTS = [str(tmp_path)]
    return services.register_model(project=make_project(n_items=0), name="base-model", base=str(tmp_path / "m"))


@pytest.fixture
def snapshot(base):
    def make(fmt="preference", project=None):
        return DatasetSnapshot.objects.create(
            project=project or base.project,
            format=fmt,
            file_type="jsonl",
            spec={},
            sha256="0" * 64,
            rows=10,
            size_bytes=100,
        )

    return make


def with_members(project, members: dict):
    for user, role in members.items():
        Membership.objects.create(project=project, user=user, role=role)
    return project


@pytest.mark.parametrize(
    "algorithm, overrides, field, message",
    [
        ("dpo", {"betta": 0.1}, "betta", "is not a setting of dpo"),
        ("dpo", {"beta": -0.5}, "beta", "must be at least 0"),
        ("dpo", {"loss_type": "squared"}, "loss_type", "must be one of sigmoid, ipo, hinge, robust"),
        ("kto", {"per_device_train_batch_size": 1}, "per_device_train_batch_size", "must be at least 2"),
        ("sft", {"max_steps": "ten"}, "max_steps", "must be a integer"),
        ("reward", {"use_lora": "perhaps"}, "use_lora", "must be true or false"),
    ],
)
def test_a_bad_config_is_refused_before_anything_is_queued(
    base, snapshot, algorithm, overrides, field, message, django_capture_on_commit_callbacks
):
    fmt = "unpaired" if algorithm == "kto" else "preference"
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(configs.ConfigError) as error:
            services.launch_job(algorithm=algorithm, base_model=base, snapshot=snapshot(fmt), overrides=overrides)
    assert error.value.field == field and message in str(error.value)
    assert TrainingJob.objects.count() == 0 and callbacks == []


def test_a_snapshot_of_the_wrong_format_is_refused(base, snapshot):
    with pytest.raises(configs.ConfigError, match="snapshot: KTO trains on a unpaired snapshot, not preference"):
        services.launch_job(algorithm="kto", base_model=base, snapshot=snapshot("preference"), overrides={})
    with pytest.raises(configs.ConfigError, match="snapshot: DPO trains on a preference snapshot, not unpaired"):
        services.launch_job(algorithm="dpo", base_model=base, snapshot=snapshot("unpaired"), overrides={})
    assert TrainingJob.objects.count() == 0


def test_a_valid_job_stores_trl_defaults_plus_overrides_and_is_queued_after_commit(
    base, snapshot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.launch_job(algorithm="dpo", base_model=base, snapshot=snapshot(), overrides={"beta": "0.3"})
    assert job.status == "queued" and len(callbacks) == 1
    assert job.config["beta"] == 0.3 and job.config["loss_type"] == "sigmoid"
    assert job.config["learning_rate"] == configs.defaults("dpo")["learning_rate"]


def test_the_launch_form_names_the_bad_field(client, make_user, base, snapshot, make_project):
    researcher = make_user()
    project = with_members(base.project, {researcher: "researcher"})
    snap = snapshot(project=project)
    client.force_login(researcher)
    page = client.get(reverse("training:job_new") + "?algorithm=dpo").content.decode()
    assert 'name="cfg_beta"' in page and 'value="0.1"' in page  # TRL's default shown
    response = client.post(
        reverse("training:job_new"),
        {
            "algorithm": "dpo",
            "base_model": base.pk,
            "snapshot": snap.pk,
            "cfg_beta": "-1",
            "cfg_learning_rate": "1e-6",
            "cfg_loss_type": "sigmoid",
            "advanced": "",
        },
    )
    assert response.status_code == 200 and "beta: must be at least 0" in response.content.decode()
    response = client.post(
        reverse("training:job_new"),
        {
            "algorithm": "dpo",
            "base_model": base.pk,
            "snapshot": snap.pk,
            "cfg_beta": "0.1",
            "cfg_loss_type": "ipo",
            "advanced": '{"save_steps": 0}',
        },
    )
    assert "save_steps: must be at least 1" in response.content.decode()
    response = client.post(
        reverse("training:job_new"),
        {
            "algorithm": "dpo",
            "base_model": base.pk,
            "snapshot": snap.pk,
            "cfg_beta": "0.1",
            "cfg_loss_type": "ipo",
            "advanced": "{not json",
        },
    )
    assert "not valid JSON" in response.content.decode()
    assert TrainingJob.objects.count() == 0
    response = client.post(
        reverse("training:job_new"),
        {
            "algorithm": "dpo",
            "base_model": base.pk,
            "snapshot": snap.pk,
            "cfg_beta": "0.2",
            "cfg_loss_type": "ipo",
            "advanced": '{"save_steps": 50}',
        },
    )
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("training:job", args=[job.pk])
    assert job.config["beta"] == 0.2 and job.config["loss_type"] == "ipo" and job.config["save_steps"] == 50


def test_training_pages_are_for_the_projects_researchers(client, make_user, base, snapshot, make_project):
    researcher, annotator = make_user(), make_user()
    project = with_members(base.project, {researcher: "researcher", annotator: "annotator"})
    job = services.launch_job(algorithm="sft", base_model=base, snapshot=snapshot(project=project), overrides={})
    client.force_login(annotator)
    for url in [
        reverse("training:jobs"),
        reverse("training:job_new"),
        reverse("training:models"),
        reverse("training:model", args=[base.pk]),
    ]:
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("training:job", args=[job.pk])).status_code == 403
    assert client.post(reverse("training:job_cancel", args=[job.pk])).status_code == 403
    client.force_login(researcher)
    assert client.get(reverse("training:jobs")).status_code == 200
    page = client.get(reverse("training:job", args=[job.pk])).content.decode()
    assert "queued" in page and 'hx-trigger="every 2s"' in page
    outsider = make_user()
    outsider.user_permissions.add(Permission.objects.get(codename="add_project"))  # a researcher, not of this project
    client.force_login(outsider)
    assert client.get(reverse("training:job", args=[job.pk])).status_code == 404


def test_the_job_page_shows_live_progress_charts_and_the_log(client, make_user, base, snapshot, make_project):
    researcher = make_user()
    project = with_members(base.project, {researcher: "researcher"})
    job = services.launch_job(algorithm="dpo", base_model=base, snapshot=snapshot(project=project), overrides={})
    jobs.claim(job.pk, "w1@host")
    series = [{"step": s, "loss": 1 / s, "rewards/margins": s / 10, "rewards/accuracies": 0.5} for s in range(1, 6)]
    cancel = jobs.record_progress(job.pk, step=5, total=20, metrics=series, log_lines=["step 5/20 loss=0.2 <b>"])
    assert cancel is False
    client.force_login(researcher)
    partial = client.get(reverse("training:job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="job-status"') and 'value="5"' in partial and 'max="20"' in partial
    assert partial.count("<svg") == 3  # loss, reward margin, accuracy
    assert "&lt;b&gt;" in partial and "<b>" not in partial.split("<pre")[1]
    client.post(reverse("training:job_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.cancel_requested and jobs.record_progress(job.pk, step=6, total=20) is True


def test_cancel_and_resume_follow_the_job_states(base, snapshot, django_capture_on_commit_callbacks):
    job = services.launch_job(algorithm="sft", base_model=base, snapshot=snapshot(), overrides={})
    jobs.cancel(job)
    job.refresh_from_db()
    assert job.status == "cancelled"  # a queued job stops at once
    assert jobs.claim(job.pk, "w") is None  # and a worker that gets it later leaves it alone
    with django_capture_on_commit_callbacks() as callbacks:
        jobs.resume(job)
    job.refresh_from_db()
    assert job.status == "queued" and len(callbacks) == 1
    with pytest.raises(ValueError, match="only a failed or cancelled job can be resumed"):
        jobs.resume(job)


def test_lost_jobs_are_failed_and_can_be_resumed(base, snapshot):
    from datetime import timedelta

    from django.utils import timezone

    job = services.launch_job(algorithm="sft", base_model=base, snapshot=snapshot(), overrides={})
    jobs.claim(job.pk, "w")
    assert jobs.mark_lost_jobs(older_than_s=60) == 0
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert jobs.mark_lost_jobs(older_than_s=60) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "worker lost" in job.error


def test_launch_job_command_queues_and_reports_json(base, snapshot, capsys):
    snap = snapshot()
    call_command(
        "launch_job",
        "--algorithm",
        "dpo",
        "--base",
        "base-model",
        "--snapshot",
        str(snap.pk),
        "--set",
        "beta=0.5",
        "--set",
        "loss_type=hinge",
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"job", "status", "output_model", "metrics"} and last["status"] == "queued"
    assert TrainingJob.objects.get(pk=last["job"]).config["loss_type"] == "hinge"
    with pytest.raises(CommandError, match="beta: must be at least 0"):
        call_command(
            "launch_job", "--algorithm", "dpo", "--base", "base-model", "--snapshot", str(snap.pk), "--set", "beta=-1"
        )
    with pytest.raises(CommandError, match="--base: no model named 'nope'"):
        call_command("launch_job", "--algorithm", "dpo", "--base", "nope", "--snapshot", str(snap.pk))


def test_register_model_refuses_a_missing_local_directory(tmp_path, make_project):
    project = make_project(n_items=0)
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("register_model", "x", str(tmp_path / "missing"), "--project", project.slug)
    call_command(
        "register_model", "qwen", "Qwen/Qwen2.5-0.5B-Instruct", "--project", project.slug
    )  # a hub id is taken as it is
    assert ModelVersion.objects.get(name="qwen").base == "Qwen/Qwen2.5-0.5B-Instruct"


def test_the_model_page_shows_lineage_back_to_the_snapshot_and_project(client, make_user, base, snapshot, make_project):
    researcher = make_user()
    project = with_members(base.project, {researcher: "researcher"})
    job = services.launch_job(algorithm="reward", base_model=base, snapshot=snapshot(project=project), overrides={})
    jobs.claim(job.pk, "w")
    services.finish_job(
        job.pk, status="succeeded", step=3, model_dir="/tmp/out/final", evaluation={"pairwise_accuracy": 0.95}
    )
    model = ModelVersion.objects.get(produced_by=job)
    client.force_login(researcher)
    page = client.get(reverse("training:model", args=[model.pk])).content.decode()
    assert "pairwise_accuracy" in page and "0.95" in page
    assert project.name in page and f"job #{job.pk}" in page and "base-model" in page and "10 rows" in page
