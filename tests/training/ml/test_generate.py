"""Local generation: batched greedy equals one prompt at a time, LoRA chains unmerged equal merged,
the model cache keeps versions loaded, streaming gives the same text piece by piece."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import FAST, TRAIN_ROWS

ml = pytest.mark.ml

PROMPTS: list[Any] = [
    "Tell me about cats.",
    [{"role": "user", "content": "Tell me about foxes."}],
    "Rivers",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about owls and boats."}],
    "Tell me about chess, bread and kites, please.",
]


def greedy(max_new_tokens: int = 10, **extra: Any) -> Any:
    from training.ml.sampling import Sampling

    return Sampling(temperature=0, max_new_tokens=max_new_tokens, **extra)


@pytest.fixture(scope="module")
def cache() -> Any:
    from training.ml.generate import ModelCache

    return ModelCache()


def random_adapter(base: str, parents: list[str], out_dir: Path, seed: int) -> str:
    """A LoRA adapter with random (non-zero) weights on `base` + `parents` merged, saved as a job saves one."""
    import torch
    from peft import LoraConfig, get_peft_model

    from training.ml.common import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer(base, "causal", parents)
    torch.manual_seed(seed)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    peft_model.save_pretrained(out_dir)
    return str(out_dir)


@pytest.fixture(scope="module")
def random_chain(tiny_policy: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("random-lora")
    a1 = random_adapter(tiny_policy, [], root / "a1", seed=1)
    a2 = random_adapter(tiny_policy, [a1], root / "a2", seed=2)
    return {"base": tiny_policy, "a1": a1, "a2": a2}


# ---------------------------------------------------------------- settings (no torch)


def test_sampling_settings_are_checked_and_name_the_bad_field() -> None:
    from training.ml.sampling import Sampling

    with pytest.raises(ValueError, match="temperature"):
        Sampling(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        Sampling(max_new_tokens=0)
    with pytest.raises(ValueError, match="n:"):
        Sampling(n=True)
    with pytest.raises(ValueError, match="stop"):
        Sampling(stop="\n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beam: not a sampling setting"):
        Sampling.from_dict({"beam": 4})
    settings = Sampling(temperature=0.7, top_p=0.9, top_k=20, n=2, stop=("\n",), seed=5)
    assert Sampling.from_dict(settings.to_dict()) == settings
    assert Sampling().greedy and not settings.greedy


def test_a_prompt_must_be_text_or_messages() -> None:
    from training.ml.sampling import plain_chat, validate_prompt

    with pytest.raises(ValueError, match=r"prompts\[3\]"):
        validate_prompt([{"role": "user"}], 3)
    with pytest.raises(ValueError, match=r"prompts\[0\]"):
        validate_prompt(42)
    assert plain_chat([{"role": "user", "content": "Hi"}]) == "user: Hi\nassistant:"


# ---------------------------------------------------------------- local generation


@ml
def test_conversations_use_the_chat_template_or_a_plain_join_without_one(tiny_policy: str) -> None:
    from transformers import AutoTokenizer

    from training.ml.generate import render

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
    messages = [{"role": "user", "content": "Hi"}]
    assert render(tokenizer, messages) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert render(tokenizer, "Hi") == "Hi"
    tokenizer.chat_template = None
    assert render(tokenizer, messages) == "user: Hi\nassistant:"


@ml
def test_batched_greedy_generation_equals_one_prompt_at_a_time(tiny_policy: str, cache: Any) -> None:
    from training.ml.generate import generate

    batched = generate(PROMPTS, greedy(n=2), base=tiny_policy, cache=cache, batch_size=4)
    alone = [generate([p], greedy(), base=tiny_policy, cache=cache)[0] for p in PROMPTS]
    assert [b[0] for b in batched] == [a[0] for a in alone]
    assert all(len(b) == 2 and b[0] == b[1] for b in batched)  # n greedy answers are the same answer
    assert all(0 < b[0].tokens <= 10 for b in batched)
    assert {b[0].finish_reason for b in batched} <= {"stop", "length"}
    assert len({b[0].text for b in batched}) > 1  # the prompts do lead to different answers


@ml
def test_seeded_sampling_repeats_and_another_seed_differs(tiny_policy: str, cache: Any) -> None:
    from training.ml.generate import generate
    from training.ml.sampling import Sampling

    settings = Sampling(temperature=1.0, top_k=0, max_new_tokens=12, n=3, seed=7)
    first = generate(PROMPTS[:2], settings, base=tiny_policy, cache=cache)
    assert first == generate(PROMPTS[:2], settings, base=tiny_policy, cache=cache)
    assert len({c.text for c in first[0]}) == 3  # n samples, not one copied
    other = generate(
        PROMPTS[:2], Sampling(temperature=1.0, max_new_tokens=12, n=3, seed=8), base=tiny_policy, cache=cache
    )
    assert other != first


@ml
def test_a_stop_string_ends_the_text_before_it(tiny_policy: str, cache: Any) -> None:
    from training.ml.generate import generate
    from training.ml.sampling import Sampling

    settings = Sampling(temperature=1.0, max_new_tokens=24, seed=3)
    [[full]] = generate(["Tell me about cats."], settings, base=tiny_policy, cache=cache)
    assert full.finish_reason == "length" and len(full.text) > 8, full
    stop = full.text[6:8]
    [[cut]] = generate(
        ["Tell me about cats."], Sampling(**{**settings.to_dict(), "stop": (stop,)}), base=tiny_policy, cache=cache
    )
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.finish_reason == "stop" and cut.tokens < full.tokens


@ml
def test_a_second_batch_on_the_same_version_does_not_reload(tiny_policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.ml.generate as gen

    loads: list[tuple[Any, ...]] = []
    real_load = gen.load_for_generation

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(gen, "load_for_generation", counting_load)
    cache = gen.ModelCache()
    first = gen.generate(PROMPTS, greedy(), base=tiny_policy, cache=cache)
    second = gen.generate(PROMPTS, greedy(), base=tiny_policy, cache=cache)
    assert second == first
    assert len(loads) == 1
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)
    assert stats.bytes > 100_000  # the tiny model's parameters, counted


@ml
def test_the_cache_evicts_the_least_recently_used_version_beyond_its_budget(
    random_chain: dict[str, str],
) -> None:
    from training.ml.generate import ModelCache

    probe = ModelCache()
    probe.get(random_chain["base"])
    one_model = probe.stats().bytes
    cache = ModelCache(budget_bytes=int(one_model * 2.5))  # room for two
    base, a1 = random_chain["base"], random_chain["a1"]
    cache.get(base)
    cache.get(base, [a1])
    cache.get(base)  # the base is now the most recently used
    cache.get(base, [a1, random_chain["a2"]])  # evicts [a1]
    assert cache.stats().evictions == 1 and cache.stats().entries == 2
    cache.get(base)
    assert cache.stats().hits == 2
    cache.get(base, [a1])
    assert cache.stats().misses == 4


@ml
def test_a_lora_chain_is_applied_unmerged_and_generates_what_the_merged_model_does(
    random_chain: dict[str, str], cache: Any
) -> None:
    from training.ml.common import load_model_and_tokenizer
    from training.ml.generate import generate, generate_with

    base, chain = random_chain["base"], [random_chain["a1"], random_chain["a2"]]
    unmerged = generate(PROMPTS, greedy(16), base=base, adapters=chain, cache=cache)
    model, _ = cache.get(base, chain)
    assert any("lora_A" in name for name, _ in model.named_modules())  # the adapters stay separate
    merged_model, tokenizer = load_model_and_tokenizer(base, "causal", chain)
    assert not any("lora_A" in name for name, _ in merged_model.named_modules())
    assert generate_with(merged_model, tokenizer, PROMPTS, greedy(16)) == unmerged
    # each adapter matters: the base alone, or the first adapter alone, answer otherwise
    assert generate(PROMPTS, greedy(16), base=base, cache=cache) != unmerged
    assert generate(PROMPTS, greedy(16), base=base, adapters=chain[:1], cache=cache) != unmerged


@ml
def test_an_adapter_directory_given_as_base_loads_on_its_own_base(random_chain: dict[str, str], cache: Any) -> None:
    from training.ml.generate import generate, resolve_chain

    assert resolve_chain(random_chain["a2"], []) == (random_chain["base"], (random_chain["a2"],))
    assert generate(PROMPTS[:2], greedy(), base=random_chain["a1"], cache=cache) == generate(
        PROMPTS[:2], greedy(), base=random_chain["base"], adapters=[random_chain["a1"]], cache=cache
    )


@ml
def test_streaming_yields_pieces_that_make_the_batch_answer(tiny_policy: str, cache: Any) -> None:
    from training.ml.generate import generate, stream
    from training.ml.sampling import Sampling

    settings = Sampling(temperature=1.0, max_new_tokens=20, seed=11)
    [[expected]] = generate(["Tell me about owls."], settings, base=tiny_policy, cache=cache)
    answer = stream("Tell me about owls.", settings, base=tiny_policy, cache=cache)
    pieces = list(answer)
    assert len(pieces) > 1
    assert "".join(pieces) == expected.text
    assert answer.completion == expected
    assert answer.first_token_at is not None


@ml
def test_a_stream_stops_at_a_stop_string_and_can_be_closed_early(tiny_policy: str, cache: Any) -> None:
    from training.ml.generate import generate, stream
    from training.ml.sampling import Sampling

    settings = Sampling(temperature=1.0, max_new_tokens=24, seed=3)
    [[full]] = generate(["Tell me about cats."], settings, base=tiny_policy, cache=cache)
    stop = full.text[6:8]
    stopped = stream(
        "Tell me about cats.", Sampling(**{**settings.to_dict(), "stop": (stop,)}), base=tiny_policy, cache=cache
    )
    assert "".join(stopped) == full.text[: full.text.find(stop)]
    assert stopped.completion is not None and stopped.completion.finish_reason == "stop"

    long = Sampling(max_new_tokens=2000)
    with stream("Tell me about cats.", long, base=tiny_policy, cache=cache) as early:
        next(iter(early))
    assert not early._thread.is_alive()


# ---------------------------------------------------------------- issue 12, point 7


@ml
def test_a_lora_version_trained_on_a_lora_version_without_learning_generates_as_its_parent(
    tiny_policy: str, work_dir: Path, cache: Any
) -> None:
    from training.ml import registry
    from training.ml.generate import generate

    lora = {**FAST, "use_lora": True}
    parent = registry.train(
        "sft",
        base=tiny_policy,
        adapters=[],
        values={**lora, "learning_rate": 5e-3, "max_steps": 2},
        train_rows=TRAIN_ROWS,
        output_dir=work_dir / "gen-parent",
    ).model_dir
    child = registry.train(
        "sft",
        base=tiny_policy,
        adapters=[parent],
        values={**lora, "learning_rate": 1e-12, "max_steps": 1},
        train_rows=TRAIN_ROWS,
        output_dir=work_dir / "gen-child",
    ).model_dir
    assert (Path(child) / "adapter_config.json").is_file()
    settings = greedy(16)
    parent_answers = generate(PROMPTS, settings, base=tiny_policy, adapters=[parent], cache=cache)
    assert generate(PROMPTS, settings, base=tiny_policy, adapters=[parent, child], cache=cache) == parent_answers
