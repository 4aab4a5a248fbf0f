"""The job lifecycle every kind of work shares: claim once, progress rows, ETA, cancel, resume, the
reaper, non-finite metrics, the jobs page and the no-worker warning (no worker process runs here)."""

import math
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from labeling.models import DatasetSnapshot, Membership
from training import jobs, selectors, services
from training.models import Job, JobMetric, TrainingJob, WorkerBeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(make_project):
    return make_project(n_items=0)


@pytest.fixture
def researcher(make_user, project):
    user = make_user()
    Membership.objects.create(project=project, user=user, role="researcher")
    return user


@pytest.fixture
def training_job(project, tmp_path, settings):
    (tmp_path / "m").mkdir()
    settings.MODEL_ROOTS = [str(tmp_path)]
    base = services.register_model(project=project, name="base-model", base=str(tmp_path / "m"))
    snapshot = DatasetSnapshot.objects.create(
        project=project, format="preference", file_type="jsonl", spec={}, sha256="0" * 64, rows=10, size_bytes=100
    )
    return services.launch_job(algorithm="sft", base_model=base, snapshot=snapshot, overrides={"max_steps": 20})


@pytest.fixture
def worker_alive(db, settings):
    WorkerBeat.objects.create(hostname="w@test", queues=f"default,{settings.TRAINING_QUEUE}", seen_at=timezone.now())


def test_every_job_kind_has_a_runner():
    import workers.runners  # noqa: F401
    from workers.jobs import RUNNERS

    assert sorted(RUNNERS) == sorted(Job.Kind.values)


def test_every_job_kind_has_one_row_naming_its_label_queue_and_resume(settings):
    assert list(Job.KINDS) == list(Job.Kind.values)
    assert jobs.queue_for(Job.Kind.GENERATE) == settings.TRAINING_QUEUE  # loads a model
    assert jobs.queue_for(Job.Kind.ROUND) == settings.CELERY_TASK_DEFAULT_QUEUE  # drives other jobs
    assert [k for k, spec in Job.KINDS.items() if spec.not_resumed] == [Job.Kind.ARENA]
    with pytest.raises(ValueError, match="kind: unknown job kind 'nope'"):
        jobs.queue_for("nope")


def test_a_training_job_is_a_job_with_the_same_id_and_its_details_beside_it(training_job):
    job = Job.objects.get(pk=training_job.pk)
    assert job.kind == "train" and job.status == "queued" and job.total == 20
    assert job.training.algorithm == "sft" and job.project == training_job.snapshot.project
    assert reverse("training:job", args=[job.pk]) == f"/training/jobs/{training_job.pk}/"


def test_a_job_is_claimed_by_exactly_one_worker(project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=3)
    assert jobs.claim(job.pk, "w1").worker == "w1"
    assert jobs.claim(job.pk, "w2") is None
    job.refresh_from_db()
    assert job.status == "running" and job.worker == "w1"


def test_metrics_are_appended_as_rows_never_rewritten(project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)
    jobs.claim(job.pk, "w")
    jobs.record_progress(job.pk, step=1, total=10, metrics=[{"step": 1, "loss": 2.0, "accuracy": 0.5}])
    first_ids = list(JobMetric.objects.filter(job=job).order_by("id").values_list("id", flat=True))
    jobs.record_progress(job.pk, step=2, total=10, metrics=[{"step": 2, "loss": 1.0}])
    jobs.record_progress(job.pk, step=3, total=10)  # progress without metrics adds no rows
    assert list(JobMetric.objects.filter(job=job).order_by("id").values_list("id", flat=True))[:2] == first_ids
    assert JobMetric.objects.filter(job=job).count() == 3
    job.refresh_from_db()
    assert job.metrics == [{"step": 1, "loss": 2.0, "accuracy": 0.5}, {"step": 2, "loss": 1.0}]
    assert job.step == 3 and job.progress == 0.3


def test_a_resumed_run_drops_the_metrics_after_its_checkpoint(project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)
    jobs.claim(job.pk, "w")
    jobs.record_progress(job.pk, step=4, total=10, metrics=[{"step": s, "loss": 1 / s} for s in range(1, 5)])
    jobs.restart_from(job.pk, 2)
    job.refresh_from_db()
    assert [row["step"] for row in job.metrics] == [1, 2] and job.step == 2 and job.start_step == 2


def test_the_eta_follows_the_pace_since_the_first_step(project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=100)
    jobs.claim(job.pk, "w")
    jobs.record_progress(job.pk, step=1, total=100)
    Job.objects.filter(pk=job.pk).update(first_step_at=timezone.now() - timedelta(seconds=10))
    jobs.record_progress(job.pk, step=11, total=100)
    job.refresh_from_db()
    assert 85 <= job.eta.total_seconds() <= 95  # 1 s a step, 89 steps left
    assert job.eta_text.startswith("1 min")


def test_nan_and_infinite_metrics_are_stored_as_missing_values_and_the_job_goes_on(client, researcher, project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)
    jobs.claim(job.pk, "w")
    cancel = jobs.record_progress(
        job.pk,
        step=3,
        total=10,
        metrics=[
            {"step": 1, "loss": math.nan},
            {"step": 2, "loss": math.inf},
            {"step": 3, "loss": -math.inf, "accuracy": 0.5},
            {"step": 3, "eval_loss": 10**400},  # an int no float can hold
        ],
    )
    assert cancel is False
    job.refresh_from_db()
    assert job.status == "running" and job.step == 3
    assert job.metrics == [
        {"step": 1, "loss": None},
        {"step": 2, "loss": None},
        {"step": 3, "loss": None, "accuracy": 0.5, "eval_loss": None},
    ]
    jobs.record_progress(job.pk, step=4, total=10, metrics=[{"step": 4, "loss": 0.25}])
    client.force_login(researcher)
    page = client.get(reverse("training:job", args=[job.pk]))
    assert page.status_code == 200
    assert page.content.decode().count("<svg") == 2  # loss (the finite point) and accuracy; NaN is skipped
    chart = client.get(reverse("training:job_chart", args=[job.pk, "loss"]))
    assert chart.status_code == 200 and chart["Content-Type"] == "image/svg+xml"
    assert "NaN" not in chart.content.decode() and "inf" not in chart.content.decode().replace("info", "")


def test_a_chart_of_a_metric_the_job_never_logged_is_404(client, researcher, project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)
    client.force_login(researcher)
    assert client.get(reverse("training:job_chart", args=[job.pk, "no/such-metric"])).status_code == 404
    assert client.get(reverse("training:job_chart", args=[job.pk + 1000, "loss"])).status_code == 404


def test_the_reaper_fails_silent_running_jobs_of_any_kind(project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=10)
    jobs.claim(job.pk, "w")
    assert jobs.mark_lost_jobs(older_than_s=60) == 0
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert jobs.mark_lost_jobs(older_than_s=60) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "worker lost" in job.error


def test_finish_and_fail_leave_an_ended_job_alone(project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=1)
    jobs.claim(job.pk, "w")
    assert jobs.finish(job.pk, "succeeded", step=1) is True
    jobs.fail(job.pk, "too late")
    assert jobs.finish(job.pk, "cancelled") is False
    job.refresh_from_db()
    assert job.status == "succeeded" and job.error == "" and job.finished_at is not None
    with pytest.raises(ValueError, match="fail\\(\\) records a failure"):
        jobs.finish(job.pk, "failed")


def test_the_jobs_page_lists_every_kind_with_its_progress_bar(client, researcher, project, training_job, worker_alive):
    noop = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=8)
    jobs.claim(noop.pk, "w")
    jobs.record_progress(noop.pk, step=2, total=8)
    client.force_login(researcher)
    page = client.get(reverse("training:jobs")).content.decode()
    assert f"#{training_job.pk}" in page and f"#{noop.pk}" in page
    assert "SFT on base-model" in page and "No-op" in page
    assert 'max="8" value="2"' in page and 'max="20" value="0"' in page
    assert "No worker running" not in page


def test_pages_say_plainly_when_no_worker_has_been_seen(client, researcher, training_job, settings):
    client.force_login(researcher)
    for url in [reverse("training:jobs"), reverse("training:job_new"), reverse("training:job", args=[training_job.pk])]:
        assert "No worker has been seen yet" in client.get(url).content.decode(), url
    beat = WorkerBeat.objects.create(
        hostname="w@old", queues=f"default,{settings.TRAINING_QUEUE}", seen_at=timezone.now() - timedelta(minutes=5)
    )
    page = client.get(reverse("training:jobs")).content.decode()
    assert "No worker has been seen for 300 s" in page and "w@old" in page
    WorkerBeat.objects.filter(pk=beat.pk).update(seen_at=timezone.now(), queues="default")
    assert (
        f"No running worker takes the training queue &#x27;{settings.TRAINING_QUEUE}&#x27;"
        in client.get(reverse("training:job_new")).content.decode()
    )
    WorkerBeat.objects.filter(pk=beat.pk).update(queues=f"default,{settings.TRAINING_QUEUE}")
    for url in [reverse("training:jobs"), reverse("training:job_new"), reverse("training:job", args=[training_job.pk])]:
        assert "No worker running" not in client.get(url).content.decode(), url


def test_a_worker_records_that_it_is_alive(db):
    jobs.worker_seen("w1@host", ["gpu", "default"])
    jobs.worker_seen("w1@host", ["gpu", "default"])
    beat = WorkerBeat.objects.get()
    assert beat.queues == "default,gpu" and (timezone.now() - beat.seen_at).total_seconds() < 5


def test_resume_says_it_continues_from_the_last_checkpoint(client, researcher, training_job, worker_alive):
    client.force_login(researcher)
    jobs.claim(training_job.pk, "w")
    jobs.record_progress(training_job.pk, step=33, total=40)
    jobs.cancel(training_job)
    jobs.finish(training_job.pk, "cancelled")
    for step in (10, 30):
        (training_job.output_dir / f"checkpoint-{step}").mkdir(parents=True)
        (training_job.output_dir / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (training_job.output_dir / "checkpoint-35").mkdir()  # half-saved: not a checkpoint to continue from
    page = client.get(reverse("training:job", args=[training_job.pk])).content.decode()
    assert "Resuming will continue from step 30" in page and "Resume from step 30" in page
    response = client.post(reverse("training:job_resume", args=[training_job.pk]), follow=True)
    assert "Resuming will continue from step 30 (the last saved checkpoint)." in response.content.decode()
    assert TrainingJob.objects.get(pk=training_job.pk).status == "queued"


def test_resume_without_a_checkpoint_says_it_restarts_from_step_0(client, researcher, training_job, worker_alive):
    client.force_login(researcher)
    jobs.cancel(training_job)  # cancelled while queued: it never ran
    page = client.get(reverse("training:job", args=[training_job.pk])).content.decode()
    assert "This job never ran" in page and "Queue again" in page and "Resume from" not in page
    jobs.resume(training_job)
    jobs.claim(training_job.pk, "w")
    jobs.record_progress(training_job.pk, step=3, total=20)
    jobs.fail(training_job.pk, "boom")
    page = client.get(reverse("training:job", args=[training_job.pk])).content.decode()
    assert "No checkpoint was saved: resuming restarts from step 0." in page and "Restart from step 0" in page
    assert selectors.resume_step(training_job) == 0


def test_a_running_job_page_polls_and_a_finished_one_does_not(client, researcher, project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=2)
    client.force_login(researcher)
    assert 'hx-trigger="every 2s"' in client.get(reverse("training:job", args=[job.pk])).content.decode()
    jobs.cancel(job)
    assert 'hx-trigger="every 2s"' not in client.get(reverse("training:job", args=[job.pk])).content.decode()


def test_a_researcher_of_another_project_sees_no_job(client, make_user, project):
    job = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=2)
    outsider = make_user()
    outsider.user_permissions.add(Permission.objects.get(codename="add_project"))
    client.force_login(outsider)
    assert client.get(reverse("training:job", args=[job.pk])).status_code == 404
    assert client.get(reverse("training:job_chart", args=[job.pk, "loss"])).status_code == 404
