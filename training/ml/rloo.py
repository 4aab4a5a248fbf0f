"""REINFORCE Leave-One-Out (TRL `RLOOTrainer`) on a prompts dataset.

Per prompt, num_generations completions are sampled and scored by the job's reward source; each
completion's baseline is the mean reward of the prompt's other completions; beta > 0 puts a KL
penalty against the reference into the reward.

Dataset: `prompt` (text or conversational messages). Reference: the starting version (see
`training.ml.online`).
"""

from __future__ import annotations

from trl import RLOOTrainer

from training.algorithms import RLOOConfig

from .online import online_entry

__all__ = ["RLOOConfig", "train"]


train = online_entry(RLOOTrainer, "RLOO")
