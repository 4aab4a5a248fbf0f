"""The training algorithms, in one table: plain Python (no torch, no Django), read by every layer.

For each algorithm: its name and label, the snapshot formats it trains on, the model kind it starts
from and produces, and its typed config (a dataclass whose fields carry default, bounds and help).
The launch form, the API, the CLI choices, validation and worker dispatch all read `ALGORITHMS`;
the ML side (`training.ml.registry`) maps the same names to entry functions, and a test fails when
the two disagree.

Config fields not in `LOCAL_FIELDS` are passed through under the same name to the TRL config class
named by `trl_config` (a dotted path, imported only on the ML side), so their meaning is TRL's.

Adding an algorithm: a config dataclass and one `Algorithm(...)` row here, plus one module in
training/ml/ with a `train` function registered in training/ml/registry.py.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

ModelKind = Literal["policy", "reward"]

# Fields of our configs that are ours, not TRL's: everything else is passed through to the TRL config.
LOCAL_FIELDS = frozenset({"model_name_or_path", "use_lora", "lora_r", "lora_alpha", "lora_dropout"})
# ... and those of the online algorithms: the reward source, and the prompt length we truncate to ourselves
ONLINE_LOCAL_FIELDS = frozenset({"reward", "max_prompt_length"})

# The hyperparameters people tune, shown on the launch form; everything else goes in the JSON box.
FORM_FIELDS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "beta",
    "loss_type",
    "label_smoothing",
    "desirable_weight",
    "undesirable_weight",
    "max_length",
    "use_lora",
    "reward",
    "num_generations",
    "max_completion_length",
    "max_new_tokens",
    "temperature",
)


class ConfigError(ValueError):
    """A config value that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def param(
    default: Any,
    help: str,
    *,
    choices: list[str] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> Any:
    """A dataclass field carrying its own help text and bounds: `minimum`/`maximum` are inclusive,
    `above` is an exclusive lower bound (a learning rate must be > 0)."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = choices
    if minimum is not None:
        metadata["min"] = minimum
    if above is not None:
        metadata["exclusive_min"] = above
    if maximum is not None:
        metadata["max"] = maximum
    return field(default=default, metadata=metadata)


MAX_BATCH = 4096
MAX_LENGTH = 131072
MAX_STEPS = 10_000_000


@dataclass(kw_only=True)
class CommonConfig:
    """Fields every algorithm shares. Defaults are TRL's (LoRA defaults: `trl.ModelConfig`'s)."""

    trl_config: ClassVar[str | None] = "transformers.TrainingArguments"  # None: no TRL config, every field is ours
    # fields of this class that are ours (not passed to `trl_config`), and inherited ones it does not have
    local_fields: ClassVar[frozenset[str]] = LOCAL_FIELDS
    omitted_fields: ClassVar[frozenset[str]] = frozenset()

    model_name_or_path: str = field(
        metadata={"help": "Local directory or hub id of the model to start from; set by the worker, not the user."}
    )
    learning_rate: float = param(5e-5, "Initial learning rate for AdamW.", above=0, maximum=1)
    num_train_epochs: float = param(
        3.0, "Number of passes over the training data (ignored when max_steps > 0).", minimum=0, maximum=100_000
    )
    max_steps: int = param(
        -1, "If > 0, total number of optimizer steps; overrides num_train_epochs.", minimum=-1, maximum=MAX_STEPS
    )
    per_device_train_batch_size: int = param(8, "Batch size per device for training.", minimum=1, maximum=MAX_BATCH)
    gradient_accumulation_steps: int = param(
        1, "Number of batches to accumulate before an optimizer step.", minimum=1, maximum=MAX_BATCH
    )
    seed: int = param(42, "Random seed set at the start of training.", minimum=0, maximum=2**32 - 1)
    save_steps: int = param(
        500, "Save a resumable checkpoint every this many optimizer steps.", minimum=1, maximum=MAX_STEPS
    )
    logging_steps: int = param(
        10, "Log (and report progress metrics) every this many optimizer steps.", minimum=1, maximum=MAX_STEPS
    )
    max_length: int = param(1024, "Maximum length in tokens of a tokenized sequence.", minimum=1, maximum=MAX_LENGTH)
    use_lora: bool = param(False, "Train a LoRA adapter on all linear layers instead of the full model.")
    lora_r: int = param(16, "LoRA rank.", minimum=1, maximum=4096)
    lora_alpha: int = param(32, "LoRA scaling factor alpha.", minimum=1, maximum=65536)
    lora_dropout: float = param(0.05, "Dropout probability on the LoRA layers.", minimum=0, maximum=1)


@dataclass(kw_only=True)
class RewardConfig(CommonConfig):
    """Reward model training; fields mirror `trl.RewardConfig`."""

    trl_config: ClassVar[str] = "trl.RewardConfig"

    learning_rate: float = param(1e-4, "Initial learning rate for AdamW.", above=0, maximum=1)
    center_rewards_coefficient: float | None = param(
        None,
        "Coefficient of a penalty that pushes rewards towards mean zero (Eisenstein et al. 2023); "
        "0.01 is a recommended value. Unset: no penalty.",
        minimum=0,
    )


@dataclass(kw_only=True)
class SFTConfig(CommonConfig):
    """Supervised fine-tuning; fields mirror `trl.SFTConfig`."""

    trl_config: ClassVar[str] = "trl.SFTConfig"

    learning_rate: float = param(2e-5, "Initial learning rate for AdamW.", above=0, maximum=1)
    packing: bool = param(False, "Pack several sequences into each max_length row.")


DPO_LOSS_TYPES = ["sigmoid", "ipo", "hinge", "robust"]


@dataclass(kw_only=True)
class DPOConfig(CommonConfig):
    """Direct Preference Optimization; fields mirror `trl.DPOConfig`."""

    trl_config: ClassVar[str] = "trl.DPOConfig"

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", above=0, maximum=1)
    beta: float = param(
        0.1,
        "Strength of the pull towards the reference model: higher beta, less deviation. "
        "For loss_type='ipo' it is the regularization parameter tau.",
        minimum=0,
    )
    loss_type: str = param(
        "sigmoid",
        "sigmoid: the DPO loss; ipo: IPO (squared loss on the log-ratio margin); hinge: SLiC hinge loss; "
        "robust: Robust DPO, unbiased under label noise of rate label_smoothing.",
        choices=DPO_LOSS_TYPES,
    )
    label_smoothing: float = param(
        0.0,
        "Robust DPO: assumed probability that a preference label is flipped, in [0, 0.5); 0.1 is typical.",
        minimum=0,
        maximum=0.5,
    )


@dataclass(kw_only=True)
class KTOConfig(CommonConfig):
    """KTO; fields mirror `trl.KTOConfig`."""

    trl_config: ClassVar[str] = "trl.KTOConfig"

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", above=0, maximum=1)
    per_device_train_batch_size: int = param(
        8,
        "Batch size per device for training; KTO needs at least 2 to estimate its KL term.",
        minimum=2,
        maximum=MAX_BATCH,
    )
    beta: float = param(
        0.1, "Strength of the pull towards the reference model: higher beta, less deviation.", minimum=0
    )
    desirable_weight: float = param(
        1.0, "Weight of the loss on desirable (label True) examples, to counter class imbalance.", minimum=0
    )
    undesirable_weight: float = param(
        1.0, "Weight of the loss on undesirable (label False) examples, to counter class imbalance.", minimum=0
    )


@dataclass(kw_only=True)
class ORPOConfig(CommonConfig):
    """ORPO; fields mirror `trl.experimental.orpo.ORPOConfig`."""

    trl_config: ClassVar[str] = "trl.experimental.orpo.ORPOConfig"

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", above=0, maximum=1)
    beta: float = param(0.1, "Weight of the odds-ratio loss relative to the SFT loss (lambda in the paper).", minimum=0)


@dataclass(kw_only=True)
class PPOConfig(CommonConfig):
    """PPO, ours (training/ml/ppo.py): no TRL config, every field is local. Defaults after TRL's last
    PPOConfig and Huang et al. (2024). A step is one rollout batch of
    per_device_train_batch_size * gradient_accumulation_steps * num_mini_batches prompts, then
    num_ppo_epochs passes of minibatches over it (one optimizer step per minibatch)."""

    trl_config: ClassVar[str | None] = None

    learning_rate: float = param(3e-6, "Initial learning rate for AdamW (policy and value model).", above=0, maximum=1)
    per_device_train_batch_size: int = param(
        8, "Prompts per micro-batch of the update; the rollout batch is this times the two below.", minimum=1,
        maximum=MAX_BATCH,
    )  # fmt: skip
    logging_steps: int = param(
        1, "Log (and report progress metrics) every this many PPO steps.", minimum=1, maximum=MAX_STEPS
    )
    reward: str = param(
        "", "Reward source: model:NAME (a reward version), judge:NAME (a judge) or rule:NAME (e.g. rule:vocab-share)."
    )
    value_model: str = param(
        "",
        "Reward version (model:NAME) to initialise the value model from; empty: the reward model when the "
        "reward is one, else the policy.",
    )
    num_mini_batches: int = param(
        1, "Minibatches per rollout batch (one optimizer step each).", minimum=1, maximum=MAX_BATCH
    )
    num_ppo_epochs: int = param(4, "Passes over each rollout batch.", minimum=1, maximum=100)
    response_length: int = param(53, "Maximum number of tokens sampled per response.", minimum=1, maximum=MAX_LENGTH)
    temperature: float = param(0.7, "Sampling temperature (log-probabilities are taken at the same one).", above=0)
    kl_coef: float = param(0.05, "Per-token KL penalty coefficient against the reference (starting) policy.", minimum=0)
    missing_eos_penalty: float = param(
        0.0, "Subtracted from the score of a response that ends without EOS (0: no penalty).", minimum=0
    )
    cliprange: float = param(0.2, "Clip range of the policy ratio.", minimum=0, maximum=10)
    cliprange_value: float = param(0.2, "Clip range of the value update.", minimum=0)
    vf_coef: float = param(0.1, "Weight of the value loss.", minimum=0)
    gamma: float = param(1.0, "Discount factor of GAE.", minimum=0, maximum=1)
    lam: float = param(0.95, "Lambda of GAE (bias-variance trade-off).", minimum=0, maximum=1)
    max_grad_norm: float = param(1.0, "Gradient clipping norm.", above=0)


REWARD_KINDS = ("model", "judge", "rule")
REWARD_HELP = (
    "Where the reward comes from: model:NAME (a reward model version of the project), judge:NAME (a judge "
    "registered in the project) or rule:NAME (a closed-form rule: rule:length, rule:vocab-share, rule:regex:PATTERN)."
)


def parse_reward(value: Any) -> tuple[str, str]:
    """(kind, name) of a reward source "model:NAME" | "judge:NAME" | "rule:NAME"; ConfigError on `reward`.

    Only the syntax: whether NAME exists in the project is checked at launch (training.services).
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("reward", f"is required: {' | '.join(k + ':NAME' for k in REWARD_KINDS)}")
    kind, sep, name = value.strip().partition(":")
    if not sep or kind not in REWARD_KINDS or not name.strip():
        raise ConfigError("reward", f"must be model:NAME, judge:NAME or rule:NAME, not {value!r}")
    if len(value) > 500:
        raise ConfigError("reward", f"must be at most 500 characters, not {len(value)}")
    return kind, name.strip()


@dataclass(kw_only=True)
class OnlineConfig(CommonConfig):
    """Fields the online algorithms share: the policy samples completions of the snapshot's prompts, the
    reward source (a reward model, a judge or a rule) scores them, the policy learns."""

    local_fields: ClassVar[frozenset[str]] = LOCAL_FIELDS | ONLINE_LOCAL_FIELDS

    reward: str = param("", REWARD_HELP)
    max_prompt_length: int | None = param(
        512,
        "Prompts longer than this many tokens keep their last tokens (TRL itself never truncates prompts). "
        "Unset: no truncation.",
        minimum=1,
        maximum=MAX_LENGTH,
    )
    temperature: float = param(1.0, "Sampling temperature of the completions.", above=0, maximum=100)
    top_p: float = param(
        1.0, "Nucleus sampling: keep the smallest set of tokens of this total probability.", above=0, maximum=1
    )
    top_k: int = param(
        0, "Keep only the top k tokens when sampling; 0: no top-k filtering.", minimum=0, maximum=MAX_LENGTH
    )
    repetition_penalty: float = param(1.0, "Penalty (> 1) or bonus (< 1) for tokens already in the text.", above=0)


def group_size(default: int, help: str) -> Any:
    """The `num_generations` field of a group algorithm: at least 2, and the batch holds whole groups."""
    return param(
        default,
        f"{help} per_device_train_batch_size x gradient_accumulation_steps must be a multiple of it.",
        minimum=2,
        maximum=MAX_BATCH,
    )


@dataclass(kw_only=True)
class GroupConfig(OnlineConfig):
    """Fields GRPO and RLOO share (TRL's RLOOConfig follows its GRPOConfig, and neither has max_length):
    `num_generations` completions per prompt, each scored against the others of its group. The
    fields without a default here differ by algorithm: each sets them."""

    omitted_fields: ClassVar[frozenset[str]] = frozenset({"max_length"})

    learning_rate: float = param(1e-6, "Initial learning rate for AdamW.", above=0, maximum=1)
    num_generations: int
    max_completion_length: int = param(
        512, "Maximum length in tokens of a sampled completion.", minimum=1, maximum=MAX_LENGTH
    )
    beta: float
    num_iterations: int = param(1, "Optimisation passes over each batch of samples.", minimum=1, maximum=1000)
    epsilon: float = param(0.2, "Clipping range of the importance ratio.", minimum=0, maximum=10)


@dataclass(kw_only=True)
class GRPOConfig(GroupConfig):
    """Group Relative Policy Optimization; fields mirror `trl.GRPOConfig`."""

    trl_config: ClassVar[str] = "trl.GRPOConfig"

    num_generations: int = group_size(8, "Completions sampled per prompt (the group).")
    beta: float = param(
        0.0,
        "KL coefficient against the reference (the starting policy); 0: no reference model is loaded.",
        minimum=0,
    )
    num_iterations: int = param(
        1, "Optimisation passes over each batch of samples (mu in the paper).", minimum=1, maximum=1000
    )
    loss_type: str = param(
        "dapo",
        "grpo: per-sequence length normalisation; dapo: normalise by the active tokens of the batch; "
        "dr_grpo: by a constant (max_completion_length); bnpo: by the active tokens of the local batch.",
        choices=["grpo", "dapo", "dr_grpo", "bnpo"],
    )
    scale_rewards: str = param(
        "group",
        "Divide advantages by the reward std of the group, of the batch, or not at all (Dr. GRPO).",
        choices=["group", "batch", "none"],
    )
    mask_truncated_completions: bool = param(False, "Leave completions cut at max_completion_length out of the loss.")


@dataclass(kw_only=True)
class RLOOConfig(GroupConfig):
    """REINFORCE Leave-One-Out; fields mirror `trl.RLOOConfig`."""

    trl_config: ClassVar[str] = "trl.RLOOConfig"

    num_generations: int = group_size(
        2, "Completions sampled per prompt; each one's baseline is the mean reward of the others."
    )
    beta: float = param(
        0.05,
        "KL coefficient against the reference (the starting policy), in the reward; 0: no reference model.",
        minimum=0,
    )
    normalize_advantages: bool = param(False, "Normalise advantages to mean 0, std 1 per generation batch.")
    mask_truncated_completions: bool = param(False, "Leave completions cut at max_completion_length out of the loss.")


@dataclass(kw_only=True)
class OnlineDPOConfig(OnlineConfig):
    """Online DPO (OAIF when the reward is a judge); fields mirror `trl.experimental.online_dpo.OnlineDPOConfig`.

    Two completions per prompt; the reward source ranks them and DPO learns from the pair.
    """

    trl_config: ClassVar[str] = "trl.experimental.online_dpo.OnlineDPOConfig"

    learning_rate: float = param(5e-7, "Initial learning rate for AdamW.", above=0, maximum=1)
    max_new_tokens: int = param(64, "Maximum length in tokens of a sampled completion.", minimum=1, maximum=MAX_LENGTH)
    max_length: int = param(
        512,
        "Maximum length in tokens of prompt + completion for the log-probabilities (the prompt's start is cut).",
        minimum=2,
        maximum=MAX_LENGTH,
    )
    temperature: float = param(0.9, "Sampling temperature of the completions.", above=0, maximum=100)
    beta: float = param(
        0.1, "Strength of the pull towards the reference model: higher beta, less deviation.", minimum=0
    )
    loss_type: str = param("sigmoid", "sigmoid: the DPO loss; ipo: IPO.", choices=["sigmoid", "ipo"])
    missing_eos_penalty: float | None = param(
        None, "Subtracted from the score of a completion without an end-of-sequence token. Unset: none.", minimum=0
    )
    disable_dropout: bool = param(True, "Disable dropout in the policy (and reference) model.")


@dataclass(frozen=True)
class Algorithm:
    """One row of the table."""

    name: str
    label: str
    trains_on: tuple[str, ...]  # snapshot formats (DatasetSnapshot.Format values)
    starts_from: tuple[ModelKind, ...]  # model kinds a job may start from
    produces: ModelKind
    config: type[CommonConfig]
    description: str = ""
    # online: the policy samples and a reward source scores; the config's `reward` must name one
    reward_required: bool = False

    def fields(self) -> dict[str, dict[str, Any]]:
        """The user-settable fields: {name: {"type", "default", "help", ["nullable"], ["choices"], bounds}}."""
        return _fields(self.config)

    def defaults(self) -> dict[str, Any]:
        return {name: spec["default"] for name, spec in self.fields().items()}


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        # a reward model starts from a language model (a new score head) or continues a reward model
        Algorithm(
            "reward",
            "Reward model",
            ("preference",),
            ("policy", "reward"),
            "reward",
            RewardConfig,
            "A scalar reward model from pairwise preferences (Bradley-Terry).",
        ),
        # sft.py trains on the chosen side of a preference snapshot, or the desirable rows of an unpaired one
        Algorithm(
            "sft",
            "SFT",
            ("preference", "unpaired"),
            ("policy",),
            "policy",
            SFTConfig,
            "Supervised fine-tuning on the preferred responses.",
        ),
        Algorithm(
            "dpo",
            "DPO",
            ("preference",),
            ("policy",),
            "policy",
            DPOConfig,
            "Direct Preference Optimization against the starting model as reference.",
        ),
        Algorithm(
            "kto",
            "KTO",
            ("unpaired",),
            ("policy",),
            "policy",
            KTOConfig,
            "Kahneman-Tversky Optimization on thumbs up / down labels.",
        ),
        Algorithm(
            "orpo",
            "ORPO",
            ("preference",),
            ("policy",),
            "policy",
            ORPOConfig,
            "Odds Ratio Preference Optimization; no reference model.",
        ),
        Algorithm(
            "ppo",
            "PPO",
            ("prompts",),
            ("policy",),
            "policy",
            PPOConfig,
            "Proximal Policy Optimization (ours): samples, scores with a reward model, judge or rule, learns.",
            reward_required=True,
        ),
        Algorithm(
            "grpo",
            "GRPO",
            ("prompts",),
            ("policy",),
            "policy",
            GRPOConfig,
            "Group Relative Policy Optimization: samples a group per prompt, advantage = reward vs the group.",
            reward_required=True,
        ),
        Algorithm(
            "rloo",
            "RLOO",
            ("prompts",),
            ("policy",),
            "policy",
            RLOOConfig,
            "REINFORCE Leave-One-Out: each sample's baseline is the mean reward of the other samples.",
            reward_required=True,
        ),
        Algorithm(
            "online_dpo",
            "Online DPO",
            ("prompts",),
            ("policy",),
            "policy",
            OnlineDPOConfig,
            "Online DPO: two samples per prompt, ranked by the reward source (a judge: OAIF), DPO on the pair.",
            reward_required=True,
        ),
    ]
}

CHOICES: list[tuple[str, str]] = [(a.name, a.label) for a in ALGORITHMS.values()]


def get(name: str) -> Algorithm:
    """The row for `name`; an unknown name is a ConfigError naming the field `algorithm`."""
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ConfigError("algorithm", f"must be one of {', '.join(ALGORITHMS)}, not {name!r}") from None


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _fields(config_cls: type[CommonConfig]) -> dict[str, dict[str, Any]]:
    hints = typing.get_type_hints(config_cls)
    out: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(config_cls):
        if f.default is dataclasses.MISSING or f.name in config_cls.omitted_fields:  # model_name_or_path: the worker's
            continue
        annotation = hints[f.name]
        args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
        (python_type,) = [a for a in args if a is not type(None)]
        entry: dict[str, Any] = {"type": _JSON_TYPES[python_type], "default": f.default, **f.metadata}
        if type(None) in args:
            entry["nullable"] = True
        out[f.name] = entry
    return out


def passthrough_fields(config_cls: type[CommonConfig]) -> list[str]:
    """Names of the fields of `config_cls` that go to its TRL config class unchanged (none without one)."""
    if config_cls.trl_config is None:
        return []
    skip = config_cls.local_fields | config_cls.omitted_fields
    return [f.name for f in dataclasses.fields(config_cls) if f.name not in skip]


def schema() -> dict[str, dict[str, dict[str, Any]]]:
    """Every algorithm's user-settable fields, by algorithm name (see `Algorithm.fields`)."""
    return {name: a.fields() for name, a in ALGORITHMS.items()}


def defaults(algorithm: str) -> dict[str, Any]:
    return get(algorithm).defaults()


def json_schema(algorithm: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) object for the settings of `algorithm`, for API documentation."""
    properties: dict[str, Any] = {}
    for name, spec in get(algorithm).fields().items():
        prop: dict[str, Any] = {
            "type": [spec["type"], "null"] if spec.get("nullable") else spec["type"],
            "default": spec["default"],
            "description": spec["help"],
        }
        if "choices" in spec:
            prop["enum"] = spec["choices"]
        if "min" in spec:
            prop["minimum"] = spec["min"]
        if "exclusive_min" in spec:
            prop["exclusiveMinimum"] = spec["exclusive_min"]
        if "max" in spec:
            prop["maximum"] = spec["max"]
        properties[name] = prop
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _number(name: str, kind: str, value: Any) -> int | float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(name, f"must be a {kind}, not {value!r}")
    if kind == "integer":
        if not number.is_integer():
            raise ConfigError(name, f"must be a whole number, not {value!r}")
        return int(number)
    return number


def _coerce(name: str, spec: dict[str, Any], value: Any) -> Any:
    """`value` as the field's type; strings (from a form or `--set key=value`) are parsed."""
    kind = spec["type"]
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if spec.get("nullable"):
            return None
        raise ConfigError(name, "may not be empty")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.strip().lower() in ("true", "1", "yes", "on")
        raise ConfigError(name, f"must be true or false, not {value!r}")
    if kind in ("integer", "number"):
        if isinstance(value, str) and len(value) > 100:
            raise ConfigError(name, f"must be a {kind}, not a {len(value)}-character string")
        number = _number(name, kind, value)
        if "min" in spec and number < spec["min"]:
            raise ConfigError(name, f"must be at least {spec['min']}, not {number}")
        if "exclusive_min" in spec and number <= spec["exclusive_min"]:
            raise ConfigError(name, f"must be greater than {spec['exclusive_min']}, not {number}")
        if "max" in spec and number > spec["max"]:
            raise ConfigError(name, f"must be at most {spec['max']}, not {number}")
        return number
    if not isinstance(value, str | int | float):
        raise ConfigError(name, f"must be a string, not {type(value).__name__}")
    value = str(value)
    if "choices" in spec and value not in spec["choices"]:
        raise ConfigError(name, f"must be one of {', '.join(spec['choices'])}, not {value!r}")
    return value


def validate(algorithm: str, values: dict[str, Any]) -> dict[str, Any]:
    """The full config for `algorithm`: its defaults, overridden by `values`, each checked.

    Raises ConfigError naming the algorithm (unknown) or the first field that is unknown or has a
    bad value. Never falls back to another algorithm or a default.
    """
    fields = get(algorithm).fields()
    if not isinstance(values, dict):
        raise ConfigError("settings", f"must be an object of setting: value, not {type(values).__name__}")
    config = {name: spec["default"] for name, spec in fields.items()}
    for name, value in values.items():
        if name not in fields:
            raise ConfigError(str(name), f"is not a setting of {algorithm} (known: {', '.join(sorted(fields))})")
        config[name] = _coerce(name, fields[name], value)
    if config.get("reward"):  # the syntax here; that it names something of the project: at launch
        kind, name = parse_reward(config["reward"])
        config["reward"] = f"{kind}:{name}"
    return config


def check_reward(algorithm: str, config: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the reward source of an online algorithm's config (ConfigError on `reward` when it is
    missing or malformed); None for an algorithm that takes no reward."""
    if not get(algorithm).reward_required:
        return None
    return parse_reward(config.get("reward"))


def check_snapshot_format(algorithm: str, snapshot_format: str) -> None:
    """Refuse a snapshot whose format `algorithm` does not train on (ConfigError on `snapshot`)."""
    row = get(algorithm)
    if snapshot_format not in row.trains_on:
        raise ConfigError(
            "snapshot", f"{row.label} trains on a {' or '.join(row.trains_on)} snapshot, not {snapshot_format}"
        )


def check_base_kind(algorithm: str, model_kind: str) -> None:
    """Refuse a base model of the wrong kind (a reward model as the base of a DPO job)."""
    row = get(algorithm)
    if model_kind not in row.starts_from:
        raise ConfigError(
            "base_model", f"{row.label} starts from a {' or '.join(row.starts_from)} model, not a {model_kind} model"
        )
