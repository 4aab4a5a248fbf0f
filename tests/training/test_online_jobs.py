"""Online training jobs (GRPO, RLOO, online DPO): the reward source is checked at launch against the
project, and `launch_job --reward` runs through a real worker to a registered policy version."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.training.conftest import wait_for
from training import algorithms, services
from training.models import Job, ModelVersion

pytestmark = pytest.mark.ml

PROMPTS = [
    {"prompt": f"Tell me about {topic}."} for topic in "cats dogs rain coffee trains music winter gardens".split()
]
HELD_OUT = [{"prompt": f"Tell me about {topic}."} for topic in "foxes clouds ponds hats".split()]
TINY = {"max_steps": 2, "logging_steps": 1, "per_device_train_batch_size": 4, "learning_rate": 1e-3}


def test_every_online_algorithm_says_it_needs_a_reward_and_trains_on_prompts() -> None:
    for name in ("grpo", "rloo", "online_dpo"):
        row = algorithms.get(name)
        assert row.reward_required and row.trains_on == ("prompts",) and row.produces == "policy"
    assert not algorithms.get("dpo").reward_required


@pytest.mark.django_db
@pytest.mark.parametrize(
    "reward, message",
    [
        (None, "reward: is required"),
        ("banana", "reward: must be model:NAME, judge:NAME or rule:NAME"),
        ("model:nope", "reward: no model named 'nope'"),
        ("model:tiny-policy", "reward: tiny-policy is not a local reward model"),
        ("judge:nope", "reward: no judge named 'nope'"),
        ("rule:nope", "reward: .*nope"),
    ],
)
def test_an_online_job_is_refused_without_a_reward_source_of_its_project(
    tiny_models, make_snapshot, reward, message
) -> None:
    train, _ = make_snapshot("prompts", train=PROMPTS, test=HELD_OUT)
    overrides = {} if reward is None else {"reward": reward}
    with pytest.raises(algorithms.ConfigError, match=message) as error:
        services.launch_job(algorithm="grpo", base_model=tiny_models["policy"], snapshot=train, overrides=overrides)
    assert error.value.field == "reward"
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_rule_a_reward_model_or_a_judge_of_the_project_is_accepted(tiny_models, make_snapshot) -> None:
    from training import judging

    train, _ = make_snapshot("prompts", train=PROMPTS, test=HELD_OUT)
    judging.register_judge(train.project, name="shares", kind="rule", settings={"rule": "vocab-share"})
    for algorithm, reward in [
        ("grpo", "rule:vocab-share"),
        ("rloo", "model:tiny-reward"),
        ("online_dpo", "judge:shares"),
    ]:
        job = services.launch_job(
            algorithm=algorithm, base_model=tiny_models["policy"], snapshot=train, overrides={"reward": reward}
        )
        assert job.config["reward"] == reward and job.status == Job.Status.QUEUED


@pytest.mark.django_db
def test_an_online_algorithm_refuses_a_preference_snapshot(tiny_models, make_snapshot) -> None:
    train, _ = make_snapshot("preference")
    with pytest.raises(algorithms.ConfigError, match="GRPO trains on a prompts snapshot"):
        services.launch_job(algorithm="grpo", base_model=tiny_models["policy"], snapshot=train,
                            overrides={"reward": "rule:vocab-share"})  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "algorithm, reward, extra",
    [
        ("grpo", "rule:vocab-share", ["num_generations=4", "max_completion_length=8"]),
        ("online_dpo", "judge:shares", ["max_new_tokens=8", "max_length=48", "use_lora=true"]),
    ],
)
def test_launch_job_with_a_reward_trains_on_a_worker_and_registers_the_policy(
    start_worker, tiny_models, make_snapshot, algorithm, reward, extra
) -> None:
    from training import judging

    worker = start_worker()
    train, _ = make_snapshot("prompts", train=PROMPTS, test=HELD_OUT)
    judging.register_judge(train.project, name="shares", kind="rule", settings={"rule": "vocab-share"})
    sets = [f"{key}={value}" for key, value in TINY.items()] + extra
    out = io.StringIO()
    args = ["--algorithm", algorithm, "--base", "tiny-policy", "--snapshot", str(train.pk), "--reward", reward]
    call_command("launch_job", *args, *[x for s in sets for x in ("--set", s)], "--wait", "--timeout", "300",
                 stdout=out)  # fmt: skip
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    job = Job.objects.get(pk=last["job"])
    wait_for(lambda: job.is_finished, 5, "the job", worker)
    assert last["status"] == "succeeded", f"{job.error}\n{worker.output()}"
    assert last["output_model"] == f"{algorithm}-{job.pk}" and job.step == 2
    model = ModelVersion.objects.get(produced_by=job)
    assert model.kind == "policy" and model.parent == tiny_models["policy"]
    assert any(key.startswith("rewards/") or key.startswith("objective/scores") for key in last["metrics"])


@pytest.mark.django_db
def test_launch_job_names_the_reward_field_when_it_is_wrong(tiny_models, make_snapshot) -> None:
    train, _ = make_snapshot("prompts", train=PROMPTS, test=HELD_OUT)
    with pytest.raises(CommandError, match="reward: no model named 'ghost'"):
        call_command("launch_job", "--algorithm", "rloo", "--base", "tiny-policy", "--snapshot", str(train.pk),
                     "--reward", "model:ghost", stdout=io.StringIO())  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value_model, message",
    [("banana", "must be model:NAME"), ("model:ghost", "no model named 'ghost'"), ("model:tiny-policy", "not a local")],
)
def test_ppo_refuses_a_value_model_that_is_not_a_reward_version_of_the_project(
    tiny_models, make_snapshot, value_model, message
) -> None:
    train, _ = make_snapshot("prompts", train=PROMPTS, test=HELD_OUT)
    with pytest.raises(algorithms.ConfigError, match=message) as error:
        services.launch_job(algorithm="ppo", base_model=tiny_models["policy"], snapshot=train,
                            overrides={"reward": "rule:vocab-share", "value_model": value_model})  # fmt: skip
    assert error.value.field == "value_model" and not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_ppo_on_a_worker_starts_its_value_model_from_the_reward_version_the_job_names(
    start_worker, tiny_models, make_snapshot
) -> None:
    """With a rule as reward, value_model=model:NAME gives the value model the reward version's weights
    (score head included), not the policy's backbone with a fresh head."""
    from pathlib import Path

    import torch
    from safetensors.torch import load_file

    worker = start_worker()
    train, _ = make_snapshot("prompts", train=PROMPTS, test=HELD_OUT)
    overrides = {"reward": "rule:vocab-share", "value_model": "model:tiny-reward", "max_steps": 2, "save_steps": 1,
                 "per_device_train_batch_size": 4, "response_length": 8, "learning_rate": 1e-9,
                 "num_ppo_epochs": 1}  # fmt: skip
    job = services.launch_job(algorithm="ppo", base_model=tiny_models["policy"], snapshot=train, overrides=overrides)
    wait_for(lambda: (job.refresh_from_db(), job.is_finished)[1], 300, "the PPO job", worker)
    assert job.status == Job.Status.SUCCEEDED, f"{job.error}\n{worker.output()}"
    saved = load_file(str(job.output_dir / "checkpoint-1" / "value" / "model.safetensors"))
    reward = load_file(str(Path(tiny_models["reward"].base) / "model.safetensors"))
    assert torch.allclose(saved["score.weight"].float(), reward["score.weight"].float(), atol=1e-5)
