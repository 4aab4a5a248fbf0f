"""Pieces every algorithm shares, written once.

- The configs live in the torch-free table `training.algorithms`; each names its TRL config class
  in `trl_config` (resolved by `trl_config_class`). Every field not in `LOCAL_FIELDS` is passed
  through to that class under the same name (`to_trl_config`), so its default and meaning are TRL's.
- `ProgressCallback`: what the worker hands in; `ProgressAdapter` calls it from the trainer.
- `load_model_and_tokenizer` (a base plus LoRA adapters merged in order), `lora_config`,
  `device_settings`: model side.
- `run_trainer` / `train_with`: build one TRL trainer, train, save `output_dir/final`.
- `entry`: an algorithm module's `train`, the signature all share, its arguments handed on as one
  `TrainCall`; `trainer_entry`: the `train` of one TRL trainer, declared by what differs (trainer,
  model kind, hooks).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from datasets import Dataset
from peft import AutoPeftModelForCausalLM, AutoPeftModelForSequenceClassification, LoraConfig, PeftModel
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from training.algorithms import CommonConfig, passthrough_fields

ModelKind = Literal["causal", "reward"]


def trl_config_class(config_cls: type[CommonConfig]) -> type[TrainingArguments]:
    """The TRL config class named (as a dotted path) by `config_cls.trl_config`."""
    if config_cls.trl_config is None:
        raise ValueError(f"{config_cls.__name__} has no TRL config class (its algorithm is ours)")
    module_name, _, class_name = config_cls.trl_config.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def device_settings() -> dict[str, Any]:
    """bf16 and activation (gradient) checkpointing only on CUDA; plain fp32 on CPU.

    TRL defaults both to on. Transformers 5 renamed `gradient_checkpointing` to
    `activation_checkpointing` and warns on the old name, which TRL's configs still set.
    """
    cuda = torch.cuda.is_available()
    return {
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "activation_checkpointing": cuda,
        "use_cpu": not cuda,
    }


def to_trl_config(config: CommonConfig, output_dir: str | Path, **overrides: Any) -> TrainingArguments:
    """Build `config.trl_config` from our config: pass-through fields, device settings, quiet reporting."""
    trl_cls = trl_config_class(type(config))
    known = {f.name for f in dataclasses.fields(trl_cls)}
    names = passthrough_fields(type(config))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{trl_cls.__name__} has no field(s) {unknown}")
    kwargs: dict[str, Any] = {name: getattr(config, name) for name in names}
    kwargs.update(device_settings())
    kwargs.update(output_dir=str(output_dir), report_to=[], disable_tqdm=True, dataloader_num_workers=0)
    kwargs.update(overrides)
    return trl_cls(**kwargs)


def is_adapter_dir(name_or_path: str | Path) -> bool:
    """True for a directory holding a peft adapter rather than a full model."""
    return (Path(name_or_path) / "adapter_config.json").is_file()


def load_model_and_tokenizer(
    name_or_path: str | Path, kind: ModelKind = "causal", adapters: Sequence[str | Path] = ()
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a model (fp32, as TRL does) and its tokenizer: `name_or_path`, then each LoRA adapter
    directory in `adapters` loaded with peft and merged, in order.

    That is how a model version is loaded anywhere (training, evaluation, generation), so a chain of
    LoRA jobs gives exactly the weights its last job ended with. A `name_or_path` that is itself an
    adapter directory (one with `adapter_config.json`) is loaded onto the base it names and merged.
    What comes back is always a plain model. Reward models have one output (`num_labels=1`).
    """
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if kind == "reward":
        kwargs["num_labels"] = 1
    if is_adapter_dir(name_or_path):
        peft_auto = AutoPeftModelForCausalLM if kind == "causal" else AutoPeftModelForSequenceClassification
        model = peft_auto.from_pretrained(name_or_path, **kwargs).merge_and_unload()
    else:
        auto = AutoModelForCausalLM if kind == "causal" else AutoModelForSequenceClassification
        model = auto.from_pretrained(name_or_path, **kwargs)
    model = apply_adapters(model, adapters)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def apply_adapters(model: PreTrainedModel, adapters: Sequence[str | Path]) -> PreTrainedModel:
    """`model` with each LoRA adapter in `adapters` loaded and merged into it, in order."""
    for adapter in adapters:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model


def lora_config(config: CommonConfig, kind: ModelKind = "causal") -> LoraConfig | None:
    """The peft `LoraConfig` for `config`, or None when `use_lora` is off."""
    if not config.use_lora:
        return None
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM" if kind == "causal" else "SEQ_CLS",
    )


class ProgressCallback(Protocol):
    """Called with (global step, max steps, new metrics); return False to ask training to stop.

    It is called at the end of every optimizer step with empty metrics, and again with the logged
    metrics (loss, learning rate, ...) every `logging_steps`.
    """

    def __call__(self, step: int, max_steps: int, metrics: dict[str, float], /) -> bool: ...


def _keep_going(step: int, max_steps: int, metrics: dict[str, float]) -> bool:
    return True


class ProgressAdapter(TrainerCallback):
    """A transformers `TrainerCallback` that forwards progress to a `ProgressCallback`."""

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self.callback = callback or _keep_going
        self.stopped = False

    def _report(self, state: TrainerState, control: TrainerControl, metrics: dict[str, float]) -> None:
        if not self.callback(state.global_step, state.max_steps, metrics):
            self.stopped = True
            control.should_training_stop = True

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self._report(state, control, {})

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._report(state, control, _numbers(logs or {}))


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in values.items() if isinstance(v, int | float)}


@dataclass
class TrainResult:
    """What a training run produced: where it stopped, its last metrics and the saved model."""

    final_step: int
    metrics: dict[str, float]
    model_dir: str
    stopped_early: bool


def train_with(
    trainer: Trainer, output_dir: str | Path, resume_from_checkpoint: str | Path | None = None
) -> TrainResult:
    """Train (or resume), evaluate if the trainer has an eval set, and save to `output_dir/final`.

    With LoRA the adapter is saved (not merged); otherwise the full model. The tokenizer goes with
    it either way. Metrics: the last logged training values, the run summary and any `eval_*`.
    """
    progress = next((c for c in trainer.callback_handler.callbacks if isinstance(c, ProgressAdapter)), None)
    output = trainer.train(resume_from_checkpoint=str(resume_from_checkpoint) if resume_from_checkpoint else None)
    metrics: dict[str, float] = {}
    for logged in trainer.state.log_history:
        metrics.update(_numbers(logged))
    metrics.update(_numbers(output.metrics))
    if trainer.eval_dataset is not None:
        metrics.update(_numbers(trainer.evaluate()))
    model_dir = Path(output_dir) / "final"
    trainer.save_model(str(model_dir))
    return TrainResult(
        final_step=trainer.state.global_step,
        metrics=metrics,
        model_dir=str(model_dir),
        stopped_early=progress is not None and progress.stopped,
    )


@dataclass
class TrainCall:
    """The arguments of one call of an algorithm's `train` (see `entry`), as one value."""

    config: Any
    train_dataset: Dataset
    output_dir: str | Path
    callback: ProgressCallback | None = None
    eval_dataset: Dataset | None = None
    resume_from_checkpoint: str | Path | None = None
    adapters: Sequence[str | Path] = ()

    def with_datasets(self, prepare: Callable[[Dataset], Dataset]) -> TrainCall:
        """This call with `prepare` applied to its train dataset and (if any) its eval dataset."""
        return dataclasses.replace(
            self,
            train_dataset=prepare(self.train_dataset),
            eval_dataset=None if self.eval_dataset is None else prepare(self.eval_dataset),
        )


def run_trainer(trainer_cls: type[Trainer], call: TrainCall, *, kind: ModelKind, **trainer_kwargs: Any) -> TrainResult:
    """Load `call.config.model_name_or_path` plus `call.adapters`, build `trainer_cls` the way every TRL
    trainer takes it, train. `trainer_kwargs` go to the trainer (DPO's `ref_model`)."""
    config = call.config
    model, tokenizer = load_model_and_tokenizer(config.model_name_or_path, kind, call.adapters)
    trainer = trainer_cls(
        model=model,
        args=to_trl_config(config, call.output_dir),
        train_dataset=call.train_dataset,
        eval_dataset=call.eval_dataset,
        processing_class=tokenizer,
        peft_config=lora_config(config, kind),
        callbacks=[ProgressAdapter(call.callback)],
        **trainer_kwargs,
    )
    return train_with(trainer, call.output_dir, call.resume_from_checkpoint)


def entry(run: Callable[..., TrainResult], doc: str | None = None) -> Callable[..., TrainResult]:
    """An algorithm module's `train`, with the signature every algorithm shares: `run(call, **extra)`
    trains, where `call` is the `TrainCall` of the arguments and `extra` are the keyword arguments only
    some algorithms take (an online algorithm's `reward`); `run` rejects those it does not take.
    The docstring is `doc`, else `run`'s."""

    def train(
        config: Any,
        train_dataset: Dataset,
        output_dir: str | Path,
        callback: ProgressCallback | None = None,
        eval_dataset: Dataset | None = None,
        resume_from_checkpoint: str | Path | None = None,
        *,
        adapters: Sequence[str | Path] = (),
        **extra: Any,
    ) -> TrainResult:
        call = TrainCall(config, train_dataset, output_dir, callback, eval_dataset, resume_from_checkpoint, adapters)
        return run(call, **extra)

    train.__doc__ = doc if doc is not None else run.__doc__
    return train


def trainer_entry(
    trainer_cls: type[Trainer],
    *,
    kind: ModelKind = "causal",
    doc: str,
    prepare: Callable[[Dataset], Dataset] | None = None,
    check: Callable[[Any, Dataset], dict[str, Any]] | None = None,
    trainer_kwargs: Callable[[Any, Sequence[str | Path]], dict[str, Any]] | None = None,
) -> Callable[..., TrainResult]:
    """The `train` of an algorithm module that is one TRL trainer: only what differs is declared.

    `prepare` maps the train and eval datasets to the columns the trainer reads; `check(config,
    train_dataset)` runs before training (it may warn) and its metrics join the result's;
    `trainer_kwargs(config, adapters)` are extra trainer arguments (DPO's `ref_model`).
    """

    def run(call: TrainCall) -> TrainResult:
        if prepare is not None:
            call = call.with_datasets(prepare)
        checked = check(call.config, call.train_dataset) if check is not None else {}
        extra = trainer_kwargs(call.config, call.adapters) if trainer_kwargs is not None else {}
        result = run_trainer(trainer_cls, call, kind=kind, **extra)
        result.metrics.update(checked)
        return result

    return entry(run, doc)
