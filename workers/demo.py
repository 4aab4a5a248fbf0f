"""Tiny demo models built locally (random weights, a tokenizer trained on the demo texts): no download."""

from pathlib import Path


def build_tiny_models(models_dir: Path, texts: list[str]) -> dict[str, str]:
    """Build `tiny-policy` and `tiny-reward` under `models_dir` unless they are there; return their paths."""
    from training.ml.tiny import build_tiny_policy, build_tiny_reward

    paths = {}
    for name, build in (("tiny-policy", build_tiny_policy), ("tiny-reward", build_tiny_reward)):
        out = models_dir / name
        paths[name] = str(out) if (out / "config.json").exists() else build(out, texts)
    return paths
