"""The PPO math of training/ml/ppo.py against numbers computed by hand (the hand computation is in each comment)."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.ml

torch = pytest.importorskip("torch")


def t(rows: list) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_masked_mean_ignores_padding() -> None:
    from training.ml.ppo import masked_mean

    # (1 + 2 + 3) / 3 = 2; the padded 100 does not count
    assert masked_mean(t([[1, 2, 3, 100]]), t([[1, 1, 1, 0]])).item() == pytest.approx(2.0)


def test_whitening_uses_only_the_valid_tokens_and_zeroes_the_rest() -> None:
    from training.ml.ppo import masked_whiten

    # valid 1, 2, 3: mean 2, population variance (1 + 0 + 1) / 3 = 2/3, std sqrt(2/3) = 0.81650
    # (1 - 2) / 0.81650 = -1.22474, 0, +1.22474; the padded 100 becomes 0 and moves nothing
    whitened = masked_whiten(t([[1, 2, 3, 100]]), t([[1, 1, 1, 0]]))
    assert whitened.tolist()[0] == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5), 0.0], abs=1e-6)


def test_gae_on_a_three_token_example() -> None:
    from training.ml.ppo import gae

    # gamma 0.9, lam 0.5, so gamma * lam = 0.45. Row 1, all valid: r = [0, 0, 1], V = [0.1, 0.2, 0.3]
    #   t=2: delta = 1 + 0.9*0 - 0.3 = 0.7                        A2 = 0.7
    #   t=1: delta = 0 + 0.9*0.3 - 0.2 = 0.07                     A1 = 0.07 + 0.45*0.7 = 0.385
    #   t=0: delta = 0 + 0.9*0.2 - 0.1 = 0.08                     A0 = 0.08 + 0.45*0.385 = 0.25325
    #   returns = A + V = [0.35325, 0.585, 1.0]
    # Row 2, the third token is padding (its value 9 is garbage): r = [0, 2, 0], V = [0.5, 1.0, -]
    #   t=2: padding                                               A2 = 0
    #   t=1: delta = 2 + 0.9*0 - 1.0 = 1.0 (the episode ends)     A1 = 1.0
    #   t=0: delta = 0 + 0.9*1.0 - 0.5 = 0.4                      A0 = 0.4 + 0.45*1.0 = 0.85
    #   returns = [1.35, 2.0, 0]
    rewards = t([[0, 0, 1], [0, 2, 0]])
    values = t([[0.1, 0.2, 0.3], [0.5, 1.0, 9.0]])
    mask = t([[1, 1, 1], [1, 1, 0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    assert advantages.tolist() == [pytest.approx([0.25325, 0.385, 0.7]), pytest.approx([0.85, 1.0, 0.0])]
    assert returns.tolist() == [pytest.approx([0.35325, 0.585, 1.0]), pytest.approx([1.35, 2.0, 0.0])]


def test_the_kl_penalty_lands_on_every_token_and_the_score_on_the_last_valid_one() -> None:
    from training.ml.ppo import kl_penalty_rewards

    # kl_coef 0.1. Row 1 (3 valid): logp - ref = [0.5, 0, -1] -> -0.1 * that = [-0.05, 0, 0.1]; score 2 at t=2
    #   -> [-0.05, 0, 2.1]
    # Row 2 (2 valid): logp - ref = [1, 0, (4, padding)] -> [-0.1, 0, 0]; score -1 at t=1 -> [-0.1, -1.0, 0]
    rewards = kl_penalty_rewards(
        scores=t([2.0, -1.0]),
        logprobs=t([[-1, -2, -3], [-1, -1, -1]]),
        ref_logprobs=t([[-1.5, -2, -2], [-2, -1, -5]]),
        mask=t([[1, 1, 1], [1, 1, 0]]),
        kl_coef=0.1,
    )
    assert rewards.tolist() == [pytest.approx([-0.05, 0.0, 2.1]), pytest.approx([-0.1, -1.0, 0.0])]


def test_the_clipped_policy_loss_takes_the_pessimistic_term() -> None:
    from training.ml.ppo import policy_loss

    # cliprange 0.2, so the ratio is clipped to [0.8, 1.2]; per token max(-A r, -A clip(r)):
    #   r 1.5, A +1: max(-1.5, -1.2) = -1.2  (clipped)
    #   r 1.5, A -1: max( 1.5,  1.2) =  1.5  (not clipped: clipping would only help)
    #   r 0.5, A -1: max( 0.5,  0.8) =  0.8  (clipped)
    #   r 1.1, A -2: max( 2.2,  2.2) =  2.2  (inside the range)
    #   r e^5, A 3: padding, ignored
    # loss = (-1.2 + 1.5 + 0.8 + 2.2) / 4 = 0.825; clip fraction 2/4
    ratios = [1.5, 1.5, 0.5, 1.1, math.exp(5)]
    old = t([[-1.0] * 5])
    new = old + t([[math.log(r) for r in ratios]])
    loss, clipped = policy_loss(new, old, t([[1, -1, -1, -2, 3]]), t([[1, 1, 1, 1, 0]]), cliprange=0.2)
    assert loss.item() == pytest.approx(0.825)
    assert clipped.item() == pytest.approx(0.5)


def test_the_clipped_value_loss_takes_the_larger_error() -> None:
    from training.ml.ppo import value_loss

    # cliprange_value 0.2 around V_old = 1, so V_clipped is in [0.8, 1.2]:
    #   V 1.5, R 2: (1.5-2)^2 = 0.25, (1.2-2)^2 = 0.64 -> 0.64 (clipped)
    #   V 0.9, R 0: (0.9-0)^2 = 0.81 both                -> 0.81
    #   V 2.0, R 1: (2.0-1)^2 = 1.00, (1.2-1)^2 = 0.04 -> 1.00
    #   padding: ignored
    # loss = 0.5 * (0.64 + 0.81 + 1.00) / 3 = 0.408333; clip fraction 1/3
    loss, clipped = value_loss(
        t([[1.5, 0.9, 2.0, 50.0]]), t([[1.0, 1.0, 1.0, 1.0]]), t([[2.0, 0.0, 1.0, 0.0]]), t([[1, 1, 1, 0]]), 0.2
    )
    assert loss.item() == pytest.approx(0.5 * 2.45 / 3)
    assert clipped.item() == pytest.approx(1 / 3)
