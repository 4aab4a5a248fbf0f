"""Training jobs end to end: queued in this process, run by a real Celery worker process, on the
test database (Postgres + Redis in CI's main run). The tiny models train in seconds."""

import time

import pytest

from tests.training.conftest import wait_for
from training import jobs, services
from training.models import ModelVersion

pytestmark = [pytest.mark.ml, pytest.mark.django_db(transaction=True)]

FAST = {"max_length": 64, "logging_steps": 1, "per_device_train_batch_size": 8, "learning_rate": 5e-4}


def _finished(job):
    job.refresh_from_db()
    return job.is_finished


def _run(start_worker, tiny_models, make_snapshot, algorithm, fmt, base="policy", **overrides):
    worker = start_worker()
    train, test = make_snapshot(fmt)
    job = services.launch_job(
        algorithm=algorithm,
        base_model=tiny_models[base],
        snapshot=train,
        eval_snapshot=test,
        overrides={**FAST, **overrides},
    )
    wait_for(lambda: _finished(job), 240, f"{algorithm} job to finish", worker)
    assert job.status == "succeeded", f"{job.error}\n{worker.output()}"
    return job


@pytest.mark.parametrize(
    "algorithm, fmt, steps",
    [("sft", "preference", 4), ("dpo", "preference", 4), ("kto", "unpaired", 4), ("orpo", "preference", 4)],
)
def test_each_algorithm_runs_end_to_end_and_registers_its_model(
    start_worker, tiny_models, make_snapshot, algorithm, fmt, steps
):
    job = _run(start_worker, tiny_models, make_snapshot, algorithm, fmt, max_steps=steps)
    assert job.step == steps and job.max_steps == steps
    assert [row["step"] for row in job.metrics if "loss" in row] == list(range(1, steps + 1))
    assert job.heartbeat_at is not None and job.first_step_at is not None and job.worker
    model = ModelVersion.objects.get(produced_by=job)
    assert model.parent == tiny_models["policy"] and model.kind == "policy"
    assert (job.output_dir / "final" / "config.json").exists() and model.base.endswith("final") and model.adapters == []
    assert "train" in model.evaluation


def test_the_reward_model_learns_the_marker_and_its_accuracy_is_stored(start_worker, tiny_models, make_snapshot):
    job = _run(start_worker, tiny_models, make_snapshot, "reward", "preference", base="reward", max_steps=30)
    model = ModelVersion.objects.get(produced_by=job)
    assert model.kind == "reward"
    assert model.evaluation["pairwise_accuracy"] >= 0.9
    assert model.evaluation["test_pairs"] == 8  # the held-out prompts of the snapshot's test split


def test_dpo_stores_its_implicit_reward_accuracy_on_the_test_split(start_worker, tiny_models, make_snapshot):
    job = _run(
        start_worker, tiny_models, make_snapshot, "dpo", "preference", max_steps=15, use_lora=True, learning_rate=5e-3
    )
    model = ModelVersion.objects.get(produced_by=job)
    assert model.adapters == [model.adapter_path] and model.base == tiny_models["policy"].base
    assert model.evaluation["implicit_reward_accuracy"] >= 0.9


def test_cancel_stops_a_running_job_within_a_few_steps(start_worker, tiny_models, make_snapshot):
    worker = start_worker()
    job = services.launch_job(
        algorithm="sft",
        base_model=tiny_models["policy"],
        snapshot=make_snapshot()[0],
        overrides={**FAST, "max_steps": 5000},
    )
    wait_for(lambda: (job.refresh_from_db(), job.step >= 3)[1], 120, "three steps", worker)
    jobs.cancel(job)
    job.refresh_from_db()
    asked_at = job.step
    wait_for(lambda: _finished(job), 60, "the job to stop", worker)
    assert job.status == "cancelled"
    assert job.step - asked_at <= 5, (asked_at, job.step)
    assert not ModelVersion.objects.filter(produced_by=job).exists()


def test_a_killed_worker_fails_the_job_and_resume_finishes_it(start_worker, tiny_models, make_snapshot):
    heartbeat = 2
    worker = start_worker(heartbeat_s=heartbeat, consume=("training",))
    watchdog = start_worker(heartbeat_s=heartbeat, beat=True, consume=("default",))  # beat: marks lost jobs
    overrides = {**FAST, "max_steps": 40, "save_steps": 5, "learning_rate": 1e-4}
    job = services.launch_job(
        algorithm="sft", base_model=tiny_models["policy"], snapshot=make_snapshot()[0], overrides=overrides
    )
    wait_for(
        lambda: (job.refresh_from_db(), job.status == "running" and job.step >= 7)[1],
        120,
        "the job to pass its first checkpoint",
        worker,
    )
    worker.kill()
    killed_at = time.monotonic()
    wait_for(lambda: _finished(job), 4 * heartbeat, "the job to be marked lost", watchdog)
    assert job.status == "failed" and "worker lost" in job.error
    assert time.monotonic() - killed_at <= 2 * heartbeat + 1  # two periods, plus polling slack
    stopped_at = job.step

    second = start_worker(heartbeat_s=heartbeat, consume=("training",))
    jobs.resume(job)
    wait_for(lambda: _finished(job), 240, "the resumed job to finish", second)
    assert job.status == "succeeded", job.error
    assert job.step == 40  # the same final step count as an uninterrupted run
    steps = [row["step"] for row in job.metrics if "loss" in row]
    assert steps == list(range(1, 41)), "the series continues from the checkpoint without repeats"
    assert stopped_at >= 7


def test_the_whole_loop_from_human_judgments_to_an_evaluated_reward_model(
    start_worker, tiny_models, make_user, training_project
):
    """Annotators judge pairs -> seeded train/test snapshot -> reward job -> accuracy on the held-out side."""
    from labeling import services as labeling
    from labeling.data import exporters
    from labeling.data.snapshots import create_snapshot
    from labeling.models import Item, Membership, Prompt, Response
    from tests.training.ml.conftest import HELD_OUT_ROWS, TRAIN_ROWS

    annotator = make_user()
    project = training_project  # the project the tiny models belong to
    Membership.objects.create(project=project, user=annotator, role="annotator")
    for i, row in enumerate(TRAIN_ROWS + HELD_OUT_ROWS):
        prompt = Prompt.objects.create(project=project, text=row["prompt"])
        chosen, rejected = (Response.objects.create(prompt=prompt, text=row[k]) for k in ("chosen", "rejected"))
        a, b = (chosen, rejected) if i % 2 else (rejected, chosen)
        Item.objects.create(project=project, prompt=prompt, response_a=a, response_b=b)
    while (lease := labeling.lease_next_item(project, annotator)) is not None:
        marker_is_a = "banana" in lease.item.response_a.text
        labeling.submit_judgment(lease, choice="a" if marker_is_a else "b", client_token=labeling.new_client_token())

    snapshot = create_snapshot(project, exporters.ExportSpec(format="preference", split="train", test_size=0.25))
    worker = start_worker()
    job = services.launch_job(
        algorithm="reward", base_model=tiny_models["reward"], snapshot=snapshot, overrides={**FAST, "max_steps": 30}
    )
    assert job.eval_snapshot is not None and job.eval_snapshot.spec["split"] == "test"
    assert snapshot.rows + job.eval_snapshot.rows == 32  # every judged pair on exactly one side
    wait_for(lambda: _finished(job), 240, "the reward job", worker)
    assert job.status == "succeeded", job.error
    model = ModelVersion.objects.get(produced_by=job)
    assert model.evaluation["test_pairs"] == job.eval_snapshot.rows
    assert model.evaluation["pairwise_accuracy"] >= 0.9
    assert model.produced_by.snapshot.project == project
