"""What GRPO, RLOO and online DPO (TRL trainers) share: the prompts, the reward function, the reference;
`online_entry` builds each one's `train` from them.

- Prompts: the `prompt` column of a prompts snapshot; a text prompt longer than `max_prompt_length`
  tokens keeps its last tokens (TRL's GRPO and RLOO never truncate prompts).
- Reward: the job's resolved reward source (`training.ml.rewards.reward_function`).
- Reference: the starting version (base + adapters merged). With LoRA, the policy with the adapter
  disabled. Without LoRA and beta > 0, GRPO and RLOO reload the reference from the model's
  `config._name_or_path`, which for a merged chain of LoRA adapters would be the original base: the
  starting version is saved to `output_dir/start` first and training starts from there, so the
  reference TRL loads is the real starting policy. (Online DPO copies the policy object itself.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoTokenizer, PreTrainedTokenizerBase, Trainer

from training.algorithms import OnlineConfig

from .common import TrainCall, TrainResult, entry, load_model_and_tokenizer, run_trainer
from .rewards import Layout, reward_function


def prompt_dataset(rows: Dataset, tokenizer: PreTrainedTokenizerBase, max_prompt_length: int | None) -> Dataset:
    """The `prompt` column of `rows`, text prompts cut to their last `max_prompt_length` tokens."""
    if "prompt" not in rows.column_names:
        raise ValueError(f"a prompts snapshot has a 'prompt' column; these rows have {rows.column_names}")
    rows = rows.select_columns(["prompt"])
    if max_prompt_length is None:
        return rows

    def cut(row: dict[str, Any]) -> dict[str, Any]:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            if len(ids) > max_prompt_length:
                prompt = tokenizer.decode(ids[-max_prompt_length:])
        return {"prompt": prompt}

    return rows.map(cut)


def starting_point(
    config: OnlineConfig, adapters: Sequence[str | Path], output_dir: str | Path, *, reference_reloaded: bool
) -> tuple[OnlineConfig, list[str]]:
    """(config, adapters) to train from; see the module docstring for why the start is sometimes saved."""
    if config.use_lora or not adapters or not reference_reloaded:
        return config, [str(a) for a in adapters]
    start = Path(output_dir) / "start"
    if not (start / "config.json").is_file():
        model, tokenizer = load_model_and_tokenizer(config.model_name_or_path, "causal", adapters)
        model.save_pretrained(start)
        tokenizer.save_pretrained(start)
    return dataclasses.replace(config, model_name_or_path=str(start)), []


def online_entry(
    trainer_cls: type[Trainer],
    name: str,
    *,
    doc: str | None = None,
    layout: Layout = "groups",
    num_generations: Callable[[Any], int] = lambda config: config.num_generations,
    reference_reloaded: Callable[[Any], bool] = lambda config: config.beta > 0,
) -> Callable[..., TrainResult]:
    """The `train` of an online algorithm (one TRL trainer), with its keyword argument `reward` (the
    resolved reward source): build the reward function and the prompts, then train through `run_trainer`.

    What differs is declared from the config: `num_generations` (completions per prompt the reward
    function sees) and `reference_reloaded` (whether TRL reloads the reference by name). The defaults
    are GRPO's and RLOO's: groups of `num_generations`, the reference reloaded when `beta > 0`. `doc`
    defaults to one that names the algorithm (`name`).
    """
    if doc is None:
        doc = (
            f"Train a policy with {name} on the prompts of `train_dataset`, rewarded by `reward` (the resolved "
            "reward source); save it (or its LoRA adapter) to `output_dir/final`."
        )

    def run(call: TrainCall, *, reward: dict[str, Any] | None = None) -> TrainResult:
        if not reward:
            raise ValueError("reward: an online algorithm needs a reward source (model:NAME, judge:NAME or rule:NAME)")
        config, adapters = starting_point(
            call.config, call.adapters, call.output_dir, reference_reloaded=reference_reloaded(call.config)
        )
        tokenizer = AutoTokenizer.from_pretrained(config.model_name_or_path)
        pads = [tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id]
        reward_fn = reward_function(
            reward,
            layout=layout,
            num_generations=num_generations(config),
            pad_token_ids=pads if layout == "pairs" else (),
        )
        call = dataclasses.replace(call, config=config, adapters=adapters)
        call = call.with_datasets(lambda rows: prompt_dataset(rows, tokenizer, config.max_prompt_length))
        return run_trainer(trainer_cls, call, kind="causal", reward_funcs=[reward_fn])

    return entry(run, doc)


def sampled_rewards(
    base: str,
    adapters: Sequence[str | Path],
    prompts: Sequence[str],
    reward: dict[str, Any],
    *,
    samples: int = 4,
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[float]:
    """Rewards of `samples` sampled completions per text prompt of the version base + adapters: how the
    "they learn" tests and bench/online_rl.py measure a policy on held-out prompts."""
    import torch

    model, tokenizer = load_model_and_tokenizer(base, "causal", adapters)
    model.eval()
    fn = reward_function(reward, layout="groups", num_generations=samples)
    torch.manual_seed(seed)
    out: list[float] = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            generated = model.generate(
                ids.repeat(samples, 1), do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
            completion_ids = []
            eos = tokenizer.eos_token_id
            for row in generated[:, ids.shape[1] :].tolist():
                completion_ids.append(row[: row.index(eos) + 1] if eos in row else row)
            completions = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
            scores = fn(prompts=[prompt] * samples, completions=completions, completion_ids=completion_ids)
            out.extend(float(s) for s in scores if s is not None)
    return out
