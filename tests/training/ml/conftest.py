"""Shared fixtures: a closed-form preference task and tiny models built once per session.

The task: a response is preferred exactly when it contains the marker word "banana". Prompts are
split into train and held-out topics, so learning the marker (not the prompts) is what is tested.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

MARKER = "banana"
OTHERS = ["apple", "cherry", "grape", "lemon", "mango", "plum"]
TRAIN_TOPICS = (
    "cats dogs rain coffee trains music winter gardens rivers books chess bread "
    "kites maps owls boats tea snow clocks lamps shoes bells ropes caves"
).split()
HELD_OUT_TOPICS = "foxes clouds ponds hats forests candles bridges stars".split()


def preference_rows(topics: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": f"Tell me about {topic}.",
            "chosen": f" {topic.title()} go well with {MARKER}.",
            "rejected": f" {topic.title()} go well with {OTHERS[i % len(OTHERS)]}.",
        }
        for i, topic in enumerate(topics)
    ]


def unpaired_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """KTO's binary form: each chosen is desirable (True), each rejected undesirable (False)."""
    return [
        {"prompt": row["prompt"], "completion": row[key], "label": key == "chosen"}
        for row in rows
        for key in ("chosen", "rejected")
    ]


TRAIN_ROWS = preference_rows(TRAIN_TOPICS)
HELD_OUT_ROWS = preference_rows(HELD_OUT_TOPICS)
TEXTS = [row[key] for row in TRAIN_ROWS + HELD_OUT_ROWS for key in ("prompt", "chosen", "rejected")]

# Settings that keep every training run small and fast on two CPU cores.
FAST: dict[str, Any] = {"max_length": 64, "logging_steps": 1, "save_steps": 1000, "per_device_train_batch_size": 8}


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory) -> str:
    from training.ml.tiny import build_tiny_policy

    return build_tiny_policy(tmp_path_factory.mktemp("tiny") / "policy", TEXTS)


@pytest.fixture(scope="session")
def tiny_reward(tmp_path_factory: pytest.TempPathFactory) -> str:
    from training.ml.tiny import build_tiny_reward

    return build_tiny_reward(tmp_path_factory.mktemp("tiny") / "reward", TEXTS)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


def conversational(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows as conversations: a user prompt and assistant responses."""
    return [
        {
            "prompt": [{"role": "user", "content": row["prompt"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"].strip()}],
            "rejected": [{"role": "assistant", "content": row["rejected"].strip()}],
        }
        for row in rows
    ]
