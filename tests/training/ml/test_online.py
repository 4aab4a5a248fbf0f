"""GRPO, RLOO and online DPO learn a closed-form reward; reward sources become TRL reward functions; the
reference of a full fine-tune is the real starting policy; TRL's online DPO completion layout is pinned.

The reward is `vocab-share` (the share of completion tokens with id % 4 == 0): about 0.25 for the tiny
random policy, which samples almost uniformly. One seed and few steps here; bench/online_rl.py runs 3 seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import HELD_OUT_TOPICS, TRAIN_TOPICS

pytestmark = pytest.mark.ml

RULE = {"kind": "rule", "rule": "vocab-share"}
TRAIN_PROMPTS = [{"prompt": f"Tell me about {topic}."} for topic in TRAIN_TOPICS]
HELD_OUT_PROMPTS = [f"Tell me about {topic}." for topic in HELD_OUT_TOPICS]
SHORT = {"logging_steps": 5, "save_steps": 1000, "per_device_train_batch_size": 8, "seed": 0}
# (steps, settings): a fixed budget per algorithm, found on the tiny model (learning rate 1e-2, full model)
BUDGETS: dict[str, tuple[int, dict[str, Any]]] = {
    "grpo": (30, {"num_generations": 4, "max_completion_length": 16}),
    "rloo": (50, {"num_generations": 4, "max_completion_length": 16}),
    "online_dpo": (30, {"max_new_tokens": 16, "max_length": 64}),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Sampling a tiny model is many small ops: on a shared 2-core machine, 2 threads spin ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mean_and_stderr(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) / len(values) ** 0.5


@pytest.mark.parametrize("algorithm", list(BUDGETS))
def test_each_online_algorithm_raises_the_held_out_reward_above_the_starting_policy(
    algorithm: str, tiny_policy: str, work_dir: Path
) -> None:
    from training.ml import registry
    from training.ml.online import sampled_rewards

    steps, settings = BUDGETS[algorithm]
    values = {**SHORT, **settings, "learning_rate": 1e-2, "max_steps": steps, "reward": "rule:vocab-share"}
    result = registry.train(
        algorithm, base=tiny_policy, adapters=[], values=values, train_rows=TRAIN_PROMPTS,
        output_dir=work_dir / f"online-{algorithm}", reward=RULE,
    )  # fmt: skip
    base, adapters = registry.output_chain(result.model_dir, tiny_policy, [])
    start = mean_and_stderr(sampled_rewards(tiny_policy, [], HELD_OUT_PROMPTS, RULE, samples=4, max_new_tokens=16))
    end = mean_and_stderr(sampled_rewards(base, adapters, HELD_OUT_PROMPTS, RULE, samples=4, max_new_tokens=16))
    print(f"{algorithm}: held-out vocab-share {start[0]:.3f} -> {end[0]:.3f} (stderr {end[1]:.3f})")
    assert result.final_step == steps
    assert end[0] - start[0] > 0.08
    assert end[0] - start[0] > 2 * (start[1] ** 2 + end[1] ** 2) ** 0.5


def test_a_rule_reward_scores_completion_ids_without_the_padding_online_dpo_adds() -> None:
    from training.ml.rewards import reward_function

    fn = reward_function(RULE, layout="pairs", pad_token_ids=[2])
    assert fn(prompts=["p", "p"], completions=["a", "b"], completion_ids=[[4, 5, 2, 2], [8, 12]]) == [0.5, 1.0]
    assert fn.__name__ == "vocab-share"


def test_a_reward_model_version_scores_text_with_its_own_tokenizer(tiny_reward: str) -> None:
    import torch

    from training.ml.common import load_model_and_tokenizer
    from training.ml.rewards import reward_function

    fn = reward_function({"kind": "model", "base": tiny_reward, "adapters": []})
    scores = fn(prompts=["Tell me about cats.", "Hi"], completions=[" Cats go well with banana.", " there"])
    model, tokenizer = load_model_and_tokenizer(tiny_reward, "reward")
    with torch.inference_mode():
        ids = tokenizer("Tell me about cats. Cats go well with banana.", return_tensors="pt", add_special_tokens=False)
        expected = float(model(**ids).logits[0, 0])
    assert len(scores) == 2 and scores[0] == pytest.approx(expected, abs=1e-4)


def test_a_pairwise_judge_over_groups_gives_each_completion_its_share_of_wins() -> None:
    from training.ml.rewards import group_round_robin

    def longer_wins(prompts: list[Any], completions: list[str], completion_ids: Any = None, **kw: Any) -> list[float]:
        half = len(completions) // 2
        out = [0.0] * len(completions)
        for i in range(half):
            a, b = len(completions[i]), len(completions[half + i])
            out[i], out[half + i] = (1.0, 0.0) if a > b else (0.0, 1.0) if b > a else (0.5, 0.5)
        return out

    fn = group_round_robin(longer_wins, num_generations=3)
    rewards = fn(prompts=["p"] * 3 + ["q"] * 3, completions=["aaa", "a", "aa", "x", "x", "xy"], completion_ids=[[]] * 6)
    assert rewards == [1.0, 0.0, 0.5, 0.25, 0.25, 1.0]


def test_online_dpo_calls_the_reward_with_both_halves_on_the_same_prompts(tiny_policy: str, work_dir: Path) -> None:
    """TRL's 2B layout [p0c0 .. pB-1c0, p0c1 .. pB-1c1], which a pairwise judge relies on; and the first
    half wins where its reward is at least the second's. A TRL upgrade that changes either fails here."""
    from datasets import Dataset
    from trl.experimental.online_dpo import OnlineDPOTrainer

    from training.algorithms import OnlineDPOConfig
    from training.ml.common import load_model_and_tokenizer, to_trl_config

    calls: list[list[Any]] = []

    def recording(prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kw: Any) -> list[float]:
        calls.append(list(prompts))
        return [1.0] * (len(prompts) // 2) + [0.0] * (len(prompts) // 2)

    config = OnlineDPOConfig(
        model_name_or_path=tiny_policy, max_steps=1, per_device_train_batch_size=4, max_new_tokens=4, max_length=32,
        save_steps=1000, logging_steps=1,
    )  # fmt: skip
    model, tokenizer = load_model_and_tokenizer(tiny_policy)
    trainer = OnlineDPOTrainer(
        model=model, reward_funcs=[recording], args=to_trl_config(config, work_dir / "layout"),
        train_dataset=Dataset.from_list(TRAIN_PROMPTS[:4]), processing_class=tokenizer,
    )  # fmt: skip
    trainer.train()
    (prompts,) = calls
    assert len(prompts) == 8 and prompts[:4] == prompts[4:] and len(set(prompts[:4])) == 4
    assert trainer.state.log_history[0]["objective/scores_margin"] == pytest.approx(1.0)


def test_without_lora_the_grpo_reference_is_the_merged_starting_version(tiny_policy: str, work_dir: Path) -> None:
    """A version base + adapter trained in full with beta > 0: TRL reloads the reference from the model's
    `_name_or_path`; it must be the merged start, not the original base."""
    import torch
    from peft import LoraConfig, get_peft_model

    from training.algorithms import GRPOConfig
    from training.ml.common import load_model_and_tokenizer
    from training.ml.online import starting_point

    model, _ = load_model_and_tokenizer(tiny_policy)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    adapter = work_dir / "ref-adapter"
    peft.save_pretrained(adapter)
    config = GRPOConfig(model_name_or_path=tiny_policy, beta=0.1)
    started, adapters = starting_point(config, [str(adapter)], work_dir / "ref-run", reference_reloaded=True)
    assert adapters == [] and started.model_name_or_path == str(work_dir / "ref-run" / "start")
    reloaded, _ = load_model_and_tokenizer(started.model_name_or_path)
    merged, _ = load_model_and_tokenizer(tiny_policy, adapters=[str(adapter)])
    base, _ = load_model_and_tokenizer(tiny_policy)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        assert torch.allclose(reloaded(ids).logits, merged(ids).logits, atol=1e-5)
        assert not torch.allclose(reloaded(ids).logits, base(ids).logits, atol=1e-3)
    assert starting_point(config, [str(adapter)], work_dir / "x", reference_reloaded=False)[1] == [str(adapter)]
