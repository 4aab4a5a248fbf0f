"""The tiny models: deterministic, loadable with the Auto classes, tokenizer round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TEXTS

pytestmark = pytest.mark.ml


def test_it_is_deterministic_given_the_seed(tmp_path: Path) -> None:
    from training.ml.tiny import build_tiny_policy

    first = Path(build_tiny_policy(tmp_path / "a", TEXTS, seed=1))
    second = Path(build_tiny_policy(tmp_path / "b", TEXTS, seed=1))
    other_seed = Path(build_tiny_policy(tmp_path / "c", TEXTS, seed=2))
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "model.safetensors").read_bytes() != (other_seed / "model.safetensors").read_bytes()


def test_the_saved_tokenizer_loads_back_unchanged(tiny_policy: str) -> None:
    from transformers import AutoTokenizer

    from training.ml.tiny import build_tokenizer

    loaded = AutoTokenizer.from_pretrained(tiny_policy)
    fresh = build_tokenizer(TEXTS)
    for text in [*TEXTS, "Unseen wörds,  spaces\nand 123 <|im_end|> tokens!"]:
        assert loaded(text)["input_ids"] == fresh(text)["input_ids"]
    assert len(loaded) <= 512
    assert (loaded.pad_token, loaded.eos_token, loaded.bos_token) == ("<|pad|>", "<|im_end|>", "<|endoftext|>")
    assert len({loaded.pad_token_id, loaded.eos_token_id, loaded.bos_token_id}) == 3


def test_the_chat_template_is_chatml(tiny_policy: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
    )
    assert tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_the_models_load_with_the_auto_classes(tiny_policy: str, tiny_reward: str) -> None:
    import torch

    from training.ml.common import load_model_and_tokenizer

    policy, tokenizer = load_model_and_tokenizer(tiny_policy, "causal")
    reward, _ = load_model_and_tokenizer(tiny_reward, "reward")
    ids = torch.tensor([tokenizer("Tell me about cats.")["input_ids"]])
    assert policy(input_ids=ids).logits.shape == (1, ids.shape[1], len(tokenizer))
    assert reward(input_ids=ids).logits.shape == (1, 1)
    assert type(policy).__name__ == "Qwen2ForCausalLM" and policy.config.num_hidden_layers == 2
    assert reward.config.pad_token_id == tokenizer.pad_token_id
