"""A job's reward source as TRL reward functions: reward(prompts, completions, completion_ids, **columns).

The worker resolves the job's `reward` setting ("model:NAME" | "judge:NAME" | "rule:NAME") against the
project and hands in a plain dict (no Django here):

- {"kind": "rule", "rule": "vocab-share"}: a closed-form rule of `training.ml.rules`;
- {"kind": "model", "base": PATH, "adapters": [PATH, ...]}: a reward model version, loaded as a sequence
  classifier (base + adapters merged) with its own tokenizer: completions are decoded text, re-tokenised;
- {"kind": "judge", ...judge settings}: a pairwise judge of `training.ml.judges`.

`layout` says how the trainer lays completions out: "groups" (GRPO/RLOO: each prompt's completions are
consecutive, num_generations of them) or "pairs" (online DPO: 2B completions [p0c0 .. pB-1c0, p0c1 ..
pB-1c1], chosen by comparing the two halves). A pointwise source (rule, model) ignores the layout; a
pairwise judge is called once per pair: in "pairs" directly, in "groups" on every pair of a group, each
completion's reward being its share of wins (ties half).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from .common import load_model_and_tokenizer

RewardFn = Callable[..., list[float | None]]
Layout = Literal["groups", "pairs"]


def reward_function(
    source: dict[str, Any],
    *,
    layout: Layout = "groups",
    num_generations: int = 2,
    pad_token_ids: Sequence[int] = (),
) -> RewardFn:
    """The TRL reward function of the resolved reward `source` (see the module docstring)."""
    kind = source.get("kind")
    if kind == "rule":
        return rule_reward(str(source["rule"]), pad_token_ids=pad_token_ids)
    if kind == "model":
        return RewardModel(str(source["base"]), list(source.get("adapters") or []))
    if kind == "judge":
        from . import judges  # the "judges" side: a pairwise judge laid out as online DPO calls it

        pairwise = judges.pairwise_reward_fn(source)
        return pairwise if layout == "pairs" else group_round_robin(pairwise, num_generations)
    raise ValueError(f"reward source kind must be rule, model or judge, not {kind!r}")


def strip_padding(ids: Sequence[int], pad_token_ids: Sequence[int]) -> list[int]:
    """`ids` without the padding at its end (online DPO passes completions padded to the longest)."""
    out = list(ids)
    while out and out[-1] in pad_token_ids:
        out.pop()
    return out


def rule_reward(name: str, *, pad_token_ids: Sequence[int] = ()) -> RewardFn:
    """The rule `name` of `training.ml.rules` (KeyError if unknown), fed completion ids without padding."""
    from . import rules

    rule = rules.get(name)
    pads = tuple(pad_token_ids)

    def reward(
        prompts: list[Any], completions: list[Any], completion_ids: list[list[int]], **columns: Any
    ) -> list[float | None]:
        ids = [strip_padding(c, pads) for c in completion_ids] if pads else completion_ids
        return list(rule(prompts, completions, ids, **columns))

    reward.__name__ = name
    return reward


def _text(value: Any) -> str:
    """A prompt or completion as plain text (conversations: their messages' contents, in order)."""
    if isinstance(value, str):
        return value
    return "\n".join(str(m.get("content", "")) for m in value)


class RewardModel:
    """A reward model version (base + adapters merged) as a reward function, with its own tokenizer."""

    __name__ = "reward_model"

    def __init__(self, base: str, adapters: Sequence[str] = (), batch_size: int = 16, max_length: int = 1024) -> None:
        self.model, self.tokenizer = load_model_and_tokenizer(base, "reward", adapters)
        self.model.eval()
        self.batch_size = batch_size
        self.max_length = max_length

    def texts(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[str]:
        """What the reward model reads: prompt + completion, through its own chat template for conversations."""
        out = []
        for prompt, completion in zip(prompts, completions, strict=True):
            if isinstance(prompt, list) and getattr(self.tokenizer, "chat_template", None):
                messages = [
                    *prompt,
                    *(completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]),
                ]
                out.append(str(self.tokenizer.apply_chat_template(messages, tokenize=False)))
            else:
                out.append(_text(prompt) + _text(completion))
        return out

    @torch.inference_mode()
    def __call__(
        self, prompts: list[Any], completions: list[Any], completion_ids: list[list[int]] | None = None, **columns: Any
    ) -> list[float | None]:
        texts = self.texts(prompts, completions)
        device = next(self.model.parameters()).device
        scores: list[float | None] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                texts[start : start + self.batch_size], return_tensors="pt", padding=True, padding_side="right",
                truncation=True, max_length=self.max_length, add_special_tokens=False,
            )  # fmt: skip
            logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits[:, 0]
            scores.extend(float(s) for s in logits.float().cpu())
        return scores


def group_round_robin(pairwise: RewardFn, num_generations: int) -> RewardFn:
    """A pairwise reward function (2B layout, as online DPO calls it) as a pointwise one over groups of
    `num_generations` consecutive completions of one prompt: each completion's reward is its mean reward
    over all its pairings within the group (with a 1/0/0.5 judge: its share of wins, ties half)."""

    def reward(
        prompts: list[Any], completions: list[Any], completion_ids: list[list[int]], **columns: Any
    ) -> list[float | None]:
        n = len(prompts)
        if n % num_generations:
            raise ValueError(f"{n} completions are not groups of {num_generations}")
        firsts: list[int] = []
        seconds: list[int] = []
        for group in range(0, n, num_generations):
            for i in range(group, group + num_generations):
                for j in range(i + 1, group + num_generations):
                    firsts.append(i)
                    seconds.append(j)
        if not firsts:
            return [0.0] * n
        order = firsts + seconds  # [p c_i ..., p c_j ...]: the 2B layout
        extra = {k: [v[i] for i in order] if isinstance(v, list) and len(v) == n else v for k, v in columns.items()}
        scores = pairwise(
            prompts=[prompts[i] for i in order], completions=[completions[i] for i in order],
            completion_ids=[completion_ids[i] for i in order], **extra,
        )  # fmt: skip
        total = [0.0] * n
        count = [0] * n
        for index, score in zip(order, scores, strict=True):
            if score is not None:
                total[index] += float(score)
                count[index] += 1
        return [total[i] / count[i] if count[i] else None for i in range(n)]

    reward.__name__ = getattr(pairwise, "__name__", "judge")
    return reward
