"""Pairwise judges (training/ml/judges.py): the LLM judge's two orders, the reward-model and rule judges,
and the 2B layout online DPO calls a wrapped judge with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from training.ml import judges
from training.ml.judges import Pair, Verdict


def scripted(answers: dict[tuple[str, str], str]):  # type: ignore[no-untyped-def]
    """A fake generate: reads which answer the template put first and second, and replies as scripted."""
    asked: list[Any] = []

    def generate(prompts: Sequence[Any]) -> list[str]:
        out = []
        for messages in prompts:
            asked.append(messages)
            user = messages[-1]["content"]
            first = user.split("[The Start of Assistant A's Answer]\n")[1].split("\n")[0]
            second = user.split("[The Start of Assistant B's Answer]\n")[1].split("\n")[0]
            out.append(answers[(first, second)])
        return out

    generate.asked = asked  # type: ignore[attr-defined]
    return generate


def test_an_llm_verdict_that_holds_in_both_orders_is_kept_and_swap_consistent() -> None:
    # order (good, bad): "[[A]]" = good; order (bad, good): "[[B]]" = good again
    gen = scripted({("good", "bad"): "A is right. [[A]]", ("bad", "good"): "B is right. [[B]]"})
    [verdict] = judges.LLMJudge(gen).judge_pairs([Pair("Q?", "good", "bad")])
    assert verdict.choice == "a" and verdict.swap_consistent
    assert "A is right. [[A]]" in verdict.raw and "B is right. [[B]]" in verdict.raw
    assert len(gen.asked) == 2 and gen.asked[0][0]["role"] == "system"


def test_an_llm_verdict_that_flips_with_the_order_is_a_tie_and_swap_inconsistent() -> None:
    # position bias: always "[[A]]", whichever answer is first
    gen = scripted({("x", "y"): "[[A]]", ("y", "x"): "[[A]]"})
    [verdict] = judges.LLMJudge(gen).judge_pairs([Pair("Q?", "x", "y")])
    assert verdict.choice == "tie" and not verdict.swap_consistent
    assert verdict.scores["first"] == "a" and verdict.scores["second"] == "b"


def test_the_llm_judge_reads_the_last_verdict_and_a_consistent_c_is_a_tie() -> None:
    assert judges.parse_verdict("maybe [[A]]... on reflection [[B]]") == "b"
    assert judges.parse_verdict("no verdict here") is None
    gen = scripted({("x", "y"): "[[C]]", ("y", "x"): "[[C]]"})
    [verdict] = judges.LLMJudge(gen).judge_pairs([Pair("Q?", "x", "y")])
    assert verdict.choice == "tie" and verdict.swap_consistent


def test_answers_with_braces_do_not_break_the_template() -> None:
    filled = judges.fill(judges.MT_BENCH_USER, "say {answer_b}", "{question}", "b")
    assert "say {answer_b}" in filled and "\n{question}\n" in filled


def test_a_template_text_without_its_placeholders_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="lacks {answer_b}"):
        judges.LLMJudge(lambda p: [], template="Compare {question} {answer_a}")


def test_the_reward_model_judge_calls_a_margin_below_the_threshold_a_tie() -> None:
    scores = {"long answer": 2.0, "short": 1.0, "almost": 1.95}
    judge = judges.RewardModelJudge(tie_margin=0.1, score=lambda prompts, comps: [scores[c] for c in comps])
    out = judge.judge_pairs(
        [Pair("q", "long answer", "short"), Pair("q", "short", "long answer"), Pair("q", "long answer", "almost")]
    )
    assert [v.choice for v in out] == ["a", "b", "tie"]
    assert out[0].scores == {"a": 2.0, "b": 1.0}


def test_the_rule_judge_prefers_the_longer_answer_by_the_length_rule() -> None:
    out = judges.make_judge({"judge_kind": "rule", "rule": "length"}).judge_pairs(
        [Pair("q", "a much longer answer", "short"), Pair("q", "same", "same")]
    )
    assert [v.choice for v in out] == ["a", "tie"] and all(v.swap_consistent for v in out)


def test_a_spec_with_an_unknown_rule_or_kind_is_refused_by_field() -> None:
    with pytest.raises(ValueError, match="rule: "):
        judges.make_judge({"judge_kind": "rule", "rule": "nope"})
    with pytest.raises(ValueError, match="judge_kind"):
        judges.make_judge({"judge_kind": "oracle"})


class Fixed:
    """A judge that prefers the completion containing "good"."""

    def __init__(self) -> None:
        self.seen: list[Pair] = []

    def judge_pairs(self, pairs: Sequence[Pair]) -> list[Verdict]:
        self.seen.extend(pairs)
        return [Verdict("a" if "good" in p.a else "b" if "good" in p.b else "tie") for p in pairs]


def test_the_pairwise_reward_pairs_completion_i_with_i_plus_b_and_rewards_the_preferred() -> None:
    judge = Fixed()
    reward = judges.pairwise_reward_fn(judge)
    # B = 3: [p0c0, p1c0, p2c0, p0c1, p1c1, p2c1]
    prompts = ["p0", "p1", "p2"] * 2
    completions = ["good 0", "meh 1", "x 2", "bad 0", "good 1", "y 2"]
    assert reward(prompts=prompts, completions=completions, completion_ids=None) == [1.0, 0.0, 0.5, 0.0, 1.0, 0.5]
    assert [(p.prompt, p.a, p.b) for p in judge.seen] == [
        ("p0", "good 0", "bad 0"),
        ("p1", "meh 1", "good 1"),
        ("p2", "x 2", "y 2"),
    ]


def test_the_pairwise_reward_refuses_an_interleaved_layout_loudly() -> None:
    reward = judges.pairwise_reward_fn(Fixed())
    with pytest.raises(ValueError, match="layout"):
        reward(prompts=["p0", "p0", "p1", "p1"], completions=["a", "b", "c", "d"], completion_ids=None)


# ---------------------------------------------------------------- with real tiny models


@pytest.mark.ml
def test_an_llm_judge_on_the_tiny_policy_asks_both_orders_and_keeps_its_raw_output(tiny_policy: str) -> None:
    judge = judges.make_judge({"judge_kind": "llm", "base": tiny_policy, "max_new_tokens": 8})
    verdicts = judge.judge_pairs([Pair("Tell me about cats.", "Cats go well with banana.", "Cats go well with plum.")])
    [verdict] = verdicts
    assert verdict.choice in ("a", "b", "tie")
    assert verdict.raw.startswith("[order a, b]\n") and "\n\n[order b, a]\n" in verdict.raw
    # a random tiny model writes no "[[A]]": neither order parses, which is a tie
    assert verdict.scores["parsed"] == 0 and verdict.choice == "tie"


@pytest.mark.ml
def test_a_reward_model_judge_scores_both_answers_with_the_tiny_reward_model(tiny_reward: str) -> None:
    judge = judges.make_judge({"judge_kind": "reward-model", "base": tiny_reward, "tie_margin": 0.0})
    [verdict] = judge.judge_pairs([Pair("Tell me about cats.", "Cats go well with banana.", "Cats go well with plum.")])
    assert set(verdict.scores) == {"a", "b"} and verdict.scores["a"] != verdict.scores["b"]
    assert verdict.choice == ("a" if verdict.scores["a"] > verdict.scores["b"] else "b")


@pytest.mark.ml
def test_online_dpo_calls_a_wrapped_judge_with_the_2b_layout(
    tiny_policy: str, work_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins TRL's layout: a TRL upgrade that interleaves the two completions of a prompt fails here."""
    from datasets import Dataset

    from training.ml import online_dpo, registry

    judge = Fixed()
    monkeypatch.setattr(judges, "make_judge", lambda spec, **kw: judge)
    config = registry.make_config(
        "online_dpo", tiny_policy,
        {"max_steps": 1, "per_device_train_batch_size": 3, "max_new_tokens": 4, "max_length": 64,
         "logging_steps": 1, "save_steps": 1000, "reward": "judge:fixed", "use_lora": True},
    )  # fmt: skip
    rows = Dataset.from_list([{"prompt": f"Tell me about {t}."} for t in ("cats", "owls", "tea")])
    online_dpo.train(config, rows, work_dir / "odpo-layout", reward={"kind": "judge", "judge_kind": "rule"})
    assert len(judge.seen) == 3
    assert sorted(str(p.prompt) for p in judge.seen) == sorted(f"Tell me about {t}." for t in ("cats", "owls", "tea"))
