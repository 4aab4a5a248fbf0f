"""Closed-form rule rewards: pure Python on text and token ids (no torch), as TRL reward functions.

Every rule has TRL's reward-function signature, reward(prompts, completions, completion_ids, **columns)
-> list[float], and is named as a job or a judge names it, without the "rule:" prefix:

- `length`: the completion's length, normalised to [0, 1]: tokens / 256 when token ids are given,
  else characters / 1024 (longer counts as 1);
- `vocab-share`: the share of the completion's tokens whose id is in a fixed quarter of the vocabulary
  (id % 4 == 0); 0 for an empty completion. Varies on a tiny random model, so online algorithms can be
  seen to learn on it;
- `regex:<pattern>`: 1 when the completion's text matches the (Python) pattern anywhere, else 0;
- `keyword:<word>[,<word>...]`: the share of the words that occur in the completion (case-insensitive).

A completion is a string or a conversation (a list of {role, content} messages: its text is the
contents joined). `pairwise` compares two completions of the same prompt by a rule's rewards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

RuleFn = Callable[..., list[float]]
Choice = Literal["a", "b", "tie"]

LENGTH_TOKENS = 256
LENGTH_CHARS = 1024
MAX_PATTERN = 500


def text_of(value: Any) -> str:
    """A prompt or completion as plain text (a conversation: its messages' contents, in order)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return str(value.get("content", ""))
    return "\n".join(str(m.get("content", "")) if isinstance(m, Mapping) else str(m) for m in value)


TokenRows = Sequence[Sequence[int]]


def _reads_ids(score: Callable[[Sequence[Any], TokenRows | None], list[float]]) -> RuleFn:
    """A rule that may read token ids, from `score(completions, completion_ids)`: TRL's reward-function
    signature around it, and the ids (when given) checked to be one row per completion."""

    def reward(
        prompts: Sequence[Any], completions: Sequence[Any], completion_ids: TokenRows | None = None, **columns: Any
    ) -> list[float]:
        if completion_ids is not None and len(completion_ids) != len(completions):
            raise ValueError(f"completion_ids: {len(completion_ids)} rows for {len(completions)} completions")
        return score(completions, completion_ids)

    reward.__name__, reward.__qualname__, reward.__doc__ = score.__name__, score.__qualname__, score.__doc__
    return reward


@_reads_ids
def length(completions: Sequence[Any], ids: TokenRows | None) -> list[float]:
    """Completion length in [0, 1]: tokens / 256 with token ids, else characters / 1024 (capped at 1)."""
    if ids is not None:
        return [min(1.0, len(row) / LENGTH_TOKENS) for row in ids]
    return [min(1.0, len(text_of(c)) / LENGTH_CHARS) for c in completions]


@_reads_ids
def vocab_share(completions: Sequence[Any], ids: TokenRows | None) -> list[float]:
    """Share of each completion's tokens whose id is in a fixed quarter of the vocabulary (id % 4 == 0); 0 if empty."""
    if ids is None:
        raise ValueError("vocab-share: needs completion_ids (the completions' token ids)")
    return [sum(1 for t in row if int(t) % 4 == 0) / len(row) if len(row) else 0.0 for row in ids]


def regex(pattern: str) -> RuleFn:
    """1 when the completion's text matches `pattern` anywhere, else 0; ValueError naming a bad pattern."""
    if not pattern:
        raise ValueError("rule regex: the pattern is empty")
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"rule regex: the pattern is longer than {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"rule regex: not a valid pattern: {exc}") from None

    def reward(
        prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **columns: Any
    ) -> list[float]:
        return [1.0 if compiled.search(text_of(c)) else 0.0 for c in completions]

    reward.__name__ = "regex"
    return reward


def keyword(words: str) -> RuleFn:
    """The share of the comma-separated `words` found in the completion (case-insensitive)."""
    wanted = [w.strip().lower() for w in words.split(",") if w.strip()]
    if not wanted:
        raise ValueError("rule keyword: name at least one word (keyword:word1,word2)")

    def reward(
        prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **columns: Any
    ) -> list[float]:
        texts = [text_of(c).lower() for c in completions]
        return [sum(1 for w in wanted if w in t) / len(wanted) for t in texts]

    reward.__name__ = "keyword"
    return reward


RULES: dict[str, RuleFn] = {"length": length, "vocab-share": vocab_share}
PARAMETRIC: dict[str, Callable[[str], RuleFn]] = {"regex": regex, "keyword": keyword}
NEEDS_IDS = frozenset({"vocab-share"})


def get(name: str) -> RuleFn:
    """The rule named `name` (without "rule:"); KeyError naming the known rules, ValueError for a bad argument."""
    name = name.removeprefix("rule:")
    if name in RULES:
        return RULES[name]
    head, sep, argument = name.partition(":")
    if sep and head in PARAMETRIC:
        return PARAMETRIC[head](argument)
    raise KeyError(f"no rule {name!r} (known: length, vocab-share, regex:<pattern>, keyword:<words>)")


def needs_token_ids(name: str) -> bool:
    """Whether the rule reads token ids (so a judge of texts must tokenise them)."""
    return name.removeprefix("rule:") in NEEDS_IDS


def compare(reward_a: float, reward_b: float, tie_margin: float = 0.0) -> Choice:
    """The higher reward's side, "a" or "b"; "tie" when they differ by no more than `tie_margin`."""
    if tie_margin < 0:
        raise ValueError("tie_margin: must be 0 or more")
    if abs(reward_a - reward_b) <= tie_margin:
        return "tie"
    return "a" if reward_a > reward_b else "b"


def pairwise(
    rule: RuleFn,
    prompts: Sequence[Any],
    completions_a: Sequence[Any],
    completions_b: Sequence[Any],
    *,
    ids_a: Sequence[Sequence[int]] | None = None,
    ids_b: Sequence[Sequence[int]] | None = None,
    tie_margin: float = 0.0,
) -> list[tuple[Choice, float, float]]:
    """Per pair: (choice, reward of a, reward of b) by `rule`, one call for all the a's and b's."""
    n = len(prompts)
    if len(completions_a) != n or len(completions_b) != n:
        raise ValueError("pairwise: prompts, completions_a and completions_b must have the same length")
    ids = None if ids_a is None or ids_b is None else [*ids_a, *ids_b]
    rewards = rule([*prompts, *prompts], [*completions_a, *completions_b], ids)
    return [(compare(rewards[i], rewards[n + i], tie_margin), rewards[i], rewards[n + i]) for i in range(n)]
