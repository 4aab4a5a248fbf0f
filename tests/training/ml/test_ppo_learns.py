"""PPO (training/ml/ppo.py) learns a closed-form reward on the tiny model, and resumes where it stopped."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.training.ml.conftest import HELD_OUT_ROWS, TRAIN_ROWS

pytestmark = pytest.mark.ml

VOCAB_SHARE = {"kind": "rule", "rule": "vocab-share"}
PROMPTS = [{"prompt": row["prompt"]} for row in TRAIN_ROWS]
HELD_OUT = [row["prompt"] for row in HELD_OUT_ROWS]
# short responses: each token weighs more in the score, so a few steps move it
SMALL: dict[str, Any] = {"max_length": 64, "response_length": 6, "temperature": 1.0, "logging_steps": 1}


def test_ppo_raises_the_vocab_share_reward_on_held_out_prompts(tiny_policy: str, work_dir: Path) -> None:
    from datasets import Dataset

    from training.algorithms import PPOConfig
    from training.ml import ppo
    from training.ml.online import sampled_rewards

    logged: list[dict[str, float]] = []

    def progress(step: int, max_steps: int, metrics: dict[str, float]) -> bool:
        if metrics:
            logged.append(metrics)
        return True

    config = PPOConfig(
        model_name_or_path=tiny_policy, max_steps=6, learning_rate=1e-2, per_device_train_batch_size=32,
        kl_coef=0.01, save_steps=1000, **SMALL,
    )  # fmt: skip
    result = ppo.train(config, Dataset.from_list(PROMPTS), work_dir / "ppo-learns", progress, reward=VOCAB_SHARE)

    assert result.final_step == 6 and len(logged) == 6
    for name in ("reward_mean", "reward_std", "kl", "entropy", "response_length", "value_loss", "clip_fraction",
                 "approx_kl", "explained_variance"):  # fmt: skip
        assert name in logged[-1], name
    start = sampled_rewards(tiny_policy, [], HELD_OUT, VOCAB_SHARE, samples=8, max_new_tokens=6)
    end = sampled_rewards(result.model_dir, [], HELD_OUT, VOCAB_SHARE, samples=8, max_new_tokens=6)
    stderr = (statistics.variance(start) / len(start) + statistics.variance(end) / len(end)) ** 0.5
    assert statistics.mean(end) > statistics.mean(start) + 2 * stderr, (statistics.mean(start), statistics.mean(end))


def test_a_lora_ppo_run_resumes_from_its_checkpoint_and_continues_the_step_count(
    tiny_policy: str, work_dir: Path
) -> None:
    from datasets import Dataset

    from training.algorithms import PPOConfig
    from training.ml import ppo

    steps: list[int] = []
    config = PPOConfig(
        model_name_or_path=tiny_policy, use_lora=True, max_steps=2, save_steps=1, per_device_train_batch_size=2,
        num_ppo_epochs=1, **{**SMALL, "response_length": 3},
    )  # fmt: skip
    out = work_dir / "ppo-resume"
    first = ppo.train(config, Dataset.from_list(PROMPTS[:4]), out, lambda s, m, x: not steps.append(s) and s < 1,
                      reward=VOCAB_SHARE)  # fmt: skip
    assert first.stopped_early and first.final_step == 1
    checkpoint = out / "checkpoint-1"
    assert json.loads((checkpoint / "trainer_state.json").read_text()) == {"global_step": 1}
    assert (checkpoint / "policy" / "adapter_config.json").is_file() and (checkpoint / "optimizer.pt").is_file()

    steps.clear()
    second = ppo.train(config, Dataset.from_list(PROMPTS[:4]), out, lambda s, m, x: not steps.append(s),
                       resume_from_checkpoint=checkpoint, reward=VOCAB_SHARE)  # fmt: skip
    assert second.final_step == 2 and set(steps) == {2}
    assert (Path(second.model_dir) / "adapter_config.json").is_file()
    assert (Path(second.model_dir) / "tokenizer_config.json").is_file()
