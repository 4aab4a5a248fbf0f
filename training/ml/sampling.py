"""What every generation backend shares, without torch: sampling settings, prompts and completions.

`training.ml.generate` (local transformers) and `training.ml.openai_client` (an OpenAI-compatible
endpoint) both take a list of `Prompt` and a `Sampling`, and return, per prompt, a list of
`Sampling.n` `Completion`s, so callers can switch backends. This module imports nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Message = Mapping[str, str]
Prompt = str | Sequence[Message]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one generation batch; `temperature == 0` means greedy.

    top_p 1.0 and top_k 0 mean "off". `stop` strings end a completion and are cut from its text.
    `seed` seeds torch before each batch (local) or is sent with each request (endpoint).
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    n: int = 1
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError("stop: must be a list of non-empty strings")
        object.__setattr__(self, "stop", tuple(self.stop))
        checks: list[tuple[str, bool, str]] = [
            ("temperature", _number(self.temperature) and 0 <= self.temperature <= 10, "a number from 0 to 10"),
            ("top_p", _number(self.top_p) and 0 < self.top_p <= 1, "a number above 0 and at most 1"),
            ("top_k", _integer(self.top_k) and self.top_k >= 0, "a whole number, 0 or more"),
            ("max_new_tokens", _integer(self.max_new_tokens) and 1 <= self.max_new_tokens <= 32768, "1 to 32768"),
            ("n", _integer(self.n) and 1 <= self.n <= 64, "1 to 64"),
            ("seed", _integer(self.seed) and 0 <= self.seed < 2**32, "a whole number from 0 to 2**32 - 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name}: must be {expected}, got {getattr(self, name)!r}")
        if len(self.stop) > 8:
            raise ValueError("stop: at most 8 strings")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what a response records as its sampling)."""
        values = asdict(self)
        values["stop"] = list(self.stop)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Sampling:
        """Build from a dict such as `to_dict()` gave; unknown keys are refused by name."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: not a sampling setting (known: {', '.join(sorted(known))})")
        values = dict(values)
        if "stop" in values and not isinstance(values["stop"], str):
            values["stop"] = tuple(values["stop"])
        return cls(**values)


@dataclass(frozen=True)
class Completion:
    """One generated answer: its text (stop strings cut off), how many tokens it took, why it ended."""

    text: str
    tokens: int
    finish_reason: FinishReason


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_prompt(prompt: object, index: int = 0) -> Prompt:
    """`prompt` if it is a string or a list of {"role", "content"} messages; ValueError naming it otherwise."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and prompt:
        for message in prompt:
            if (
                not isinstance(message, Mapping)
                or not isinstance(message.get("role"), str)
                or not isinstance(message.get("content"), str)
            ):
                raise ValueError(f"prompts[{index}]: each message must have a string role and content")
        return prompt
    raise ValueError(f"prompts[{index}]: must be a string or a non-empty list of messages")


def plain_chat(messages: Sequence[Message]) -> str:
    """The fallback for a tokenizer without a chat template: "role: content" lines, then "assistant:"."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """(text before the earliest stop string, whether one was found)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def held_back(text: str, stop: Sequence[str]) -> int:
    """How many trailing characters of `text` could begin a stop string (a stream must not emit them yet)."""
    longest = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                longest = max(longest, k)
                break
    return longest
