"""Nothing lost: a database on the schema before the job lifecycle and project-scoped models (labeling
0002, training 0002, webapp 0001), filled, then migrated forward to the latest: every row, file,
metric and lineage link is still there, and the LoRA chain became base + [a1, a2]."""

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

OLD = [
    ("labeling", "0002_importbatch_prompt_content_hash_and_more"),
    ("training", "0002_jobs_and_models"),
    ("webapp", "0001_initial"),
]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _fill_old_schema(apps) -> dict:
    User = apps.get_model("auth", "User")
    Project, Membership = apps.get_model("labeling", "Project"), apps.get_model("labeling", "Membership")
    Prompt, Response = apps.get_model("labeling", "Prompt"), apps.get_model("labeling", "Response")
    Item, Judgment = apps.get_model("labeling", "Item"), apps.get_model("labeling", "Judgment")
    Snapshot = apps.get_model("training", "DatasetSnapshot")
    ModelVersion, TrainingJob = apps.get_model("training", "ModelVersion"), apps.get_model("training", "TrainingJob")

    user = User.objects.create(username="old-researcher")
    project = Project.objects.create(name="Old project", slug="old-project")
    Membership.objects.create(project=project, user=user, role="researcher")
    items, judgments = [], []
    for i in range(3):
        prompt = Prompt.objects.create(project=project, text=f"prompt {i}")
        a, b = (Response.objects.create(prompt=prompt, text=f"answer {i}{side}") for side in "ab")
        item = Item.objects.create(project=project, prompt=prompt, response_a=a, response_b=b)
        items.append(item.pk)
        judgments.append(
            Judgment.objects.create(item=item, annotator=user, choice="a", client_token=uuid.uuid4().hex).pk
        )
    data = b'{"chosen": "answer 0a", "prompt": "prompt 0", "rejected": "answer 0b"}\n'
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(settings.MEDIA_ROOT) / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{sha}.jsonl").write_bytes(data)
    snapshot = Snapshot.objects.create(
        project=project,
        format="preference",
        file_type="jsonl",
        spec={"format": "preference"},
        sha256=sha,
        rows=1,
        size_bytes=len(data),
        created_by=user,
    )

    base_dir = "/models/tiny-policy"
    m0 = ModelVersion.objects.create(name="tiny-policy", base=base_dir)
    now = timezone.now()
    job1 = TrainingJob.objects.create(
        algorithm="dpo",
        base_model=m0,
        snapshot=snapshot,
        config={"use_lora": True, "beta": 0.1},
        status="succeeded",
        step=2,
        max_steps=2,
        metrics=[{"step": 1, "loss": 0.5, "rewards/margins": 0.1}, {"step": 2, "loss": 0.25}],
        log_tail="step 2/2 loss=0.25",
        worker="w1@host",
        heartbeat_at=now,
        created_by=user,
        queued_at=now,
        started_at=now,
        first_step_at=now,
        finished_at=now + timedelta(seconds=5),
    )
    a1 = f"/var/media/jobs/{job1.key}/final"
    m1 = ModelVersion.objects.create(name="dpo-1", base=base_dir, adapter_path=a1, parent=m0, produced_by=job1)
    job2 = TrainingJob.objects.create(
        algorithm="dpo",
        base_model=m1,
        snapshot=snapshot,
        config={"use_lora": True},
        status="succeeded",
        step=3,
        max_steps=3,
        metrics=[{"step": s, "loss": 1 / s} for s in (1, 2, 3)],
        worker="w2@host",
        finished_at=now,
    )
    a2 = f"/var/media/jobs/{job2.key}/final"
    # before: a LoRA job on a LoRA version stored the parent's adapter directory as its base
    m2 = ModelVersion.objects.create(
        name="dpo-2",
        base=a1,
        adapter_path=a2,
        parent=m1,
        produced_by=job2,
        evaluation={"implicit_reward_accuracy": 0.9},
    )
    failed = TrainingJob.objects.create(
        algorithm="sft",
        base_model=m2,
        snapshot=snapshot,
        status="failed",
        step=7,
        max_steps=40,
        error="worker lost",
        metrics=[],
    )
    return {
        "project": project.pk,
        "user": user.pk,
        "items": items,
        "judgments": judgments,
        "snapshot": snapshot.pk,
        "sha": sha,
        "data": data,
        "models": [m0.pk, m1.pk, m2.pk],
        "jobs": [job1.pk, job2.pk, failed.pk],
        "keys": [job1.key, job2.key],
        "a1": a1,
        "a2": a2,
        "base_dir": base_dir,
    }


def test_an_old_database_migrates_forward_with_every_row_file_metric_and_lineage_link():
    executor = _migrate(OLD)
    try:
        old = _fill_old_schema(executor.loader.project_state(OLD).apps)
        _migrate(_latest())

        from labeling.models import DatasetSnapshot, Item, Judgment, Project
        from training import jobs, selectors
        from training.models import Job, JobMetric, ModelVersion, TrainingJob

        project = Project.objects.get(pk=old["project"])
        assert sorted(Item.objects.filter(project=project).values_list("pk", flat=True)) == old["items"]
        assert sorted(Judgment.objects.values_list("pk", flat=True)) == old["judgments"]
        snapshot = DatasetSnapshot.objects.get(pk=old["snapshot"])
        assert snapshot.project == project and snapshot.sha256 == old["sha"]
        assert snapshot.path.read_bytes() == old["data"]

        job1, job2, failed = (TrainingJob.objects.get(pk=pk) for pk in old["jobs"])
        assert [j.kind for j in (job1, job2, failed)] == ["train"] * 3
        assert {j.project_id for j in (job1, job2, failed)} == {project.pk}
        assert (job1.status, job1.step, job1.total, job1.worker, job1.log_tail) == (
            "succeeded",
            2,
            2,
            "w1@host",
            "step 2/2 loss=0.25",
        )
        assert job1.created_by_id == old["user"] and job1.finished_at - job1.started_at == timedelta(seconds=5)
        assert job1.key == old["keys"][0] and job1.config == {"use_lora": True, "beta": 0.1}
        assert job1.metrics == [{"step": 1, "loss": 0.5, "rewards/margins": 0.1}, {"step": 2, "loss": 0.25}]
        assert [row["loss"] for row in job2.metrics] == [1.0, 0.5, 1 / 3]
        assert JobMetric.objects.count() == 6
        assert (failed.status, failed.step, failed.total, failed.error) == ("failed", 7, 40, "worker lost")

        m0, m1, m2 = (ModelVersion.objects.get(pk=pk) for pk in old["models"])
        assert {m.project_id for m in (m0, m1, m2)} == {project.pk}
        assert (m0.base, m0.adapters) == (old["base_dir"], [])
        assert (m1.base, m1.adapters) == (old["base_dir"], [old["a1"]])
        assert (m2.base, m2.adapters) == (old["base_dir"], [old["a1"], old["a2"]])
        assert m2.produced_by == job2 and m1.produced_by == job1 and m2.evaluation == {"implicit_reward_accuracy": 0.9}
        assert [link["model"].pk for link in selectors.lineage(m2)] == old["models"][::-1]
        assert [link["job"].pk if link["job"] else None for link in selectors.lineage(m2)] == [job2.pk, job1.pk, None]

        new = jobs.create(Job, kind=Job.Kind.NOOP, project=project, total=1)  # ids go on after the moved rows
        assert new.pk > max(old["jobs"])
    finally:
        _migrate(_latest())


def test_arena_battles_made_before_their_own_job_kind_become_arena_jobs():
    """Battles used to be generate jobs with no generation batch beside them; migration 0009 relabels them."""
    executor = _migrate([("training", "0008_round_rm_ppo")])
    apps = executor.loader.project_state([("training", "0008_round_rm_ppo")]).apps
    Project = apps.get_model("labeling", "Project")
    Job = apps.get_model("training", "Job")
    ModelVersion = apps.get_model("training", "ModelVersion")
    GenerationBatch = apps.get_model("training", "GenerationBatch")
    project = Project.objects.create(name="Arena", slug="arena-old")
    version = ModelVersion.objects.create(project=project, name="p", base="org/p", kind="policy")
    battle = Job.objects.create(kind="generate", project=project, total=2)
    batch = GenerationBatch.objects.create(kind="generate", project=project, model_version=version)

    _migrate(_latest())

    from training.models import Job as JobNow

    assert JobNow.objects.get(pk=battle.pk).kind == "arena"
    assert JobNow.objects.get(pk=batch.pk).kind == "generate"
