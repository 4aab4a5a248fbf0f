"""Every training algorithm by name, so the worker dispatches on the job's `algorithm` string.

name -> (config class, train function, dataset format the snapshot must be exported in):
"preference" (prompt/chosen/rejected), "unpaired" (prompt/completion/label) or "sft" (see sft.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from . import dpo, kto, orpo, reward, sft
from .common import CommonConfig, TrainResult

DatasetFormat = Literal["preference", "unpaired", "sft"]

ALGORITHMS: dict[str, tuple[type[CommonConfig], Callable[..., TrainResult], DatasetFormat]] = {
    "reward": (reward.RewardConfig, reward.train, "preference"),
    "sft": (sft.SFTConfig, sft.train, "sft"),
    "dpo": (dpo.DPOConfig, dpo.train, "preference"),
    "kto": (kto.KTOConfig, kto.train, "unpaired"),
    "orpo": (orpo.ORPOConfig, orpo.train, "preference"),
}


def make_config(algorithm: str, model_name_or_path: str, values: dict[str, Any]) -> CommonConfig:
    """The typed config for `algorithm` from a job's stored (already validated) values."""
    config_cls = ALGORITHMS[algorithm][0]
    return config_cls(model_name_or_path=model_name_or_path, **values)
