"""The Bradley-Terry fit against an independent one (scikit-learn, as FastChat's notebook does)."""

import math

import numpy as np
import pytest

from training import leaderboard as lb

sklearn = pytest.importorskip("sklearn.linear_model")


def synthetic_battles(n: int, strengths: list[float], seed: int = 0) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    p = len(strengths)
    rows = []
    for _ in range(n):
        a, b = rng.choice(p, 2, replace=False)
        pa = 1 / (1 + 10 ** ((strengths[b] - strengths[a]) / 400))
        u = rng.random()
        winner = (
            "tie" if u < 0.1 else ("tie (bothbad)" if u < 0.15 else ("model_a" if rng.random() < pa else "model_b"))
        )
        rows.append((f"m{a}", f"m{b}", winner))
    return rows


def fastchat_mle(rows: list[tuple[str, str, str]]) -> dict[str, float]:
    """FastChat's compute_mle_elo: duplicated rows, a tie as one win each way, LogisticRegression, no penalty."""
    names = sorted({m for a, b, _ in rows for m in (a, b)})
    idx = {m: i for i, m in enumerate(names)}
    x, y = [], []
    for a, b, w in rows:
        row = np.zeros(len(names))
        row[idx[a]], row[idx[b]] = math.log(10), -math.log(10)
        outcomes = {"model_a": (1, 1), "model_b": (0, 0)}.get(w, (1, 0))
        for outcome in outcomes:
            x.append(row)
            y.append(outcome)
    model = sklearn.LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=100000)
    model.fit(np.array(x), np.array(y))
    ratings = 400 * model.coef_[0]
    ratings += 1000 - ratings.mean()
    return dict(zip(names, ratings, strict=True))


def test_the_fit_matches_scikit_learn_within_a_hundredth_of_a_point():
    rows = synthetic_battles(3000, [0, 50, 120, -80, 200])
    ours = {m.name: m.rating for m in lb.leaderboard(rows, bootstrap=0).models}
    theirs = fastchat_mle(rows)
    assert max(abs(ours[name] - theirs[name]) for name in theirs) < 0.01


def test_a_stronger_model_ranks_first_and_its_interval_holds_its_rating():
    board = lb.leaderboard(synthetic_battles(4000, [0, 300, -100]), bootstrap=200, seed=1)
    first = board.models[0]
    assert first.name == "m1" and first.ci[0] < first.rating < first.ci[1]
    assert board.battles == 4000 and sum(m.battles for m in board.models) == 8000
    assert board.win_matrix[0][0] is None and 0.5 < board.win_matrix[0][1] < 1


def test_a_tie_is_half_a_win_each_way():
    board = lb.leaderboard([("x", "y", "tie"), ("y", "x", "tie (bothbad)")], bootstrap=0)
    assert [round(m.rating, 6) for m in board.models] == [1000.0, 1000.0]
    assert all(m.win_rate == 0.5 for m in board.models)


def test_an_unknown_winner_is_refused_naming_it():
    with pytest.raises(ValueError, match="winner: must be one of"):
        lb.leaderboard([("x", "y", "draw")])


def test_a_model_that_never_wins_gets_a_finite_rating_inside_its_interval():
    rows = [("loser", "winner", "model_b")] * 50 + [("winner", "mid", "model_a"), ("mid", "winner", "tie")] * 20
    rows += [("mid", "loser", "model_a")] * 30
    board = {m.name: m for m in lb.leaderboard(rows, bootstrap=300, seed=0).models}
    loser = board["loser"]
    assert math.isfinite(loser.rating) and loser.rating < board["mid"].rating < board["winner"].rating
    assert loser.ci[0] <= loser.rating <= loser.ci[1]
