"""Online DPO (TRL's experimental `OnlineDPOTrainer`) on a prompts dataset; with a judge as the reward
source, this is OAIF (online AI feedback, Guo et al. 2024).

Per prompt, two completions are sampled; the reward source ranks them (a pairwise judge is called with
TRL's 2B layout [p0c0 .. pB-1c0, p0c1 .. pB-1c1], see `training.ml.rewards`), and the DPO loss learns
from the pair. Reference: the starting version (TRL copies the starting policy, or disables the LoRA
adapter). Dataset: `prompt` (text or conversational messages).
"""

from __future__ import annotations

import warnings

from training.algorithms import OnlineDPOConfig

from .online import online_entry

with warnings.catch_warnings():  # "experimental" warning on import
    warnings.simplefilter("ignore")
    from trl.experimental.online_dpo import OnlineDPOTrainer

__all__ = ["OnlineDPOConfig", "train"]


train = online_entry(
    OnlineDPOTrainer,
    "online DPO",
    layout="pairs",
    num_generations=lambda config: 2,
    reference_reloaded=lambda config: False,
    doc="""Train a policy with online DPO on the prompts of `train_dataset`, pairs ranked by `reward` (the
    resolved reward source); save it (or its LoRA adapter) to `output_dir/final`.""",
)
