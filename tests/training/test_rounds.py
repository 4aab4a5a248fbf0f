"""Rounds: vN meets vN-1, a judge judges, the judgments train vN+1, and the leaderboard says by how much it moved."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Membership, Prompt
from training import rounds
from training.models import Job, ModelVersion, Round
from training.services import register_model

FAST = {"max_steps": 2, "max_length": 64, "logging_steps": 1, "per_device_train_batch_size": 4, "learning_rate": 5e-4}


@pytest.fixture
def prompts(training_project):
    for i in range(6):
        Prompt.objects.create(project=training_project, text=f"tell me about topic {i}", split="train")
    for i in range(3):
        Prompt.objects.create(project=training_project, text=f"held-out topic {i}", split="test")
    return training_project


@pytest.fixture
def v1(tiny_models, tiny_dirs, tmp_path_factory, prompts):
    """A second tiny policy (other weights, same tokenizer) registered as trained from the first."""
    from tests.training.ml.conftest import TEXTS
    from training.ml.tiny import build_tiny_policy

    folder = tmp_path_factory.getbasetemp() / "tiny-policy-seed1"
    path = str(folder) if (folder / "config.json").exists() else build_tiny_policy(folder, TEXTS, seed=1)
    return register_model(project=prompts, name="tiny-v1", base=path, parent=tiny_models["policy"])


def run_unattended(start_worker, project, algorithm: str, training: dict) -> tuple[dict, Round]:
    """`round --wait` from tiny-v1 with a rule judge on a real worker: (the JSON it printed last, the done round)."""
    worker = start_worker()
    out = io.StringIO()
    sets = [f"{k}={v}" for k, v in training.items()] + ["max_new_tokens=12", "temperature=1.0", "bootstrap=100"]
    call_command(
        "round",
        project=project.slug,
        policy="tiny-v1",
        algorithm=algorithm,
        judge="rule:vocab-share",
        set=sets,
        wait=True,
        timeout=300,
        stdout=out,
    )
    round_ = Round.objects.get()
    assert round_.status == Round.Status.DONE, worker.output()
    return json.loads(out.getvalue().strip().splitlines()[-1]), round_


def test_the_rating_change_of_a_version_that_wins_every_battle_is_positive_with_an_interval_above_zero():
    battles = [("new", "old", "model_a")] * 30 + [("old", "new", "model_b")] * 25 + [("new", "old", "model_b")] * 5
    change = rounds.rating_change(battles, "new", "old", bootstrap=300)
    assert change["delta"] > 100
    assert 0 < change["ci"][0] <= change["delta"] <= change["ci"][1]
    assert change["battles"] == 60


def test_the_rating_change_is_unknown_before_the_new_version_has_battled():
    assert rounds.rating_change([("a", "b", "tie")], "new", "a")["delta"] is None


def test_a_round_from_a_version_without_a_parent_asks_for_an_opponent(db, tiny_models, prompts):
    with pytest.raises(ValueError, match="policy: tiny-policy has no parent"):
        rounds.start_round(project=prompts, policy=tiny_models["policy"], judge="")


def test_a_round_is_refused_with_the_field_named(db, tiny_models, v1, prompts):
    project = prompts
    with pytest.raises(ValueError, match="^algorithm: "):
        rounds.start_round(project=project, policy=v1, algorithm="kto")
    with pytest.raises(ValueError, match="^learning_rate: "):
        rounds.start_round(project=project, policy=v1, settings={"learning_rate": -1})
    with pytest.raises(ValueError, match="^split: "):
        rounds.start_round(project=project, policy=v1, settings={"split": "dev"})
    with pytest.raises(ValueError, match="^opponent: "):
        rounds.start_round(project=project, policy=v1, settings={"opponent": "nobody"})
    with pytest.raises(ValueError, match="^policy: "):
        rounds.start_round(project=project, policy=tiny_models["reward"])
    assert not Round.objects.exists() and not Job.objects.filter(kind=Job.Kind.ROUND).exists()


def test_a_round_without_a_judge_waits_for_the_annotators_and_numbers_rounds_per_project(db, v1, prompts):
    first = rounds.start_round(project=prompts, policy=v1, settings={"max_steps": 3})
    second = rounds.start_round(project=prompts, policy=v1, settings={"opponent": "tiny-policy"})
    assert (first.number, second.number) == (1, 2)
    assert first.humans and first.opponent.name == "tiny-policy" and first.job.kind == Job.Kind.ROUND
    assert first.settings["max_steps"] == 3 and rounds.overrides_of(first) == {"max_steps": 3}
    assert rounds.collection_done(first) is False
    rounds.close_round(first)
    assert rounds.collection_done(first) is True


def test_the_rounds_page_lists_rounds_and_starts_one(client, django_user_model, v1, prompts):
    user = django_user_model.objects.create_user("researcher", password="pw")
    Membership.objects.create(project=prompts, user=user, role=Membership.Role.RESEARCHER)
    client.force_login(user)
    url = f"/training/projects/{prompts.slug}/rounds/"
    refused = client.post(url, {"policy": v1.pk, "algorithm": "dpo", "settings": "learning_rate=-1"})
    assert refused.status_code == 422 and b"learning_rate" in refused.content
    started = client.post(
        url, {"policy": v1.pk, "algorithm": "dpo", "settings": "max_steps=2\nsplit=train"}, follow=True
    )
    assert started.status_code == 200
    assert b"tiny-v1 vs tiny-policy" in started.content and b"Waiting for the annotators" not in started.content
    assert Round.objects.get().settings["max_steps"] == 2


@pytest.mark.ml
@pytest.mark.django_db(transaction=True)
def test_an_unattended_round_with_a_rule_judge_trains_the_next_version_and_reports_its_rating_change(
    start_worker, v1, prompts
):
    last, round_ = run_unattended(start_worker, prompts, "dpo", FAST)
    assert last["round"] == 1 and last["snapshot"] == round_.snapshot_id and last["job"] == round_.training_job_id
    new = ModelVersion.objects.get(name=last["model"])
    assert new.parent == v1 and new.produced_by.algorithm == "dpo"
    assert round_.campaign.items_created == 6 and round_.eval_campaign.items_created == 3
    change = last["rating_change"]
    assert change["new"] == new.name and change["old"] == "tiny-v1" and change["battles"] == 3
    assert change["ci"][0] <= change["delta"] <= change["ci"][1]


def test_the_round_command_names_what_is_wrong(db, v1, prompts):
    with pytest.raises(CommandError, match="--policy"):
        call_command("round", project=prompts.slug, policy="nobody")
    with pytest.raises(CommandError, match="--set"):
        call_command("round", project=prompts.slug, policy="tiny-v1", set=["novalue"])


# ---------------------------------------------------------------- rm-ppo: a reward-model update, then PPO

RM_PPO_FAST = {
    "reward.max_steps": 2,
    "reward.per_device_train_batch_size": 2,
    "reward.max_length": 64,
    "reward.logging_steps": 1,
    "ppo.max_steps": 1,
    "ppo.per_device_train_batch_size": 2,
    "ppo.num_ppo_epochs": 1,
    "ppo.response_length": 8,
}


@pytest.mark.parametrize(
    "given, key",
    [
        ({"reward.learning_rate": -1}, "reward.learning_rate"),
        ({"ppo.no_such_setting": 1}, "ppo.no_such_setting"),
        ({"ppo.reward": "rule:length"}, "ppo.reward"),
        ({"max_steps": 2}, "max_steps"),  # unprefixed: which job would it be for?
        ({"sft.max_steps": 2}, "sft.max_steps"),
        ({"reward_model": "tiny-policy"}, "reward_model"),  # a policy, not a reward model
        ({"reward_model": "nobody"}, "reward_model"),
    ],
)
def test_an_rm_ppo_round_refuses_a_bad_override_by_its_prefixed_name_before_queuing_anything(
    db, v1, prompts, given, key
):
    with pytest.raises(ValueError, match=f"^{key.replace('.', '[.]')}: "):
        rounds.start_round(project=prompts, policy=v1, algorithm="rm-ppo", judge="rule:length", settings=given)
    assert not Round.objects.exists() and not Job.objects.exists()


def test_the_round_command_refuses_a_bad_prefixed_override_and_a_dpo_round_any_reward_setting(db, v1, prompts):
    with pytest.raises(CommandError, match="ppo.learning_rate"):
        call_command("round", project=prompts.slug, policy="tiny-v1", algorithm="rm-ppo", set=["ppo.learning_rate=0"])
    with pytest.raises(ValueError, match="^reward_model: only an rm-ppo round"):
        rounds.start_round(project=prompts, policy=v1, settings={"reward_model": "tiny-reward"})
    with pytest.raises(ValueError, match="^reward[.]max_steps: is not a setting of dpo"):
        rounds.start_round(project=prompts, policy=v1, settings={"reward.max_steps": 2})
    assert not Round.objects.exists() and not Job.objects.exists()


def test_the_rounds_page_offers_rm_ppo_and_starts_such_a_round(client, django_user_model, v1, prompts):
    user = django_user_model.objects.create_user("researcher", password="pw")
    Membership.objects.create(project=prompts, user=user, role=Membership.Role.RESEARCHER)
    client.force_login(user)
    url = f"/training/projects/{prompts.slug}/rounds/"
    assert b'<option value="rm-ppo">Reward-model update, then PPO</option>' in client.get(url).content
    refused = client.post(url, {"policy": v1.pk, "algorithm": "rm-ppo", "settings": "ppo.max_steps=-3"})
    assert refused.status_code == 422 and b"ppo.max_steps" in refused.content
    client.post(url, {"policy": v1.pk, "algorithm": "rm-ppo", "settings": "reward.max_steps=2\nppo.max_steps=1"})
    round_ = Round.objects.get()
    assert round_.algorithm == "rm-ppo"
    assert rounds.job_overrides(round_.algorithm, rounds.overrides_of(round_)) == {
        "reward": {"max_steps": 2},
        "ppo": {"max_steps": 1},
    }


@pytest.mark.ml
@pytest.mark.django_db(transaction=True)
def test_an_unattended_rm_ppo_round_updates_the_reward_model_then_trains_the_next_version_with_ppo_against_it(
    start_worker, tiny_models, v1, prompts
):
    last, round_ = run_unattended(start_worker, prompts, "rm-ppo", RM_PPO_FAST)
    assert {"round", "snapshot", "job", "model", "rating_change"} <= set(last)
    assert last["round"] == 1 and last["snapshot"] == round_.snapshot_id and last["job"] == round_.training_job_id
    # the reward model: updated from the project's newest reward version on the round's preference snapshot
    reward_job, reward = round_.reward_job, round_.reward_version
    assert reward_job.algorithm == "reward" and reward_job.snapshot_id == round_.snapshot_id
    assert reward_job.base_model == tiny_models["reward"] and reward_job.config["max_steps"] == 2
    assert reward.kind == ModelVersion.Kind.REWARD and reward.produced_by_id == reward_job.pk
    # PPO: from the policy, on the round's train prompts, with the new reward version as its reward
    ppo = round_.training_job
    assert ppo.algorithm == "ppo" and ppo.config["reward"] == f"model:{reward.name}" and ppo.config["max_steps"] == 1
    assert ppo.snapshot_id == round_.prompt_snapshot_id
    assert round_.prompt_snapshot.format == "prompts" and round_.prompt_snapshot.rows == 6
    new = ModelVersion.objects.get(name=last["model"])
    assert new.kind == ModelVersion.Kind.POLICY and new.parent == v1 and new.produced_by_id == ppo.pk
    assert last["rating_change"]["new"] == new.name and last["rating_change"]["battles"] == 3


@pytest.mark.ml
def test_a_resumed_rm_ppo_round_whose_ppo_failed_trains_no_second_reward_model(
    db, monkeypatch, client, django_user_model, v1, prompts
):
    from training import jobs
    from training.ml import registry
    from training.models import TrainingJob
    from workers.jobs import run_job

    def broken(*args, **kwargs):
        raise RuntimeError("PPO broke")

    ppo_entry = registry.ENTRIES["ppo"]
    monkeypatch.setitem(registry.ENTRIES, "ppo", broken)
    round_ = rounds.start_round(
        project=prompts,
        policy=v1,
        algorithm="rm-ppo",
        judge="rule:vocab-share",
        settings={**RM_PPO_FAST, "max_new_tokens": 12, "temperature": 1.0, "eval_split": "none"},
    )
    assert run_job(round_.job_id, "test") == "failed"
    round_.refresh_from_db()
    assert round_.status == Round.Status.FAILED and round_.reward_version is not None
    assert round_.training_job.status == Job.Status.FAILED and "PPO broke" in round_.training_job.error
    first = (round_.reward_job_id, round_.reward_version_id, round_.prompt_snapshot_id, round_.training_job_id)

    monkeypatch.setitem(registry.ENTRIES, "ppo", ppo_entry)
    jobs.resume(round_.job)
    assert run_job(round_.job_id, "test") == "succeeded"
    round_.refresh_from_db()
    assert round_.status == Round.Status.DONE
    assert (round_.reward_job_id, round_.reward_version_id, round_.prompt_snapshot_id, round_.training_job_id) == first
    assert TrainingJob.objects.filter(algorithm="reward").count() == 1
    assert ModelVersion.objects.filter(project=prompts, kind=ModelVersion.Kind.REWARD).count() == 2  # + tiny-reward
    assert round_.new_version.produced_by_id == round_.training_job_id

    user = django_user_model.objects.create_user("researcher", password="pw")
    Membership.objects.create(project=prompts, user=user, role=Membership.Role.RESEARCHER)
    client.force_login(user)
    page = client.get(f"/training/projects/{prompts.slug}/rounds/").content.decode()
    assert f"reward job {round_.reward_job_id}" in page and round_.reward_version.name in page
    assert f"ppo job {round_.training_job_id}" in page
