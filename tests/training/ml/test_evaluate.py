"""Evaluation math against numbers computed by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from .conftest import HELD_OUT_ROWS

pytestmark = pytest.mark.ml


def test_pairwise_accuracy_counts_wins_and_half_ties() -> None:
    from training.ml.evaluate import pairwise_accuracy

    # win, loss, tie, win -> (1 + 0 + 0.5 + 1) / 4
    assert pairwise_accuracy([3.0, 1.0, 2.0, 2.0], [1.0, 2.0, 2.0, 0.0]) == 0.625
    assert pairwise_accuracy([1.0], [1.0]) == 0.5
    with pytest.raises(ValueError):
        pairwise_accuracy([1.0], [])
    with pytest.raises(ValueError):
        pairwise_accuracy([], [])


def test_dpo_implicit_reward_is_beta_times_the_log_ratio() -> None:
    from training.ml.evaluate import dpo_implicit_reward

    assert dpo_implicit_reward(-10.0, -12.0, 0.1) == pytest.approx(0.2)
    assert dpo_implicit_reward(-12.0, -10.0, 0.5) == pytest.approx(-1.0)


def _hand_logits() -> tuple[object, object]:
    import torch

    # Tokens [0, 1, 2, 1]; the prompt is [0, 1], the response [2, 1] (response_start = 2).
    # Row t holds the logits that predict token t + 1.
    input_ids = torch.tensor([0, 1, 2, 1])
    logits = torch.tensor(
        [
            [5.0, -3.0, 1.0],  # predicts token 1: a prompt token, masked
            [0.0, 0.0, 0.0],  # predicts token 2 (response): p = 1/3
            [math.log(2.0), 0.0, 0.0],  # predicts token 1 (response): p = 1 / (2 + 1 + 1) = 1/4
            [9.0, 9.0, 9.0],  # predicts nothing
        ]
    )
    return logits, input_ids


def test_response_logprob_sums_response_tokens_by_hand() -> None:
    from training.ml.evaluate import response_logprob

    logits, input_ids = _hand_logits()
    assert response_logprob(logits, input_ids, 2) == pytest.approx(math.log(1 / 3) + math.log(1 / 4))
    # With the whole sequence after token 0 as response, token 1's log p joins the sum.
    token_1 = -3.0 - math.log(math.exp(5.0) + math.exp(-3.0) + math.exp(1.0))
    assert response_logprob(logits, input_ids, 1) == pytest.approx(token_1 + math.log(1 / 12))
    with pytest.raises(ValueError):
        response_logprob(logits, input_ids, 0)


def test_response_logprob_masks_the_prompt() -> None:
    from training.ml.evaluate import response_logprob

    logits, input_ids = _hand_logits()
    base = response_logprob(logits, input_ids, 2)

    prompt_changed = logits.clone()
    prompt_changed[0] = prompt_changed[0] + prompt_changed.new_tensor([-4.0, 7.0, 2.0])
    assert response_logprob(prompt_changed, input_ids, 2) == pytest.approx(base)

    response_changed = logits.clone()
    response_changed[1, 2] += 1.0  # the logit of the first response token
    changed = response_logprob(response_changed, input_ids, 2)
    assert changed == pytest.approx(math.log(math.e / (2 + math.e)) + math.log(1 / 4))
    assert changed != pytest.approx(base)


class BigramModel:
    """A fake causal LM: the logits at each position are a fixed row per current token."""

    def __init__(self, vocab_size: int) -> None:
        import torch

        generator = torch.Generator().manual_seed(0)
        self.table = torch.randn(vocab_size, vocab_size, generator=generator)
        self.device = torch.device("cpu")

    def __call__(self, input_ids: object) -> SimpleNamespace:
        return SimpleNamespace(logits=self.table[input_ids])


def _hand_logprob(table: list[list[float]], ids: list[int], start: int) -> float:
    total = 0.0
    for t in range(start, len(ids)):
        row = table[ids[t - 1]]
        total += row[ids[t]] - math.log(sum(math.exp(x) for x in row))
    return total


@pytest.mark.parametrize(
    ("prompt", "response", "response_text"),
    [
        ("Tell me about cats.", " Cats go well with banana.", " Cats go well with banana."),
        (
            [{"role": "user", "content": "Tell me about cats."}],
            "Cats go well with banana.",
            "Cats go well with banana.<|im_end|>\n",
        ),
        (
            [{"role": "user", "content": "Tell me about cats."}],
            [{"role": "assistant", "content": "Cats go well with banana."}],
            "Cats go well with banana.<|im_end|>\n",
        ),
    ],
)
def test_sequence_logprob_scores_only_the_response(
    tiny_policy: str, prompt: object, response: object, response_text: str
) -> None:
    from transformers import AutoTokenizer

    from training.ml.evaluate import encode_pair, sequence_logprob

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
    ids, start = encode_pair(tokenizer, prompt, response)  # type: ignore[arg-type]
    assert tokenizer.decode(ids[start:]) == response_text
    model = BigramModel(len(tokenizer))
    expected = _hand_logprob(model.table.tolist(), ids, start)
    logprob = sequence_logprob(model, tokenizer, prompt, response)  # type: ignore[arg-type]
    assert logprob == pytest.approx(expected, rel=1e-5)


def test_an_untrained_policy_against_itself_ties_every_pair(tiny_policy: str) -> None:
    from training.ml.evaluate import dpo_accuracy

    assert dpo_accuracy(tiny_policy, tiny_policy, HELD_OUT_ROWS, beta=0.1) == 0.5


def test_dpo_accuracy_needs_a_reference_for_a_full_model(tiny_policy: str) -> None:
    from training.ml.evaluate import dpo_accuracy

    with pytest.raises(ValueError):
        dpo_accuracy(tiny_policy, None, HELD_OUT_ROWS, beta=0.1)


def test_reward_model_accuracy_scores_prompt_plus_response(tiny_reward: str) -> None:
    from training.ml.common import load_model_and_tokenizer
    from training.ml.evaluate import pairwise_accuracy, reward_model_accuracy, reward_score

    model, tokenizer = load_model_and_tokenizer(tiny_reward, "reward")
    chosen = [reward_score(model, tokenizer, r["prompt"], r["chosen"]) for r in HELD_OUT_ROWS]
    rejected = [reward_score(model, tokenizer, r["prompt"], r["rejected"]) for r in HELD_OUT_ROWS]
    assert reward_model_accuracy(tiny_reward, HELD_OUT_ROWS) == pairwise_accuracy(chosen, rejected)
    same = [{**HELD_OUT_ROWS[0], "rejected": HELD_OUT_ROWS[0]["chosen"]}]
    assert reward_model_accuracy(tiny_reward, same) == 0.5
