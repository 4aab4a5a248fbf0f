"""Every algorithm trains for real on the marker task; cancel and resume work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import FAST, HELD_OUT_ROWS, TRAIN_ROWS, conversational, unpaired_rows

pytestmark = pytest.mark.ml


def dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def marker_margin(model_dir: str) -> float:
    """Mean over held-out prompts of log p(chosen) - log p(rejected): chosen holds the marker."""
    from training.ml.common import load_model_and_tokenizer
    from training.ml.evaluate import sequence_logprob

    model, tokenizer = load_model_and_tokenizer(model_dir)
    margins = [
        sequence_logprob(model, tokenizer, row["prompt"], row["chosen"])
        - sequence_logprob(model, tokenizer, row["prompt"], row["rejected"])
        for row in HELD_OUT_ROWS
    ]
    return sum(margins) / len(margins)


def logged_losses(output_dir: Path) -> list[float]:
    import json

    state = json.loads(next(output_dir.glob("checkpoint-*/trainer_state.json")).read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def test_the_reward_model_learns_the_marker(tiny_reward: str, work_dir: Path) -> None:
    from training.ml import reward
    from training.ml.evaluate import reward_model_accuracy

    config = reward.RewardConfig(model_name_or_path=tiny_reward, learning_rate=1e-3, max_steps=30, **FAST)
    result = reward.train(config, dataset(TRAIN_ROWS), work_dir / "reward")
    accuracy = reward_model_accuracy(result.model_dir, HELD_OUT_ROWS)
    print(f"reward model held-out accuracy: {accuracy}")
    assert accuracy >= 0.9
    assert result.final_step == 30 and not result.stopped_early


def test_dpo_raises_the_marker_margin_on_held_out_prompts(tiny_policy: str, work_dir: Path) -> None:
    from training.ml import dpo
    from training.ml.evaluate import dpo_accuracy

    config = dpo.DPOConfig(model_name_or_path=tiny_policy, learning_rate=1e-3, max_steps=15, **FAST)
    result = dpo.train(config, dataset(TRAIN_ROWS), work_dir / "dpo", eval_dataset=dataset(HELD_OUT_ROWS))
    before, after = marker_margin(tiny_policy), marker_margin(result.model_dir)
    accuracy = dpo_accuracy(result.model_dir, tiny_policy, HELD_OUT_ROWS, beta=config.beta)
    print(f"DPO held-out marker margin {before:.3f} -> {after:.3f}, implicit-reward accuracy {accuracy}")
    assert after > before + 1.0
    assert accuracy >= 0.9
    assert "eval_loss" in result.metrics


def test_dpo_with_lora_keeps_the_base_as_reference(tiny_policy: str, work_dir: Path) -> None:
    from training.ml import dpo
    from training.ml.evaluate import dpo_accuracy

    config = dpo.DPOConfig(
        model_name_or_path=tiny_policy, use_lora=True, learning_rate=5e-3, max_steps=15, loss_type="ipo", **FAST
    )
    result = dpo.train(config, dataset(TRAIN_ROWS), work_dir / "dpo_lora")
    assert (Path(result.model_dir) / "adapter_config.json").is_file()
    assert not (Path(result.model_dir) / "model.safetensors").exists()
    before, after = marker_margin(tiny_policy), marker_margin(result.model_dir)
    accuracy = dpo_accuracy(result.model_dir, None, HELD_OUT_ROWS, beta=config.beta)
    print(f"DPO+LoRA (ipo) held-out marker margin {before:.3f} -> {after:.3f}, accuracy {accuracy}")
    assert after > before
    assert accuracy >= 0.9


def test_kto_raises_the_marker_margin_from_binary_labels(tiny_policy: str, work_dir: Path) -> None:
    from training.ml import kto

    config = kto.KTOConfig(model_name_or_path=tiny_policy, learning_rate=1e-3, max_steps=15, **FAST)
    result = kto.train(config, dataset(unpaired_rows(TRAIN_ROWS)), work_dir / "kto")
    before, after = marker_margin(tiny_policy), marker_margin(result.model_dir)
    print(f"KTO held-out marker margin {before:.3f} -> {after:.3f}")
    assert after > before + 1.0
    assert result.metrics["kto_weight_ratio"] == 1.0
    assert result.metrics["kto_weights_out_of_range"] is False


def test_kto_warns_when_the_weighted_classes_are_out_of_balance(tiny_policy: str, work_dir: Path) -> None:
    from training.ml import kto

    rows = unpaired_rows(TRAIN_ROWS)
    lopsided = [row for row in rows if row["label"]] + [row for row in rows if not row["label"]][:6]  # 24:6
    config = kto.KTOConfig(model_name_or_path=tiny_policy, max_steps=1, **FAST)
    with pytest.warns(UserWarning, match="TRL recommends"):
        result = kto.train(config, dataset(lopsided), work_dir / "kto_lopsided")
    assert result.metrics["kto_weight_ratio"] == 4.0
    assert result.metrics["kto_weights_out_of_range"] is True
    assert kto.weight_ratio(24, 6, 1.0, 3.5) == pytest.approx(24 / 21)  # re-weighted: within [1, 4/3]


def test_sft_trains_on_the_chosen_side_of_a_preference_dataset(tiny_policy: str, work_dir: Path) -> None:
    from training.ml import sft
    from training.ml.common import load_model_and_tokenizer

    fast = {**FAST, "save_steps": 10}
    config = sft.SFTConfig(model_name_or_path=tiny_policy, learning_rate=1e-3, max_steps=10, **fast)
    result = sft.train(config, dataset(TRAIN_ROWS), work_dir / "sft")
    losses = logged_losses(work_dir / "sft")
    print(f"SFT loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[-1] < losses[0]
    load_model_and_tokenizer(result.model_dir)


def test_sft_dataset_columns() -> None:
    from training.ml.sft import to_sft_dataset

    prompt_completion = to_sft_dataset(dataset(TRAIN_ROWS[:2]))
    assert prompt_completion.column_names == ["prompt", "completion"]
    assert prompt_completion[0]["completion"] == TRAIN_ROWS[0]["chosen"]
    desirable = to_sft_dataset(dataset(unpaired_rows(TRAIN_ROWS[:2])))
    assert desirable.column_names == ["prompt", "completion"] and len(desirable) == 2
    messages = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]]
    implicit = to_sft_dataset(dataset([{"chosen": messages[0], "rejected": messages[0]}]))
    assert implicit.column_names == ["messages"]
    text = to_sft_dataset(dataset([{"text": "plain"}]))
    assert text.column_names == ["text"]


def test_orpo_runs_end_to_end(tiny_policy: str, work_dir: Path) -> None:
    from training.ml import orpo
    from training.ml.common import load_model_and_tokenizer

    config = orpo.ORPOConfig(model_name_or_path=tiny_policy, learning_rate=1e-3, max_steps=5, **FAST)
    result = orpo.train(config, dataset(TRAIN_ROWS), work_dir / "orpo")
    assert result.final_step == 5
    load_model_and_tokenizer(result.model_dir)


@pytest.mark.parametrize("name", ["reward", "sft", "dpo", "kto", "orpo"])
def test_every_algorithm_trains_a_lora_adapter_on_conversations(
    name: str, tiny_policy: str, tiny_reward: str, work_dir: Path
) -> None:
    from training.algorithms import ALGORITHMS
    from training.ml.common import load_model_and_tokenizer
    from training.ml.evaluate import dpo_accuracy, reward_model_accuracy
    from training.ml.registry import ENTRIES

    config_cls, train, dataset_format = ALGORITHMS[name].config, ENTRIES[name], ALGORITHMS[name].trains_on[0]
    rows = conversational(TRAIN_ROWS)
    base = tiny_reward if name == "reward" else tiny_policy
    config = config_cls(model_name_or_path=base, use_lora=True, max_steps=2, **FAST)
    result = train(config, dataset(unpaired_rows(rows) if dataset_format == "unpaired" else rows), work_dir / name)
    assert result.final_step == 2
    assert (Path(result.model_dir) / "adapter_config.json").is_file()
    load_model_and_tokenizer(result.model_dir, "reward" if name == "reward" else "causal")
    held_out = conversational(HELD_OUT_ROWS)
    if name == "reward":
        assert 0.0 <= reward_model_accuracy(result.model_dir, held_out) <= 1.0
    else:
        assert 0.0 <= dpo_accuracy(result.model_dir, None, held_out, beta=0.1) <= 1.0


def stop_at(step_to_stop: int) -> Any:
    def callback(step: int, max_steps: int, metrics: dict[str, float]) -> bool:
        return step < step_to_stop

    return callback


def test_a_callback_returning_false_stops_training(tiny_reward: str, work_dir: Path) -> None:
    from training.ml import reward

    config = reward.RewardConfig(model_name_or_path=tiny_reward, max_steps=50, **FAST)
    result = reward.train(config, dataset(TRAIN_ROWS), work_dir / "cancel", callback=stop_at(3))
    assert result.stopped_early
    assert 3 <= result.final_step <= 4
    assert Path(result.model_dir, "model.safetensors").is_file()


def test_a_stopped_run_resumes_to_the_same_final_step(tiny_reward: str, work_dir: Path) -> None:
    from training.ml import reward

    config = reward.RewardConfig(model_name_or_path=tiny_reward, max_steps=6, **{**FAST, "save_steps": 2})
    train = dataset(TRAIN_ROWS)
    uninterrupted = reward.train(config, train, work_dir / "straight")

    stopped = reward.train(config, train, work_dir / "resumed", callback=stop_at(3))
    assert stopped.stopped_early and stopped.final_step == 3
    checkpoint = work_dir / "resumed" / "checkpoint-2"
    assert checkpoint.is_dir()
    resumed = reward.train(config, train, work_dir / "resumed", resume_from_checkpoint=checkpoint)
    assert not resumed.stopped_early
    assert resumed.final_step == uninterrupted.final_step == 6
    from safetensors.torch import load_file

    straight_weights = load_file(Path(uninterrupted.model_dir) / "model.safetensors")
    resumed_weights = load_file(Path(resumed.model_dir) / "model.safetensors")
    assert straight_weights.keys() == resumed_weights.keys()
    assert all(straight_weights[k].equal(resumed_weights[k]) for k in straight_weights)  # same data order, same steps


def test_the_registry_names_every_algorithm() -> None:
    from training.algorithms import ALGORITHMS
    from training.ml import dpo, grpo, kto, online_dpo, orpo, ppo, reward, rloo, sft
    from training.ml.registry import ENTRIES, make_config

    assert {name: (a.config, ENTRIES[name], a.trains_on) for name, a in ALGORITHMS.items()} == {
        "reward": (reward.RewardConfig, reward.train, ("preference",)),
        "sft": (sft.SFTConfig, sft.train, ("preference", "unpaired")),  # what sft.to_sft_dataset reads
        "dpo": (dpo.DPOConfig, dpo.train, ("preference",)),
        "kto": (kto.KTOConfig, kto.train, ("unpaired",)),
        "orpo": (orpo.ORPOConfig, orpo.train, ("preference",)),
        # the online algorithms sample from a prompt-only snapshot
        "ppo": (ppo.PPOConfig, ppo.train, ("prompts",)),
        "grpo": (grpo.GRPOConfig, grpo.train, ("prompts",)),
        "rloo": (rloo.RLOOConfig, rloo.train, ("prompts",)),
        "online_dpo": (online_dpo.OnlineDPOConfig, online_dpo.train, ("prompts",)),
    }
    config = make_config("dpo", "some/model", {"beta": 0.2})
    assert isinstance(config, dpo.DPOConfig) and config.beta == 0.2


def test_to_trl_config_refuses_a_field_trl_does_not_have(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from training.algorithms import param
    from training.ml.common import to_trl_config
    from training.ml.dpo import DPOConfig

    @dataclass(kw_only=True)
    class Misspelt(DPOConfig):
        betta: float = param(0.1, "typo")

    with pytest.raises(ValueError, match="betta"):
        to_trl_config(Misspelt(model_name_or_path="x"), tmp_path)
    args = to_trl_config(DPOConfig(model_name_or_path="x", beta=0.3), tmp_path)
    assert args.beta == 0.3 and args.report_to == [] and not args.bf16
