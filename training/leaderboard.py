"""Bradley-Terry ratings from pairwise battles, as Chatbot Arena computes them (numpy only, no Django).

A battle is (model_a, model_b, winner) with winner in "model_a", "model_b", "tie", "tie (bothbad)".
A tie counts as half a win each way. Ratings are on the Elo-like scale 400 * log10 odds, centred on
1000 (mean rating 1000), the same solution as FastChat's LogisticRegression without penalty.
Intervals: bootstrap over battles, vectorised: each round draws new counts for the (unordered pair,
outcome) cells from one multinomial, and all rounds are fitted at once by batched Newton steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0
# A whisper of an L2 prior on the strengths: invisible where the data pins a rating (less than 1e-3
# points on thousands of battles), and it keeps a model that never won (or never lost) finite.
PRIOR = 1e-3


@dataclass
class Rating:
    name: str
    rating: float
    ci: tuple[float, float]
    battles: int
    win_rate: float


@dataclass
class Leaderboard:
    models: list[Rating]
    battles: int
    win_matrix: list[list[float | None]]  # win_matrix[i][j]: share of i's battles against j that i won (ties half)


def _cells(battles: Iterable[tuple[str, str, str]]) -> tuple[list[str], np.ndarray]:
    """Model names and the counts array C[a, b, k]: battles of a (left) vs b with outcome k (a, b, tie)."""
    rows = list(battles)
    names = sorted({m for a, b, _ in rows for m in (a, b)})
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((len(names), len(names), 3))
    for a, b, winner in rows:
        if winner not in WINNERS:
            raise ValueError(f"winner: must be one of {', '.join(WINNERS)}, not {winner!r}")
        if a == b:
            continue
        counts[index[a], index[b], min(WINNERS.index(winner), 2)] += 1
    return names, counts


def _wins(counts: np.ndarray) -> np.ndarray:
    """W[..., i, j]: wins of i over j, a tie counting half each way."""
    a_wins, b_wins, ties = counts[..., 0], counts[..., 1], counts[..., 2]
    swap = np.swapaxes
    return a_wins + swap(b_wins, -1, -2) + 0.5 * (ties + swap(ties, -1, -2))


def _bootstrap_wins(counts: np.ndarray, rounds: int, seed: int) -> np.ndarray:
    """W for `rounds` resamples of the battles, drawn as counts: one multinomial over the cells
    (unordered pair, outcome), which is what resampling the battle rows gives for W."""
    p = counts.shape[0]
    upper = np.triu_indices(p, 1)
    wins = _wins(counts)
    ties = counts[..., 2] + counts[..., 2].T
    i_wins, j_wins = wins - 0.5 * ties, (wins - 0.5 * ties).T  # decisive wins each way
    cells = np.stack([i_wins[upper], j_wins[upper], ties[upper]], axis=-1).ravel()
    total = int(round(cells.sum()))
    drawn = np.random.default_rng(seed).multinomial(total, cells / total, size=rounds).reshape(rounds, -1, 3)
    out = np.zeros((rounds, p, p))
    out[:, upper[0], upper[1]] = drawn[..., 0] + 0.5 * drawn[..., 2]
    out[:, upper[1], upper[0]] = drawn[..., 1] + 0.5 * drawn[..., 2]
    return out


def fit(wins: np.ndarray, iterations: int = 100, tol: float = 1e-10, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry strengths theta (natural log odds), sum zero, for one or many W.

    Maximises sum_ij W_ij log sigmoid(theta_i - theta_j) - PRIOR/2 |theta|^2 by Newton's method; `wins` is (..., p, p);
    `start` (p,) is where every fit begins (the point estimate, for bootstrap rounds).
    """
    batch = wins.reshape(-1, *wins.shape[-2:])
    r, p, _ = batch.shape
    games = batch + np.swapaxes(batch, 1, 2)
    theta = np.zeros((r, p)) if start is None else np.repeat(start[None, :], r, axis=0)
    ones = np.ones((p, p)) / p
    for _ in range(iterations):
        sig = 1.0 / (1.0 + np.exp(-(theta[:, :, None] - theta[:, None, :])))  # P(i beats j)
        grad = (batch * (1 - sig) - np.swapaxes(batch, 1, 2) * sig).sum(axis=2) - PRIOR * theta
        curvature = games * sig * (1 - sig)
        neg_hessian = np.eye(p)[None] * (curvature.sum(axis=2) + PRIOR)[:, :, None] - curvature
        # the likelihood is flat along (1, ..., 1): solve in the sum-zero subspace
        step = np.linalg.solve(neg_hessian + ones[None] + 1e-12 * np.eye(p)[None], grad[:, :, None])[:, :, 0]
        step = np.clip(step, -2.0, 2.0)
        theta = theta + step
        theta -= theta.mean(axis=1, keepdims=True)
        if np.abs(grad).max() < tol:
            break
    return theta.reshape(*wins.shape[:-2], p)


def to_rating(theta: np.ndarray) -> np.ndarray:
    return INIT_RATING + SCALE * theta / math.log(BASE)


def leaderboard(battles: Iterable[tuple[str, str, str]], *, bootstrap: int = 1000, seed: int = 0) -> Leaderboard:
    """Ratings with 95% bootstrap intervals, battle counts, win rates and the win-rate matrix."""
    names, counts = _cells(battles)
    p = len(names)
    if p == 0:
        return Leaderboard(models=[], battles=0, win_matrix=[])
    wins = _wins(counts)
    theta = fit(wins)
    ratings = to_rating(theta)
    total = int(counts.sum())
    if bootstrap > 0 and total > 0:
        boot = to_rating(fit(_bootstrap_wins(counts, bootstrap, seed), start=theta))
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    else:
        low, high = ratings, ratings
    games = wins + wins.T
    played = games.sum(axis=1)
    models = [
        Rating(
            name=names[i],
            rating=float(ratings[i]),
            ci=(float(low[i]), float(high[i])),
            battles=int(round(played[i])),
            win_rate=float(wins[i].sum() / played[i]) if played[i] else 0.0,
        )
        for i in range(p)
    ]
    order = sorted(range(p), key=lambda i: -ratings[i])
    matrix = [[float(wins[i, j] / games[i, j]) if games[i, j] else None for j in order] for i in order]
    return Leaderboard(models=[models[i] for i in order], battles=total, win_matrix=matrix)
