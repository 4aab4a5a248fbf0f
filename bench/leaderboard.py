"""Bradley-Terry leaderboard: 100,000 synthetic votes over 30 models, 1,000 bootstrap rounds.

Baseline in the same run: FastChat's way (scikit-learn LogisticRegression without penalty on the
battles), timed on a few bootstrap rounds and scaled to the same number of rounds. Prints, last:
{"votes", "models", "rounds", "seconds", "max_diff_vs_reference", "reference_seconds", "ratio"}.

    python bench/leaderboard.py [--votes 100000] [--models 30] [--rounds 1000] [--reference-rounds 3]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.training.test_leaderboard_math import fastchat_mle  # noqa: E402
from training import leaderboard as lb  # noqa: E402


def votes(n: int, p: int, seed: int) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0, 150, p)
    a = rng.integers(0, p, n)
    b = (a + rng.integers(1, p, n)) % p
    pa = 1 / (1 + 10 ** ((strengths[b] - strengths[a]) / 400))
    u = rng.random(n)
    winner = np.where(u < 0.1, "tie", np.where(rng.random(n) < pa, "model_a", "model_b"))
    return [(f"model-{i:02d}", f"model-{j:02d}", str(w)) for i, j, w in zip(a, b, winner, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--reference-rounds", type=int, default=3)
    args = parser.parse_args()
    rows = votes(args.votes, args.models, seed=0)

    start = time.perf_counter()
    board = lb.leaderboard(rows, bootstrap=args.rounds, seed=0)
    seconds = time.perf_counter() - start

    start = time.perf_counter()
    reference = fastchat_mle(rows)
    rng = np.random.default_rng(1)
    for _ in range(args.reference_rounds - 1):  # bootstrap rounds the row-by-row way
        fastchat_mle([rows[i] for i in rng.integers(0, len(rows), len(rows))])
    reference_seconds = (time.perf_counter() - start) / args.reference_rounds * (args.rounds + 1)
    diff = max(abs(m.rating - reference[m.name]) for m in board.models)
    print(
        f"ours: {seconds:.2f} s for the fit and {args.rounds} bootstrap rounds; "
        f"scikit-learn on rows: ~{reference_seconds:.0f} s for the same (estimated from {args.reference_rounds})"
    )
    print(
        json.dumps(
            {
                "votes": len(rows),
                "models": len(board.models),
                "rounds": args.rounds,
                "seconds": round(seconds, 3),
                "max_diff_vs_reference": round(diff, 5),
                "reference_seconds": round(reference_seconds, 1),
                "ratio": round(reference_seconds / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
