"""PPO for language models, ours (TRL 1.16 has none), after "The N Implementation Details of RLHF
with PPO" (Huang et al., 2024). Read top to bottom: the math, the models, one rollout, one update, the loop.

One step = one PPO iteration: sample responses for a rollout batch of prompts, score them, then
`num_ppo_epochs` passes of minibatches over that batch (one optimizer step per minibatch). The rollout
batch is per_device_train_batch_size * gradient_accumulation_steps * num_mini_batches prompts.

- Policy: the starting version (base + adapters merged), trained whole or through a new LoRA adapter.
- Reference: the starting version, frozen: the policy with its adapter disabled (LoRA) or a frozen copy.
- Value model: a sequence-classification model with one output, used per token: the backbone's hidden
  state at every position goes through its `score` head, so V(s_t) is the score of the prefix ending
  at t. (Not a value head on the policy: policy and value are separate networks, as in the paper.)
  It is initialised from the reward model when the reward is a model whose tokenizer is the policy's
  (the paper's choice), from a reward version the job names (`value_from`), or else from the policy
  (its backbone, with a fresh score head). It is trained whole, also when the policy trains a LoRA adapter.
- Reward: the reward's score of the whole response, placed at its last token, minus a per-token KL
  penalty kl_coef * (log pi - log pi_ref) at every token; minus missing_eos_penalty when the response
  ran out of tokens without EOS. A reward model with its own tokenizer gets the decoded text re-tokenised;
  a rule scores the response's token ids; a pairwise judge compares two responses to the same prompt.
- Advantages: GAE(gamma, lam) over the response tokens, whitened over the valid tokens.
- Losses: the clipped surrogate (cliprange) and the clipped value loss (cliprange_value) times vf_coef,
  one AdamW (eps 1e-5) over both networks, learning rate decayed linearly to 0.
- Dropout is off throughout (the models stay in eval mode), logits are divided by the sampling
  temperature before log-probabilities are taken, and tokens after the first EOS are masked out.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from peft import PeftModel, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from training.algorithms import PPOConfig

from . import rewards
from .common import TrainCall, TrainResult, entry, load_model_and_tokenizer, lora_config
from .generate import render
from .sampling import Prompt

__all__ = ["PPOConfig", "gae", "kl_penalty_rewards", "masked_mean", "masked_whiten", "policy_loss", "train"]

JUDGE_GROUP = 2  # responses per prompt in a rollout when the reward is a pairwise judge
RewardFn = Callable[[list[Prompt], list[str], list[list[int]]], list[float]]

# ---------------------------------------------------------------- the math (pure functions on tensors)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the positions where `mask` is 1."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Population variance of `x` over the valid positions (no Bessel correction)."""
    return masked_mean((x - masked_mean(x, mask)) ** 2, mask)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the valid positions; 0 elsewhere."""
    return (x - masked_mean(x, mask)) * torch.rsqrt(masked_var(x, mask) + eps) * mask


def kl_penalty_rewards(
    scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor, kl_coef: float
) -> torch.Tensor:
    """Per-token rewards [B, T]: -kl_coef * (logp - ref_logp) at every valid token, plus the sequence's
    score [B] at its last valid token (the mask is a run of ones from position 0)."""
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)
    rewards[torch.arange(len(scores)), last] += scores
    return rewards


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over [B, T]: (advantages, returns = advantages + values).
    The value after the last valid token is 0 (the episode ends there)."""
    values = values * mask
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, cliprange: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped surrogate: mean over valid tokens of max(-A r, -A clip(r, 1-c, 1+c)), r = pi/pi_old;
    and the fraction of tokens where the clipped term was the larger."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return masked_mean(torch.max(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """0.5 * mean over valid tokens of max((V - R)^2, (V_clipped - R)^2), V_clipped = V_old + clip(V - V_old, +-c);
    and the fraction of tokens where the clipped term was the larger."""
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped, clipped = (values - returns) ** 2, (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.max(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over valid tokens: 1 is a perfect value model, 0 no better than a constant."""
    var = masked_var(returns, mask).item()
    return float("nan") if var == 0 else 1.0 - masked_var(returns - values, mask).item() / var


# ---------------------------------------------------------------- models


def value_scores(value_model: PreTrainedModel, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """The value model's score at every position [B, T]: backbone hidden states through the score head."""
    backbone = getattr(value_model, value_model.base_model_prefix)
    hidden = backbone(input_ids=ids, attention_mask=attention, position_ids=positions(attention)).last_hidden_state
    return value_model.score(hidden).squeeze(-1)


def positions(attention: torch.Tensor) -> torch.Tensor:
    """Position ids for left-padded rows: 0 at each row's first real token."""
    return (attention.cumsum(dim=1) - 1).clamp(min=0)


def token_logprobs(
    model: PreTrainedModel, ids: torch.Tensor, attention: torch.Tensor, start: int, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probabilities [B, R] of the tokens ids[:, start:], entropies [B, R]) under `model` at `temperature`."""
    logits = model(input_ids=ids, attention_mask=attention, position_ids=positions(attention)).logits
    logits = logits[:, start - 1 : -1].float() / temperature
    logp_all = F.log_softmax(logits, dim=-1)
    logp = torch.gather(logp_all, 2, ids[:, start:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def reward_function(source: dict[str, Any], device: torch.device) -> tuple[RewardFn, Any]:
    """(scores(prompts, completions, completion_ids), the reward model's tokenizer or None) of a resolved
    reward source; a reward model keeps its own tokenizer (the decoded text is re-tokenised). A pairwise
    judge scores each response by its win (1, tie 0.5, loss 0) against the other response to the same
    prompt: the rollout then holds every prompt twice, side by side (see `JUDGE_GROUP`)."""
    fn = rewards.reward_function(source, layout="groups", num_generations=JUDGE_GROUP)
    if isinstance(fn, rewards.RewardModel):
        fn.model.to(device)

    def score(prompts: list[Prompt], completions: list[str], completion_ids: list[list[int]]) -> list[float]:
        found = fn(prompts=prompts, completions=completions, completion_ids=completion_ids)
        known = [float(x) for x in found if x is not None]
        fill = sum(known) / len(known) if known else 0.0  # no score (a judge that failed): the batch mean
        return [fill if x is None else float(x) for x in found]

    return score, getattr(fn, "tokenizer", None)


def load_value_model(
    init: tuple[str, Sequence[str]], policy_tokenizer: PreTrainedTokenizerBase, device: torch.device
) -> PreTrainedModel:
    """A one-output sequence classifier from (base, adapters); a causal LM gets a fresh score head."""
    model, _ = load_model_and_tokenizer(init[0], "reward", init[1])
    model.config.pad_token_id = policy_tokenizer.pad_token_id
    return model.to(device).eval()


# ---------------------------------------------------------------- one rollout


def rollout(
    policy: PreTrainedModel,
    ref_policy: PreTrainedModel | None,
    value_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[Prompt],
    score: RewardFn,
    config: PPOConfig,
    device: torch.device,
) -> dict[str, Any]:
    """Sample one response per prompt and compute everything the update needs (no gradients)."""
    texts = [render(tokenizer, p) for p in prompts]
    tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
    max_prompt = max(1, config.max_length - config.response_length)
    query = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_prompt,
                      add_special_tokens=False).to(device)  # fmt: skip
    start = query.input_ids.shape[1]
    with torch.no_grad():
        ids = policy.generate(
            **query, do_sample=True, temperature=config.temperature, top_k=0, top_p=1.0,
            max_new_tokens=config.response_length, min_new_tokens=1, pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )  # fmt: skip
        response = ids[:, start:]
        is_eos = response == tokenizer.eos_token_id
        # valid: every token up to and including the first EOS
        mask = (torch.cumsum(is_eos.int(), dim=1) - is_eos.int() == 0).float()
        attention = torch.cat([query.attention_mask, mask.long()], dim=1)
        logprobs, _ = token_logprobs(policy, ids, attention, start, config.temperature)
        if ref_policy is None:  # LoRA: the reference is the policy without its adapter
            with policy.disable_adapter():
                ref_logprobs, _ = token_logprobs(policy, ids, attention, start, config.temperature)
        else:
            ref_logprobs, _ = token_logprobs(ref_policy, ids, attention, start, config.temperature)
        values = value_scores(value_model, ids, attention)[:, start - 1 : -1]
        lengths = mask.sum(dim=1).long()
        completion_ids = [row[:n].tolist() for row, n in zip(response, lengths, strict=True)]
        completions = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        scores = torch.tensor(score(prompts, completions, completion_ids), dtype=torch.float, device=device)
        raw_scores = scores.clone()
        has_eos = is_eos.any(dim=1)
        scores = torch.where(has_eos, scores, scores - config.missing_eos_penalty)
        rewards = kl_penalty_rewards(scores, logprobs, ref_logprobs, mask, config.kl_coef)
        advantages, returns = gae(rewards, values, mask, config.gamma, config.lam)
        advantages = masked_whiten(advantages, mask)
    kl = ((logprobs - ref_logprobs) * mask).sum(dim=1)
    return {
        "ids": ids, "attention": attention, "mask": mask, "start": start, "logprobs": logprobs,
        "values": values * mask, "advantages": advantages, "returns": returns,
        "stats": {
            "reward_mean": raw_scores.mean().item(),
            "reward_std": raw_scores.std().item() if len(raw_scores) > 1 else 0.0,
            "kl": kl.mean().item(),
            "response_length": lengths.float().mean().item(),
            "eos_fraction": has_eos.float().mean().item(),
            "explained_variance": explained_variance(values * mask, returns, mask),
        },
    }  # fmt: skip


# ---------------------------------------------------------------- one update


def update(
    policy: PreTrainedModel,
    value_model: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batch: dict[str, Any],
    config: PPOConfig,
) -> dict[str, float]:
    """num_ppo_epochs passes of shuffled minibatches over one rollout; one optimizer step per minibatch."""
    size, micro = batch["ids"].shape[0], config.per_device_train_batch_size
    mini = micro * config.gradient_accumulation_steps
    params = [p for group in optimizer.param_groups for p in group["params"]]
    sums: dict[str, float] = {}
    count = 0
    for _ in range(config.num_ppo_epochs):
        order = torch.randperm(size)
        for m in range(0, size, mini):
            optimizer.zero_grad()
            for u in range(m, min(m + mini, size), micro):
                i = order[u : u + micro]
                ids, attention, mask, start = batch["ids"][i], batch["attention"][i], batch["mask"][i], batch["start"]
                logprobs, entropy = token_logprobs(policy, ids, attention, start, config.temperature)
                values = value_scores(value_model, ids, attention)[:, start - 1 : -1]
                pg_loss, pg_clip = policy_loss(
                    logprobs, batch["logprobs"][i], batch["advantages"][i], mask, config.cliprange
                )
                vf_loss, vf_clip = value_loss(
                    values, batch["values"][i], batch["returns"][i], mask, config.cliprange_value
                )
                loss = pg_loss + config.vf_coef * vf_loss
                (loss * len(i) / min(mini, size - m)).backward()
                with torch.no_grad():
                    log_ratio = logprobs - batch["logprobs"][i]
                    stats = {
                        "policy_loss": pg_loss.item(), "value_loss": vf_loss.item(), "loss": loss.item(),
                        "clip_fraction": pg_clip.item(), "value_clip_fraction": vf_clip.item(),
                        "approx_kl": masked_mean(0.5 * log_ratio**2, mask).item(),
                        "entropy": masked_mean(entropy, mask).item(),
                    }  # fmt: skip
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
    scheduler.step()
    return {k: v / count for k, v in sums.items()}


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, step: int, policy: PreTrainedModel, value_model: PreTrainedModel,
                    tokenizer: PreTrainedTokenizerBase, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:  # fmt: skip
    """policy/ (adapter or full model), value/, optimizer.pt; trainer_state.json last (marks it complete)."""
    path.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(path / "policy")
    value_model.save_pretrained(path / "value")
    tokenizer.save_pretrained(path / "value")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, path / "optimizer.pt")
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))


# ---------------------------------------------------------------- the loop


def run(
    call: TrainCall,
    *,
    reward: dict[str, Any] | None = None,
    reward_fn: RewardFn | None = None,
    value_from: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a policy with PPO on the prompts of `train_dataset`; save it (or its adapter) to `output_dir/final`.

    The reward: `reward` (the worker's source dict: {"kind": "rule"|"model"|"judge", ...}), or a
    function `reward_fn(prompts, completions, completion_ids) -> scores`. `value_from`: {"base",
    "adapters"} of a reward version to initialise the value model from (default: see the module doc).
    """
    config: PPOConfig = call.config
    output_dir = Path(call.output_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    chain = [str(a) for a in call.adapters]
    resume = Path(call.resume_from_checkpoint) if call.resume_from_checkpoint else None
    if reward_fn is None and not reward:
        raise ValueError("reward: PPO needs a reward source (model:NAME, judge:NAME or rule:NAME)")

    policy, tokenizer = load_model_and_tokenizer(config.model_name_or_path, "causal", chain)
    ref_policy = None
    if config.use_lora:
        if resume:
            policy = PeftModel.from_pretrained(policy, str(resume / "policy"), is_trainable=True)
        else:
            policy = get_peft_model(policy, lora_config(config))
    else:
        ref_policy = load_model_and_tokenizer(config.model_name_or_path, "causal", chain)[0].to(device).eval()
        ref_policy.requires_grad_(False)
        if resume:
            policy = policy.from_pretrained(str(resume / "policy"), dtype=torch.float32)
    policy.to(device).eval()
    policy.generation_config.pad_token_id = tokenizer.pad_token_id

    score_tokenizer = None
    if reward_fn is not None:
        score = reward_fn
    else:
        assert reward is not None
        score, score_tokenizer = reward_function(reward, device)
    if resume:
        value_init: tuple[str, Sequence[str]] = (str(resume / "value"), [])
    elif value_from:
        value_init = (value_from["base"], value_from.get("adapters", []))
    elif config.value_model:
        raise ValueError(f"value_model: {config.value_model!r} was not resolved to a model by the worker")
    elif reward and score_tokenizer is not None and score_tokenizer.get_vocab() == tokenizer.get_vocab():
        value_init = (reward["base"], reward.get("adapters", []))
    else:  # the policy's backbone with a fresh score head
        value_init = (config.model_name_or_path, chain)
    value_model = load_value_model(value_init, tokenizer, device)

    rows = call.train_dataset
    if "prompt" not in rows.column_names:
        raise ValueError(f"a prompts snapshot has a 'prompt' column; these rows have {rows.column_names}")
    prompts = list(rows["prompt"])
    batch_size = config.per_device_train_batch_size * config.gradient_accumulation_steps * config.num_mini_batches
    group = JUDGE_GROUP if reward and reward.get("kind") == "judge" else 1
    if batch_size % group:
        raise ValueError(f"per_device_train_batch_size: a judge compares {group} responses per prompt, so the "
                         f"rollout batch ({batch_size}) must be a multiple of {group}")  # fmt: skip
    per_epoch = max(1, math.ceil(len(prompts) * group / batch_size))
    max_steps = config.max_steps if config.max_steps > 0 else max(1, math.ceil(config.num_train_epochs * per_epoch))
    params = [p for p in [*policy.parameters(), *value_model.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, eps=1e-5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / max_steps))
    step = 0
    if resume:
        state = torch.load(resume / "optimizer.pt", map_location=device, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(json.loads((resume / "trainer_state.json").read_text())["global_step"])

    keep_going = call.callback or (lambda *_: True)
    metrics: dict[str, float] = {}
    stopped = False
    while step < max_steps and not stopped:
        # the prompts of step s depend only on (seed, s): a resumed run sees what an unbroken one would
        epoch, index = divmod(step, per_epoch)
        order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(config.seed + epoch)).tolist()
        chosen = [
            prompts[order[(index * (batch_size // group) + k) % len(prompts)]] for k in range(batch_size // group)
        ]
        chosen = [p for p in chosen for _ in range(group)]
        torch.manual_seed(config.seed * 1_000_003 + step)
        batch = rollout(policy, ref_policy, value_model, tokenizer, chosen, score, config, device)
        learning_rate = scheduler.get_last_lr()[0]
        metrics = {**batch["stats"], **update(policy, value_model, optimizer, scheduler, batch, config)}
        metrics["learning_rate"] = learning_rate
        step += 1
        if step % config.save_steps == 0 and step < max_steps:
            save_checkpoint(
                output_dir / f"checkpoint-{step}", step, policy, value_model, tokenizer, optimizer, scheduler
            )
        stopped = not keep_going(step, max_steps, {})
        if step % config.logging_steps == 0 or step == max_steps:
            stopped = not keep_going(step, max_steps, metrics) or stopped

    model_dir = output_dir / "final"
    policy.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    return TrainResult(final_step=step, metrics=metrics, model_dir=str(model_dir), stopped_early=stopped)


train = entry(run)
