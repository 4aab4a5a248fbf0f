"""Rule rewards (training/ml/rules.py): pure functions with TRL's reward-function signature."""

from __future__ import annotations

import pytest

from training.ml import rules


def test_vocab_share_counts_the_tokens_whose_id_is_a_multiple_of_four() -> None:
    # [0, 4, 5, 7]: 0 and 4 are in the quarter -> 2/4; [8]: 1; []: 0 (no division by zero)
    assert rules.vocab_share(["p"] * 3, ["x", "y", ""], [[0, 4, 5, 7], [8], []]) == [0.5, 1.0, 0.0]


def test_vocab_share_refuses_a_call_without_token_ids() -> None:
    with pytest.raises(ValueError, match="completion_ids"):
        rules.vocab_share(["p"], ["x"], None)


def test_length_uses_tokens_when_given_and_characters_otherwise_capped_at_one() -> None:
    assert rules.length(["p", "p"], ["ab", "abcd"], [[1] * 64, [1] * 512]) == [0.25, 1.0]
    assert rules.length(["p", "p"], ["a" * 256, [{"role": "assistant", "content": "a" * 2048}]]) == [0.25, 1.0]


def test_regex_rule_rewards_a_match_anywhere_in_the_completion() -> None:
    rule = rules.get("rule:regex:ban+ana")
    assert rule(["p", "p"], ["I like bannana bread", "apples"], None) == [1.0, 0.0]


def test_a_bad_regex_is_refused_with_the_rule_named() -> None:
    with pytest.raises(ValueError, match="rule regex: not a valid pattern"):
        rules.get("regex:(unclosed")


def test_keyword_rule_gives_the_share_of_the_words_found() -> None:
    assert rules.get("keyword:Banana, cherry")(["p"], ["A BANANA only"], None) == [0.5]


def test_an_unknown_rule_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="length, vocab-share"):
        rules.get("rule:shortness")


def test_compare_calls_a_tie_within_the_margin_and_otherwise_picks_the_higher() -> None:
    assert rules.compare(0.5, 0.2) == "a"
    assert rules.compare(0.2, 0.5) == "b"
    assert rules.compare(0.5, 0.45, tie_margin=0.1) == "tie"
    assert rules.compare(0.3, 0.3) == "tie"


def test_pairwise_compares_each_pair_by_the_rule_in_one_call() -> None:
    calls: list[int] = []

    def counting(prompts, completions, completion_ids, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(completions))
        return rules.vocab_share(prompts, completions, completion_ids)

    out = rules.pairwise(counting, ["p", "q"], ["a1", "a2"], ["b1", "b2"], ids_a=[[4, 4], [1]], ids_b=[[1, 4], [1]])
    assert out == [("a", 1.0, 0.5), ("tie", 0.0, 0.0)]
    assert calls == [4]
