"""Group Relative Policy Optimization (TRL `GRPOTrainer`) on a prompts dataset.

Per prompt, num_generations completions are sampled and scored by the job's reward source; each
completion's advantage is its reward against its group's mean (scaled per scale_rewards).

Dataset: `prompt` (text or conversational messages). Reference: the starting version (see
`training.ml.online`).
"""

from __future__ import annotations

from trl import GRPOTrainer

from training.algorithms import GRPOConfig

from .online import online_entry

__all__ = ["GRPOConfig", "train"]


train = online_entry(GRPOTrainer, "GRPO")
