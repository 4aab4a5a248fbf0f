"""Pairwise AI judges (no Django): which of two responses to one prompt is better.

One interface: `judge.judge_pairs(pairs) -> list[Verdict]`, a verdict being {choice: "a" | "b" | "tie",
raw, swap_consistent, scores}. Three kinds:

- `RuleJudge`: compares the closed-form rewards of `training.ml.rules` (a tie within `tie_margin`);
  rules on token ids (vocab-share) tokenise with the tokenizer the spec names, else UTF-8 bytes.
- `RewardModelJudge`: a reward version (base + adapters, merged, its own tokenizer) scores both
  responses; a margin below `tie_margin` is a tie.
- `LLMJudge`: a generative model (a policy version through `training.ml.generate`, or an endpoint
  through `training.ml.openai_client`) reads a prompt in the MT-Bench / AlpacaEval pairwise style and
  answers "[[A]]", "[[B]]" or "[[C]]" (tie). Each pair is asked in both orders; a verdict that flips
  with the order is a tie and not swap-consistent. The raw outputs are kept. The model is any
  `generate(prompts) -> texts` callable, so the swap logic is testable without a model.

`make_judge(spec)` builds a judge from the plain dict the worker resolves from a registered judge:
  {"judge_kind": "rule", "rule": "length" | "vocab-share" | "regex:<p>", "tokenizer": PATH?, "tie_margin"?}
  {"judge_kind": "reward-model", "base": PATH, "adapters": [PATH, ...], "tie_margin": float}
  {"judge_kind": "llm", "base": PATH, "adapters": [...], "template": NAME | TEXT, "max_new_tokens"?}
  {"judge_kind": "llm", "endpoint": {"base_url", "model", "api_key_env"}, "template": ...}
`pairwise_reward_fn(judge_or_spec)` wraps a judge as a TRL reward function for online DPO (OAIF).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from . import rules
from .sampling import Prompt

Choice = Literal["a", "b", "tie"]
GenerateFn = Callable[[Sequence[Prompt]], list[str]]
JUDGE_KINDS = ("rule", "reward-model", "llm")


@dataclass(frozen=True)
class Pair:
    """One question and two answers to compare."""

    prompt: Prompt
    a: str
    b: str


@dataclass
class Verdict:
    choice: Choice
    raw: str = ""
    swap_consistent: bool = True
    scores: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PairwiseJudge(Protocol):
    def judge_pairs(self, pairs: Sequence[Pair]) -> list[Verdict]: ...


def _question(prompt: Prompt) -> str:
    return rules.text_of(prompt)


# ---------------------------------------------------------------- rule judge


def byte_tokenize(text: str) -> list[int]:
    """The fallback tokenisation of a rule judge without a tokenizer: the text's UTF-8 bytes."""
    return list(text.encode("utf-8"))


class RuleJudge:
    """Compares a rule's rewards of the two responses (see `training.ml.rules`)."""

    def __init__(
        self, rule: str, *, tie_margin: float = 0.0, tokenize: Callable[[str], list[int]] | None = None
    ) -> None:
        self.name = rule.removeprefix("rule:")
        self.rule = rules.get(self.name)
        if tie_margin < 0:
            raise ValueError("tie_margin: must be 0 or more")
        self.tie_margin = float(tie_margin)
        self.tokenize = tokenize or byte_tokenize

    def judge_pairs(self, pairs: Sequence[Pair]) -> list[Verdict]:
        if not pairs:
            return []
        prompts = [p.prompt for p in pairs]
        a, b = [p.a for p in pairs], [p.b for p in pairs]
        ids_a = ids_b = None
        if rules.needs_token_ids(self.name):
            ids_a, ids_b = [self.tokenize(t) for t in a], [self.tokenize(t) for t in b]
        out = rules.pairwise(self.rule, prompts, a, b, ids_a=ids_a, ids_b=ids_b, tie_margin=self.tie_margin)
        return [
            Verdict(choice, raw=f"rule:{self.name} a={ra:.6g} b={rb:.6g}", scores={"a": ra, "b": rb})
            for choice, ra, rb in out
        ]


# ---------------------------------------------------------------- reward-model judge

ScoreFn = Callable[[Sequence[Prompt], Sequence[str]], Sequence[float | None]]


class RewardModelJudge:
    """A reward model scores both responses; a margin below `tie_margin` is a tie.

    `score(prompts, completions) -> scores` defaults to the reward version base + adapters
    (`training.ml.rewards.RewardModel`, loaded on first use)."""

    def __init__(
        self,
        base: str = "",
        adapters: Sequence[str] = (),
        *,
        tie_margin: float = 0.0,
        score: ScoreFn | None = None,
    ) -> None:
        if score is None and not base:
            raise ValueError("base: a reward-model judge needs a reward model")
        if tie_margin < 0:
            raise ValueError("tie_margin: must be 0 or more")
        self.base, self.adapters, self.tie_margin = base, list(adapters), float(tie_margin)
        self._score = score

    def score(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[float]:
        if self._score is None:
            from .rewards import RewardModel

            self._score = RewardModel(self.base, self.adapters)
        scores = list(self._score(list(prompts), list(completions)))
        return [float("nan") if s is None else float(s) for s in scores]

    def judge_pairs(self, pairs: Sequence[Pair]) -> list[Verdict]:
        if not pairs:
            return []
        prompts = [p.prompt for p in pairs]
        scores = self.score([*prompts, *prompts], [*(p.a for p in pairs), *(p.b for p in pairs)])
        n = len(pairs)
        verdicts = []
        for i in range(n):
            sa, sb = scores[i], scores[n + i]
            choice: Choice = "tie" if not abs(sa - sb) >= self.tie_margin or sa == sb else ("a" if sa > sb else "b")
            verdicts.append(Verdict(choice, raw=f"reward a={sa:.6g} b={sb:.6g}", scores={"a": sa, "b": sb}))
        return verdicts


# ---------------------------------------------------------------- LLM judge

MT_BENCH_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user question displayed below. You should choose the assistant that follows the user's instructions "
    "and answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of "
    "the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective "
    "as possible. After providing your explanation, output your final verdict by strictly following this "
    'format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
MT_BENCH_USER = (
    "[User Question]\n{question}\n\n"
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)
ALPACA_EVAL_SYSTEM = "You are a helpful assistant, that ranks models by the quality of their answers."
ALPACA_EVAL_USER = (
    "I want you to create a leaderboard of different large-language models. To do so, I will give you the "
    "instructions (prompts) given to the models, and the responses of two models. Please rank the models based "
    "on which responses would be preferred by humans.\n\n"
    "## Instruction\n\n{question}\n\n"
    "## Model Outputs\n\n### Output (A)\n\n{answer_a}\n\n### Output (B)\n\n{answer_b}\n\n"
    '## Task\n\nAnswer "[[A]]" if output (A) is better, "[[B]]" if output (B) is better, "[[C]]" for a tie.'
)
TEMPLATES: dict[str, tuple[str, str]] = {
    "mt-bench": (MT_BENCH_SYSTEM, MT_BENCH_USER),
    "alpaca-eval": (ALPACA_EVAL_SYSTEM, ALPACA_EVAL_USER),
}
PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
_PLACEHOLDER = re.compile(r"\{(question|answer_a|answer_b)\}")
_VERDICT = re.compile(r"\[\[([ABC])\]\]")
MAX_TEMPLATE = 20000


def template_parts(template: str) -> tuple[str, str]:
    """(system, user) of a template name ("mt-bench", "alpaca-eval") or a template text (the user turn;
    it must contain {question}, {answer_a} and {answer_b})."""
    template = template or "mt-bench"
    if template in TEMPLATES:
        return TEMPLATES[template]
    if len(template) > MAX_TEMPLATE:
        raise ValueError(f"template: longer than {MAX_TEMPLATE} characters")
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise ValueError(
            f"template: not a template name ({', '.join(TEMPLATES)}) and the text lacks {', '.join(missing)}"
        )
    return "", template


def fill(template: str, question: str, answer_a: str, answer_b: str) -> str:
    """The template with its placeholders replaced in one pass (braces in the answers stay as they are)."""
    values = {"question": question, "answer_a": answer_a, "answer_b": answer_b}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def parse_verdict(output: str) -> Choice | None:
    """The choice ("a", "b" or "tie") of the last [[A]] / [[B]] / [[C]] in `output`; None when there is none."""
    found = _VERDICT.findall(output)
    if not found:
        return None
    return {"A": "a", "B": "b", "C": "tie"}[found[-1]]  # type: ignore[return-value]


_SWAPPED: dict[Choice | None, Choice | None] = {"a": "b", "b": "a", "tie": "tie", None: None}


class LLMJudge:
    """Asks a generative model, in both orders, which answer is better (see the module docstring).

    Per pair: the first prompt shows (a, b), the second (b, a); the second verdict is mapped back to the
    pair's order. Both agree -> that choice, swap-consistent. They differ (including one unreadable) ->
    a tie, not swap-consistent. Neither readable -> a tie, counted consistent but `scores["parsed"]` 0.
    """

    def __init__(self, generate: GenerateFn, *, template: str = "mt-bench") -> None:
        self.generate = generate
        self.system, self.user = template_parts(template)

    def messages(self, prompt: Prompt, first: str, second: str) -> list[dict[str, str]]:
        user = fill(self.user, _question(prompt), first, second)
        return ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": user}
        ]

    def judge_pairs(self, pairs: Sequence[Pair]) -> list[Verdict]:
        if not pairs:
            return []
        asks = [self.messages(p.prompt, p.a, p.b) for p in pairs] + [self.messages(p.prompt, p.b, p.a) for p in pairs]
        outputs = list(self.generate(asks))
        if len(outputs) != len(asks):
            raise ValueError(f"generate: returned {len(outputs)} outputs for {len(asks)} prompts")
        n = len(pairs)
        verdicts = []
        for i in range(n):
            first = parse_verdict(outputs[i])
            second = _SWAPPED[parse_verdict(outputs[n + i])]
            consistent = first == second
            choice: Choice = first if consistent and first is not None else "tie"
            raw = f"[order a, b]\n{outputs[i]}\n\n[order b, a]\n{outputs[n + i]}"
            scores = {"first": first, "second": second, "parsed": int(first is not None) + int(second is not None)}
            verdicts.append(Verdict(choice, raw=raw, swap_consistent=consistent, scores=scores))
        return verdicts


def local_generate(
    base: str, adapters: Sequence[str] = (), *, max_new_tokens: int = 256, batch_size: int = 8
) -> GenerateFn:
    """Greedy generation from a local version (base + adapters, cached by `training.ml.generate`)."""
    from .sampling import Sampling

    sampling = Sampling(temperature=0.0, max_new_tokens=max_new_tokens)

    def run(prompts: Sequence[Prompt]) -> list[str]:
        from . import generate

        out = generate.generate(list(prompts), sampling, base=base, adapters=adapters, batch_size=batch_size)
        return [completions[0].text for completions in out]

    return run


def endpoint_generate(endpoint: Mapping[str, Any], *, max_new_tokens: int = 512) -> GenerateFn:
    """Greedy generation from an OpenAI-compatible endpoint {"base_url", "model", "api_key_env"}."""
    from .sampling import Sampling

    sampling = Sampling(temperature=0.0, max_new_tokens=max_new_tokens)

    def run(prompts: Sequence[Prompt]) -> list[str]:
        from .openai_client import Endpoint, OpenAIClient

        target = Endpoint(
            base_url=str(endpoint["base_url"]), model=str(endpoint["model"]),
            api_key_env=endpoint.get("api_key_env") or None,
        )  # fmt: skip
        with OpenAIClient(target) as client:
            return [completions[0].text for completions in client.generate(list(prompts), sampling)]

    return run


# ---------------------------------------------------------------- building and wrapping


def make_judge(spec: Mapping[str, Any], *, generate: GenerateFn | None = None) -> PairwiseJudge:
    """The judge a resolved spec describes (see the module docstring); ValueError naming a bad field."""
    kind = spec.get("judge_kind")
    tie_margin = float(spec.get("tie_margin") or 0.0)
    if kind == "rule":
        tokenize = None
        if spec.get("tokenizer") and rules.needs_token_ids(str(spec.get("rule", ""))):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(spec["tokenizer"]))

            def tokenize(text: str) -> list[int]:
                return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        try:
            return RuleJudge(str(spec.get("rule", "")), tie_margin=tie_margin, tokenize=tokenize)
        except KeyError as exc:
            raise ValueError(f"rule: {exc.args[0]}") from None
    if kind == "reward-model":
        return RewardModelJudge(str(spec.get("base", "")), list(spec.get("adapters") or []), tie_margin=tie_margin)
    if kind == "llm":
        if generate is None:
            max_new = int(spec.get("max_new_tokens") or 256)
            if spec.get("endpoint"):
                generate = endpoint_generate(spec["endpoint"], max_new_tokens=max_new)
            elif spec.get("base"):
                generate = local_generate(str(spec["base"]), list(spec.get("adapters") or []), max_new_tokens=max_new)
            else:
                raise ValueError("model: an LLM judge needs a local version (base) or an endpoint")
        return LLMJudge(generate, template=str(spec.get("template") or "mt-bench"))
    raise ValueError(f"judge_kind: must be one of {', '.join(JUDGE_KINDS)}, not {kind!r}")


def reward_of(choice: Choice) -> tuple[float, float]:
    """(reward of a, reward of b) for a verdict: 1 for the preferred, 0 for the other, 0.5 each on a tie."""
    return {"a": (1.0, 0.0), "b": (0.0, 1.0), "tie": (0.5, 0.5)}[choice]


def pairwise_reward_fn(judge: PairwiseJudge | Mapping[str, Any]) -> Callable[..., list[float | None]]:
    """A pairwise judge (or a spec for `make_judge`) as a TRL reward function over 2B completions laid
    out as online DPO calls it: [p0c0 ... pB-1c0, p0c1 ... pB-1c1], completion i paired with i + B.
    The preferred gets 1, the other 0, a tie 0.5 each. A layout whose halves do not share their prompts
    (a TRL change) is refused loudly."""
    built: PairwiseJudge = make_judge(judge) if isinstance(judge, Mapping) else judge

    def reward(
        prompts: list[Any], completions: list[Any], completion_ids: Any = None, **columns: Any
    ) -> list[float | None]:
        if len(prompts) != len(completions) or len(completions) % 2:
            raise ValueError(f"pairwise reward: expects 2B completions with their prompts, got {len(completions)}")
        half = len(completions) // 2
        if any(prompts[i] != prompts[half + i] for i in range(half)):
            raise ValueError(
                "pairwise reward: completion i and i + B do not share a prompt; "
                "the trainer's layout is not [p0c0 ... pB-1c0, p0c1 ... pB-1c1]"
            )
        pairs = [
            Pair(prompts[i], rules.text_of(completions[i]), rules.text_of(completions[half + i])) for i in range(half)
        ]
        rewards: list[float | None] = [0.0] * len(completions)
        for i, verdict in enumerate(built.judge_pairs(pairs)):
            rewards[i], rewards[half + i] = reward_of(verdict.choice)
        return rewards

    reward.__name__ = "judge"
    return reward
