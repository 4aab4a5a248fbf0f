"""Evaluation math, written once and plainly.

Prompts and responses are plain strings or conversations (lists of `{role, content}`): a
conversational prompt is rendered with the chat template (ending in the generation prompt), and a
string response to it becomes one assistant message. Rows are dicts with `prompt`, `chosen`,
`rejected`, as in a preference dataset.

Per-row scores (`reward_pair_scores`, `dpo_pair_scores`, `score_pairs`) are what a reward-model
evaluation job groups by category on the Django side; a sequence longer than the model's context
(`max_position_embeddings`) keeps its last tokens, so the response is always what is scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from trl.data_utils import common_prefix_length

from .common import is_adapter_dir, load_model_and_tokenizer

Text = str | list[dict[str, str]]


def pairwise_accuracy(chosen_scores: Sequence[float], rejected_scores: Sequence[float]) -> float:
    """Fraction of pairs where the chosen score is strictly higher; a tie counts as half a pair."""
    if len(chosen_scores) != len(rejected_scores) or not chosen_scores:
        raise ValueError("need two score lists of the same, non-zero length")
    points = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen_scores, rejected_scores, strict=True))
    return points / len(chosen_scores)


def dpo_implicit_reward(policy_logp: float, ref_logp: float, beta: float) -> float:
    """DPO's implicit reward of a response: beta * (log pi(y|x) - log pi_ref(y|x))."""
    return beta * (policy_logp - ref_logp)


def response_logprob(logits: torch.Tensor, input_ids: torch.Tensor, response_start: int) -> float:
    """Sum of log p(token_t | tokens before t) over the response tokens t >= response_start.

    `logits` is (T, V) for `input_ids` (T,); position t - 1 predicts token t, so the logits at the
    positions predicting prompt tokens are never read.
    """
    if not 1 <= response_start <= len(input_ids):
        raise ValueError("the response must start after at least one prompt token")
    logps = torch.log_softmax(logits[:-1].float(), dim=-1)
    token_logps = logps.gather(-1, input_ids[1:, None]).squeeze(-1)  # entry t - 1: log p(token t)
    return token_logps[response_start - 1 :].sum().item()


def encode_pair(tokenizer: PreTrainedTokenizerBase, prompt: Text, response: Text) -> tuple[list[int], int]:
    """Token ids of prompt + response, and the index where the response starts.

    As in TRL's DPO tokenization, the response starts where the tokenized prompt and the tokenized
    whole first differ. No EOS is appended to a plain-text response.
    """
    if isinstance(prompt, list):
        messages = response if isinstance(response, list) else [{"role": "assistant", "content": response}]
        prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)["input_ids"]
        ids = tokenizer.apply_chat_template(prompt + messages, return_dict=True)["input_ids"]
    else:
        if not isinstance(response, str):
            raise TypeError("a plain-text prompt needs a plain-text response")
        prompt_ids = tokenizer(prompt)["input_ids"]
        ids = tokenizer(prompt + response)["input_ids"]
    return list(ids), common_prefix_length(list(prompt_ids), list(ids))


def context_length(model: PreTrainedModel) -> int | None:
    """The longest sequence the model takes (None when its config does not say)."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def keep_last(ids: Sequence[int], limit: int | None, start: int = 0) -> tuple[list[int], int]:
    """`ids` cut to their last `limit` tokens, and where `start` moved to (at least 1 when it was)."""
    ids = list(ids)
    if limit is None or len(ids) <= limit:
        return ids, start
    cut = len(ids) - limit
    return ids[cut:], max(min(start, 1), start - cut)


@torch.no_grad()
def sequence_logprob(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: Text, response: Text) -> float:
    """log pi(response | prompt): the summed log-probabilities of the response tokens only."""
    ids, start = encode_pair(tokenizer, prompt, response)
    ids, start = keep_last(ids, context_length(model), start)
    input_ids = torch.tensor(ids, device=model.device)
    logits = model(input_ids=input_ids[None]).logits[0]
    return response_logprob(logits, input_ids, start)


@torch.no_grad()
def reward_score(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: Text, response: Text) -> float:
    """The reward model's score of prompt + response, tokenized as TRL's RewardTrainer does."""
    if isinstance(prompt, list):
        messages = response if isinstance(response, list) else [{"role": "assistant", "content": response}]
        ids = tokenizer.apply_chat_template(prompt + messages, return_dict=True)["input_ids"]
    else:
        text = f"{prompt}{response}"
        eos = tokenizer.eos_token or ""
        ids = tokenizer(text if text.endswith(eos) else text + eos)["input_ids"]
    input_ids = torch.tensor([keep_last(ids, context_length(model))[0]], device=model.device)
    return model(input_ids=input_ids).logits[0, 0].item()


Report = Callable[[int], object]  # called with the number of rows scored so far


def _score_pairs(
    score: Callable[[Any, Any], float], rows: Iterable[dict[str, Any]], report: Report | None = None
) -> list[tuple[float, float]]:
    """(score of prompt + chosen, score of prompt + rejected) per row, calling `report` with the rows done."""
    pairs = []
    for i, row in enumerate(rows, 1):
        pairs.append((score(row["prompt"], row["chosen"]), score(row["prompt"], row["rejected"])))
        if report is not None:
            report(i)
    return pairs


def reward_pair_scores(
    model_dir: str | Path,
    rows: Iterable[dict[str, Any]],
    adapters: Sequence[str | Path] = (),
    report: Report | None = None,
) -> list[tuple[float, float]]:
    """(score of prompt + chosen, score of prompt + rejected) per row, by a reward model (`model_dir` + `adapters`)."""
    model, tokenizer = load_model_and_tokenizer(model_dir, "reward", adapters)
    model.eval()
    return _score_pairs(lambda prompt, response: reward_score(model, tokenizer, prompt, response), rows, report)


def reward_model_accuracy(
    model_dir: str | Path, rows: Iterable[dict[str, Any]], adapters: Sequence[str | Path] = ()
) -> float:
    """Pairwise accuracy of a reward model (`model_dir` + `adapters`): score(prompt + chosen) > score(prompt + rejected)."""
    scores = reward_pair_scores(model_dir, rows, adapters)
    return pairwise_accuracy([c for c, _ in scores], [r for _, r in scores])


def _pair_logps(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, Any]],
    report: Report | None = None,
) -> list[tuple[float, float]]:
    return _score_pairs(lambda prompt, response: sequence_logprob(model, tokenizer, prompt, response), rows, report)


def dpo_accuracy(
    policy_dir: str | Path, ref_dir: str | Path | None, rows: Iterable[dict[str, Any]], beta: float
) -> float:
    """Fraction of rows where DPO's implicit reward of chosen beats that of rejected (ties: half).

    `ref_dir=None` is for a LoRA adapter in `policy_dir`: the reference is its base model, with the
    adapter disabled.
    """
    rows = list(rows)
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    if ref_dir is None:
        if not is_adapter_dir(policy_dir):
            raise ValueError("ref_dir is needed unless policy_dir holds a LoRA adapter")
        peft_model = AutoPeftModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32)
        peft_model.eval()
        policy = _pair_logps(peft_model, tokenizer, rows)
        with peft_model.disable_adapter():
            ref = _pair_logps(peft_model, tokenizer, rows)
    else:
        policy = _pair_logps(load_model_and_tokenizer(policy_dir)[0].eval(), tokenizer, rows)
        ref = _pair_logps(load_model_and_tokenizer(ref_dir)[0].eval(), tokenizer, rows)
    chosen = [dpo_implicit_reward(p[0], r[0], beta) for p, r in zip(policy, ref, strict=True)]
    rejected = [dpo_implicit_reward(p[1], r[1], beta) for p, r in zip(policy, ref, strict=True)]
    return pairwise_accuracy(chosen, rejected)


Chain = tuple[str | Path, Sequence[str | Path]]  # (base, LoRA adapters merged in order)


def dpo_pair_scores(
    policy: Chain, reference: Chain, rows: Iterable[dict[str, Any]], beta: float, report: Report | None = None
) -> list[tuple[float, float]]:
    """(implicit reward of chosen, of rejected) per row: beta * (log pi - log pi_ref), the policy and
    the reference each loaded as base + adapters (the reference's tokenizer is the policy's).
    `report(k)` counts rows of the two passes together (the total is 2 * len(rows))."""
    rows = list(rows)
    policy_model, tokenizer = load_model_and_tokenizer(policy[0], "causal", policy[1])
    policy_logps = _pair_logps(policy_model.eval(), tokenizer, rows, report)
    del policy_model
    ref_model = load_model_and_tokenizer(reference[0], "causal", reference[1])[0].eval()
    later = None if report is None else (lambda i: report(len(rows) + i))
    ref = _pair_logps(ref_model, tokenizer, rows, later)
    return [
        (dpo_implicit_reward(p[0], r[0], beta), dpo_implicit_reward(p[1], r[1], beta))
        for p, r in zip(policy_logps, ref, strict=True)
    ]


def dpo_chain_accuracy(policy: Chain, reference: Chain, rows: Iterable[dict[str, Any]], beta: float) -> float:
    """DPO implicit-reward accuracy with the policy and the reference each loaded as base + adapters."""
    scores = dpo_pair_scores(policy, reference, rows, beta)
    return pairwise_accuracy([c for c, _ in scores], [r for _, r in scores])


def score_pairs(
    scorer: dict[str, Any], rows: Iterable[dict[str, Any]], report: Report | None = None
) -> list[tuple[float, float]]:
    """Per-row (chosen, rejected) scores by the scorer a worker describes in plain data:
    {"kind": "reward", "base", "adapters"} (a reward model) or {"kind": "dpo", "policy": [base, adapters],
    "reference": [base, adapters], "beta"} (a DPO policy as an implicit reward model)."""
    kind = scorer.get("kind")
    if kind == "reward":
        return reward_pair_scores(scorer["base"], rows, scorer.get("adapters", ()), report)
    if kind == "dpo":
        policy, reference = scorer["policy"], scorer["reference"]
        return dpo_pair_scores(
            (policy[0], policy[1]), (reference[0], reference[1]), rows, float(scorer["beta"]), report
        )
    raise ValueError(f"scorer kind must be reward or dpo, not {kind!r}")
