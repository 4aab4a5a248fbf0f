"""The online-vs-offline experiment: at the same budget of judgments, does online preference data beat offline?

Pure ML, no Django. The setting (issue 14's calibration):

- the start policy: a 2-layer Qwen2 with a locally trained 512-token tokenizer (`training.ml.tiny`),
  pre-trained as a plain LM on local instruction text (a random model barely moves under DPO). It is
  cached in `cache_dir` by its settings, so seeds and reruns reuse it;
- the true reward: the `vocab-share` rule (`training.ml.rules`): the share of a completion's tokens
  whose id is in a fixed quarter of the vocabulary;
- a simulated annotator: Bradley-Terry noise on the true reward, P(a preferred) =
  sigmoid((r_a - r_b) / temperature);
- the same number of judgments N for both arms. Offline: N pairs sampled once from the start policy,
  one DPO run. Online: R rounds, each on N/R fresh pairs sampled from the current policy, one DPO run
  per round. DPO is the product's (`training.ml.registry.train("dpo", ...)`), `2 * pairs / batch`
  steps per run (two epochs), so both arms take the same number of optimizer steps;
- the measure: the held-out true reward (mean reward of sampled and of greedy completions on
  held-out prompts), per arm and seed; means with 95% t-intervals over seeds and the paired
  difference (online - offline); a Monte-Carlo KL estimate to the start policy.

`run(settings, out_dir, cache_dir)` does it all and returns the summary that is also written to
`out_dir/experiment.json` (with a pygal bar chart `out_dir/experiment.svg`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from . import registry, rules, tiny
from .generate import generate_with as _generate_with
from .generate import load_for_generation, render
from .sampling import Sampling

Log = Callable[[str], None]
DATA_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "self_instruct_user_oriented.jsonl"
PROMPT_CHARS = 240
ANSWER_CHARS = 400
HELD_OUT = 48

# two-sided 97.5% quantiles of Student's t, by degrees of freedom (1.96 beyond the table)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """One experiment's settings; `validate` names the first bad one."""

    seeds: int = 5
    budget: int = 256  # judgments N per arm
    rounds: int = 4  # online rounds R (N / R judgments each)
    learning_rate: float = 1e-3
    batch_size: int = 8
    epochs: int = 2  # DPO steps per run = epochs * pairs / batch_size
    beta: float = 0.1
    annotator_temperature: float = 0.05
    reference: Literal["current", "start"] = "current"  # online rounds' DPO reference
    pretrain_steps: int = 1500
    pretrain_lr: float = 1e-3
    vocab_size: int = 512
    max_new_tokens: int = 32
    sample_temperature: float = 1.0
    eval_samples: int = 4  # sampled completions per held-out prompt
    held_out: int = HELD_OUT  # held-out prompts

    def validate(self) -> None:
        positive = ("seeds", "budget", "rounds", "batch_size", "epochs", "max_new_tokens", "eval_samples", "held_out")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: must be a whole number, 1 or more, got {value!r}")
        if self.pretrain_steps < 0:
            raise ValueError("pretrain_steps: must be 0 or more")
        if self.budget % self.rounds:
            raise ValueError(f"budget: {self.budget} judgments do not split into {self.rounds} equal rounds")
        if self.budget // self.rounds < 2:
            raise ValueError("budget: each online round needs at least 2 judgments")
        for name in ("learning_rate", "pretrain_lr", "annotator_temperature", "sample_temperature", "beta"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: must be a number above 0, got {value!r}")
        if self.reference not in ("current", "start"):
            raise ValueError("reference: must be 'current' or 'start'")
        if self.vocab_size < 300:
            raise ValueError("vocab_size: must be at least 300 (the byte alphabet and special tokens)")

    def steps(self, pairs: int) -> int:
        return max(1, self.epochs * pairs // self.batch_size)


# ---------------------------------------------------------------- data and the start policy


def load_texts(path: Path = DATA_FILE) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(train, held-out) of {"prompt", "answer"} from the self-instruct file, split by a fixed shuffle."""
    items: list[dict[str, str]] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        for instance in row.get("instances") or [{}]:
            prompt = row["instruction"] + ("\n" + instance["input"] if instance.get("input") else "")
            items.append({"prompt": prompt[:PROMPT_CHARS], "answer": str(instance.get("output", ""))[:ANSWER_CHARS]})
    random.Random(1234).shuffle(items)
    return items[HELD_OUT:], items[:HELD_OUT]


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def start_policy(settings: Settings, cache_dir: Path, train: list[dict[str, str]], log: Log) -> str:
    """The pre-trained start policy's directory, built once per (steps, lr, vocab, data) and then reused."""
    key_text = json.dumps(
        [settings.pretrain_steps, settings.pretrain_lr, settings.vocab_size, [t["prompt"] for t in train]]
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()[:12]
    final = cache_dir / f"start-{key}"
    if (final / "config.json").is_file():
        log(f"start policy: reusing {final}")
        return str(final)
    building = cache_dir / f"start-{key}.building"
    shutil.rmtree(building, ignore_errors=True)
    texts = [t["prompt"] + "\n" + t["answer"] for t in train]
    tiny.build_tiny_policy(building, texts, vocab_size=settings.vocab_size, seed=0)
    if settings.pretrain_steps:
        log(f"start policy: pre-training {settings.pretrain_steps} steps")
        pretrain(building, train, settings)
    building.rename(final)
    return str(final)


def pretrain(model_dir: Path, train: list[dict[str, str]], settings: Settings, batch: int = 16) -> None:
    """Plain next-token training on the chat-formatted train texts (prompt and answer), saved in place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [
        tokenizer.apply_chat_template(
            [*messages(t["prompt"]), {"role": "assistant", "content": t["answer"]}], tokenize=False
        )
        for t in train
    ]
    encoded = [tokenizer(r, add_special_tokens=False, truncation=True, max_length=160)["input_ids"] for r in rows]
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.pretrain_lr, weight_decay=0.0)
    warmup = max(1, settings.pretrain_steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, settings.pretrain_steps))))
        ),
    )
    model.train()
    pad = tokenizer.pad_token_id
    for _ in range(settings.pretrain_steps):
        pick = torch.randint(len(encoded), (batch,), generator=generator).tolist()
        width = max(len(encoded[i]) for i in pick)
        ids = torch.full((batch, width), pad, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for j, i in enumerate(pick):
            ids[j, : len(encoded[i])] = torch.tensor(encoded[i])
            mask[j, : len(encoded[i])] = 1
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.save_pretrained(model_dir)


# ---------------------------------------------------------------- sampling, reward, annotator


class Policy:
    """A policy directory loaded for generation and scoring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.model, self.tokenizer = load_for_generation(path, device="cpu", dtype=torch.float32)

    def sample(self, prompts: Sequence[str], sampling: Sampling) -> list[list[str]]:
        done = _generate_with(self.model, self.tokenizer, [messages(p) for p in prompts], sampling, batch_size=64)
        return [[c.text for c in row] for row in done]

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    def logprobs(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Sum of the completion tokens' log-probabilities under this policy (prompt as the chat template renders it)."""
        out: list[float] = []
        for prompt, completion in zip(prompts, completions, strict=True):
            head = self.tokenizer(render(self.tokenizer, messages(prompt)), add_special_tokens=False)["input_ids"]
            tail = self.tokenizer(completion, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            ids = torch.tensor([head + tail])
            with torch.inference_mode():
                logits = self.model(input_ids=ids).logits[0, len(head) - 1 : -1].float()
            out.append(float(torch.log_softmax(logits, -1).gather(1, torch.tensor(tail)[:, None]).sum()))
        return out


def true_rewards(policy: Policy, completions: Sequence[str]) -> list[float]:
    """The `vocab-share` rule on each completion's token ids."""
    return rules.vocab_share([""] * len(completions), list(completions), policy.ids(completions))


def annotate(reward_a: float, reward_b: float, temperature: float, rng: random.Random) -> bool:
    """A Bradley-Terry annotator: True when it prefers a, with probability sigmoid((r_a - r_b) / temperature)."""
    z = (reward_a - reward_b) / temperature
    p = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return rng.random() < p


def collect_pairs(
    policy: Policy, prompts: Sequence[str], settings: Settings, rng: random.Random, seed: int
) -> tuple[list[dict[str, Any]], float]:
    """Two samples per prompt from `policy`, judged by the annotator: DPO rows, and the mean true reward sampled."""
    sampling = Sampling(temperature=settings.sample_temperature, max_new_tokens=settings.max_new_tokens, n=2, seed=seed)
    samples = policy.sample(prompts, sampling)
    flat = [text for pair in samples for text in pair]
    rewards = true_rewards(policy, flat)
    rows: list[dict[str, Any]] = []
    for i, prompt in enumerate(prompts):
        (a, b), (ra, rb) = samples[i], rewards[2 * i : 2 * i + 2]
        chosen, rejected = (a, b) if annotate(ra, rb, settings.annotator_temperature, rng) else (b, a)
        rows.append(
            {
                "prompt": messages(prompt),
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        )
    return rows, statistics.fmean(rewards)


# ---------------------------------------------------------------- training and evaluation


def dpo(start: str, reference: str, rows: list[dict[str, Any]], settings: Settings, out_dir: Path, seed: int) -> str:
    """One DPO run of the product (`registry.train("dpo")`) from `start`; returns the new policy's directory.

    With `reference` other than `start` (online rounds with reference = start policy) the product's DPO
    config and trainer runner are used with that reference model instead of the starting one.
    """
    steps = settings.steps(len(rows))
    values = {
        "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.batch_size,
        "max_steps": steps,
        "beta": settings.beta,
        "seed": seed,
        "logging_steps": max(1, steps),
        "save_steps": steps * 10,
        "max_length": 512,
    }
    if reference == start:
        result = registry.train("dpo", base=start, adapters=[], values=values, train_rows=rows, output_dir=out_dir)
        return result.model_dir
    from datasets import Dataset
    from trl import DPOTrainer

    from .common import TrainCall, load_model_and_tokenizer, run_trainer

    ref_model = load_model_and_tokenizer(reference)[0]
    call = TrainCall(
        config=registry.make_config("dpo", start, values), train_dataset=Dataset.from_list(rows), output_dir=out_dir
    )
    result = run_trainer(DPOTrainer, call, kind="causal", ref_model=ref_model)
    return result.model_dir


def evaluate(policy: Policy, start: Policy, held_out: Sequence[str], settings: Settings) -> dict[str, Any]:
    """Held-out true reward of sampled and greedy completions, and a Monte-Carlo KL(policy || start) per completion."""
    sampled = policy.sample(
        held_out,
        Sampling(
            temperature=settings.sample_temperature,
            max_new_tokens=settings.max_new_tokens,
            n=settings.eval_samples,
            seed=777,
        ),
    )
    greedy = policy.sample(held_out, Sampling(temperature=0.0, max_new_tokens=settings.max_new_tokens))
    prompts = [p for p, row in zip(held_out, sampled, strict=True) for _ in row]
    texts = [t for row in sampled for t in row]
    kl = statistics.fmean(
        a - b for a, b in zip(policy.logprobs(prompts, texts), start.logprobs(prompts, texts), strict=True)
    )
    return {
        "reward": statistics.fmean(true_rewards(policy, texts)),
        "greedy_reward": statistics.fmean(true_rewards(policy, [row[0] for row in greedy])),
        "kl": kl,
    }


def run_seed(
    seed: int, start_dir: str, train: Sequence[str], held_out: Sequence[str], settings: Settings, work: Path, log: Log
) -> dict[str, Any]:
    """Both arms for one seed; each arm's held-out figures and the rewards of the data it was trained on."""
    start = Policy(start_dir)
    n, per_round = settings.budget, settings.budget // settings.rounds
    rng = random.Random(seed)
    torch.manual_seed(seed)

    prompts = [rng.choice(train) for _ in range(n)]
    rows, data_reward = collect_pairs(start, prompts, settings, random.Random(seed * 7919 + 1), seed * 1000)
    offline_dir = dpo(start_dir, start_dir, rows, settings, work / f"seed{seed}-offline", seed)
    offline = evaluate(Policy(offline_dir), start, held_out, settings)
    offline["data_reward"] = [data_reward]
    log(f"seed {seed} offline: {offline['reward']:.3f} (greedy {offline['greedy_reward']:.3f}, kl {offline['kl']:.2f})")

    current, data_rewards = start, []
    annotator = random.Random(seed * 7919 + 2)
    for r in range(settings.rounds):
        prompts = [rng.choice(train) for _ in range(per_round)]
        rows, data_reward = collect_pairs(current, prompts, settings, annotator, seed * 1000 + 100 + r)
        data_rewards.append(data_reward)
        reference = start_dir if settings.reference == "start" else current.path
        current = Policy(dpo(current.path, reference, rows, settings, work / f"seed{seed}-online{r}", seed))
        log(f"seed {seed} online round {r + 1}/{settings.rounds}: sampled data reward {data_reward:.3f}")
    online = evaluate(current, start, held_out, settings)
    online["data_reward"] = data_rewards
    log(f"seed {seed} online: {online['reward']:.3f} (greedy {online['greedy_reward']:.3f}, kl {online['kl']:.2f})")
    return {"seed": seed, "offline": offline, "online": online}


# ---------------------------------------------------------------- statistics, plot, entry point


def interval(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95% t-interval over `values` (a single value: the interval is that value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci": [mean, mean]}
    df = len(values) - 1
    t = T975.get(df) or next((T975[k] for k in sorted(T975) if k >= df), 1.96)
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": mean, "ci": [mean - half, mean + half]}


def plot(summary: dict[str, Any], path: Path) -> None:
    """A pygal bar chart: held-out true reward per seed and arm, and the means with their 95% intervals."""
    import pygal

    seeds = summary["per_seed"]
    chart = pygal.Bar(
        title=f"Held-out true reward, online vs offline (N={summary['budget']}, R={summary['rounds']})",
        x_title="seed",
        y_title="mean vocab-share of sampled completions",
        js=[],
        width=720,
        height=400,
        legend_at_bottom=True,
    )
    chart.x_labels = [str(s["seed"]) for s in seeds] + ["mean (95% CI)"]
    start = summary["start"]["reward"]
    chart.add("start policy", [start] * (len(seeds) + 1))
    for arm in ("offline", "online"):
        low, high = summary[arm]["ci"]
        values: list[Any] = [s[arm]["reward"] for s in seeds]
        values.append({"value": summary[arm]["mean"], "ci": {"low": low, "high": high}})
        chart.add(arm, values)
    path.write_text(chart.render(is_unicode=True))


def run(settings: Settings, out_dir: Path, cache_dir: Path, log: Log = print) -> dict[str, Any]:
    """Run the experiment (see the module docstring); write `experiment.json` and `experiment.svg` to `out_dir`."""
    settings.validate()
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    train_items, held_items = load_texts()
    held_out = [t["prompt"] for t in held_items[: settings.held_out]]
    train = [t["prompt"] for t in train_items]
    start_dir = start_policy(settings, cache_dir, train_items, log)
    start_figures = evaluate(Policy(start_dir), Policy(start_dir), held_out, settings)
    log(f"start policy: held-out reward {start_figures['reward']:.3f} (greedy {start_figures['greedy_reward']:.3f})")
    work = out_dir / "runs"
    per_seed: list[dict[str, Any]] = []
    for seed in range(settings.seeds):
        per_seed.append(run_seed(seed, start_dir, train, held_out, settings, work, log))
        partial = {"settings": asdict(settings), "start": start_figures, "per_seed": per_seed}
        (out_dir / "experiment.partial.json").write_text(json.dumps(partial, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    offline = [s["offline"]["reward"] for s in per_seed]
    online = [s["online"]["reward"] for s in per_seed]
    difference = interval([b - a for a, b in zip(offline, online, strict=True)])
    summary: dict[str, Any] = {
        "offline": interval(offline),
        "online": interval(online),
        "difference": difference,
        "online_wins": difference["ci"][0] > 0,
        "greedy": {
            "offline": interval([s["offline"]["greedy_reward"] for s in per_seed]),
            "online": interval([s["online"]["greedy_reward"] for s in per_seed]),
        },
        "kl": {
            "offline": interval([s["offline"]["kl"] for s in per_seed]),
            "online": interval([s["online"]["kl"] for s in per_seed]),
        },
        "start": start_figures,
        "seeds": settings.seeds,
        "budget": settings.budget,
        "rounds": settings.rounds,
        "settings": asdict(settings),
        "per_seed": per_seed,
    }
    (out_dir / "experiment.json").write_text(json.dumps(summary, indent=2))
    plot(summary, out_dir / "experiment.svg")
    return summary
