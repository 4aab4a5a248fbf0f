"""LoRA chains keep their adapters: a version loaded as base + [a1, a2] is exactly what its job ended with.

Jobs go through `training.ml.registry.train` / `evaluate`, the worker's only entries (no database).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import FAST, HELD_OUT_ROWS, TRAIN_ROWS

pytestmark = pytest.mark.ml

PROBE = ["Tell me about foxes. Foxes go well with banana.", "Tell me about hats. Hats go well with plum."]


def logits_of(model: Any, tokenizer: Any) -> Any:
    import torch

    model.eval()
    with torch.no_grad():
        batch = tokenizer(PROBE, return_tensors="pt", padding=True)
        return model(**batch).logits.float().cpu()


def loaded_logits(base: str, adapters: list[str]) -> Any:
    from training.ml.common import load_model_and_tokenizer

    return logits_of(*load_model_and_tokenizer(base, "causal", adapters))


@pytest.fixture(scope="module")
def chain(tiny_policy: str, work_dir: Path) -> dict[str, Any]:
    """Three chained LoRA DPO jobs: a1 on the base, a2 on [a1], and a 'learns nothing' a2 on [a1].

    The logits each job's own trainer computes at the end of its training are kept for comparison.
    """
    import training.ml.common as common
    from training.ml import registry

    at_end: dict[str, Any] = {}
    original = common.train_with

    def train_and_probe(trainer: Any, output_dir: str | Path, resume_from_checkpoint: Any = None) -> Any:
        result = original(trainer, output_dir, resume_from_checkpoint)
        at_end[Path(output_dir).name] = logits_of(trainer.model, trainer.processing_class)
        return result

    common.train_with = train_and_probe
    try:
        lora = {**FAST, "use_lora": True, "loss_type": "ipo"}
        a1 = registry.train(
            "dpo",
            base=tiny_policy,
            adapters=[],
            values={**lora, "learning_rate": 5e-3, "max_steps": 6},
            train_rows=TRAIN_ROWS,
            output_dir=work_dir / "chain-1",
        ).model_dir
        a2 = registry.train(
            "dpo",
            base=tiny_policy,
            adapters=[a1],
            values={**lora, "learning_rate": 5e-3, "max_steps": 3},
            train_rows=TRAIN_ROWS,
            output_dir=work_dir / "chain-2",
        ).model_dir
        nothing = registry.train(
            "dpo",
            base=tiny_policy,
            adapters=[a1],
            values={**lora, "learning_rate": 1e-12, "max_steps": 2},
            train_rows=TRAIN_ROWS,
            output_dir=work_dir / "chain-nothing",
        ).model_dir
    finally:
        common.train_with = original
    return {"base": tiny_policy, "a1": a1, "a2": a2, "nothing": nothing, "at_end": at_end}


def test_a_second_lora_version_loads_with_exactly_the_weights_its_job_ended_with(chain: dict[str, Any]) -> None:
    import torch

    base, a1, a2 = chain["base"], chain["a1"], chain["a2"]
    assert (Path(a2) / "adapter_config.json").is_file()
    loaded = loaded_logits(base, [a1, a2])
    torch.testing.assert_close(loaded, chain["at_end"]["chain-2"], atol=1e-5, rtol=0)
    # and each adapter matters: dropping either one (the old "original base" bug) gives other weights
    assert (loaded_logits(base, [a2]) - loaded).abs().max() > 1e-3
    assert (loaded_logits(base, [a1]) - loaded).abs().max() > 1e-3


def test_the_first_version_loads_as_its_job_ended(chain: dict[str, Any]) -> None:
    import torch

    first = loaded_logits(chain["base"], [chain["a1"]])
    torch.testing.assert_close(first, chain["at_end"]["chain-1"], atol=1e-5, rtol=0)
    assert (loaded_logits(chain["base"], []) - first).abs().max() > 1e-3  # a1 learned something


def test_a_chained_job_that_learns_nothing_reproduces_the_previous_version(chain: dict[str, Any]) -> None:
    import torch

    first = loaded_logits(chain["base"], [chain["a1"]])
    torch.testing.assert_close(loaded_logits(chain["base"], [chain["a1"], chain["nothing"]]), first, atol=1e-5, rtol=0)


def test_dpo_evaluation_uses_the_starting_version_as_reference(chain: dict[str, Any]) -> None:
    """A job that learned nothing has policy == reference: every implicit reward is 0, a tie, so accuracy 0.5.

    Against the bare base (the wrong reference) the first adapter's learning would show as accuracy.
    """
    from training.ml import registry

    values = {"beta": 0.1, "use_lora": True}
    evaluation = registry.evaluate(
        "dpo",
        model_dir=chain["nothing"],
        base=chain["base"],
        adapters=[chain["a1"]],
        values=values,
        test_rows=HELD_OUT_ROWS,
    )
    assert evaluation == {"implicit_reward_accuracy": 0.5, "test_pairs": len(HELD_OUT_ROWS)}
    wrong_reference = registry.evaluate(
        "dpo", model_dir=chain["a1"], base=chain["base"], adapters=[], values=values, test_rows=HELD_OUT_ROWS
    )
    assert wrong_reference["implicit_reward_accuracy"] > 0.5
    assert (
        registry.evaluate(
            "dpo", model_dir=chain["a2"], base=chain["base"], adapters=[chain["a1"]], values=values, test_rows=[]
        )
        == {}
    )


def test_an_unknown_algorithm_is_refused_by_the_ml_entries(tiny_policy: str, work_dir: Path) -> None:
    from training.algorithms import ConfigError
    from training.ml import registry

    with pytest.raises(ConfigError, match="algorithm: must be one of"):
        registry.train(
            "reinforce", base=tiny_policy, adapters=[], values={}, train_rows=TRAIN_ROWS, output_dir=work_dir / "x"
        )
    with pytest.raises(ConfigError, match="algorithm: must be one of"):
        registry.evaluate("reinforce", model_dir=tiny_policy, base=tiny_policy, adapters=[], values={}, test_rows=[])
