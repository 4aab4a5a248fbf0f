"""Tiny random-weight models with a locally trained tokenizer, for tests and the offline demo.

Nothing here touches the network: the byte-level BPE tokenizer is trained on the given texts and
the weights of a 2-layer Qwen2 are drawn from `seed`. The same texts and seed give the same files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2ForSequenceClassification,
)
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

C = TypeVar("C", bound=PretrainedConfig)

BOS, EOS, PAD, IM_START = "<|endoftext|>", "<|im_end|>", "<|pad|>", "<|im_start|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it with special tokens and a ChatML template.

    The normalizer and pre-tokenizer are Qwen2's: transformers 5 `AutoTokenizer` loads any
    `model_type="qwen2"` directory as `Qwen2Tokenizer`, which rebuilds that pipeline around the saved
    vocab and merges, so the tokenizer we train must already use it to round-trip unchanged.
    """
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS, PAD, IM_START],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
        chat_template=CHAT_TEMPLATE,
    )


def _config(config_cls: type[C], tokenizer: PreTrainedTokenizerFast, **extra: object) -> C:
    """A 2-layer, 64-wide `config_cls` for `tokenizer`'s vocabulary and special tokens."""
    return config_cls(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def _save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, out_dir: str | Path) -> str:
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)


def build_tiny_policy(out_dir: str | Path, texts: Iterable[str], vocab_size: int = 512, seed: int = 0) -> str:
    """Save a random 2-layer `Qwen2ForCausalLM` and its tokenizer to `out_dir`; return the path."""
    tokenizer = build_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    return _save(Qwen2ForCausalLM(_config(Qwen2Config, tokenizer)), tokenizer, out_dir)


def build_tiny_reward(out_dir: str | Path, texts: Iterable[str], vocab_size: int = 512, seed: int = 0) -> str:
    """Save a random 2-layer `Qwen2ForSequenceClassification` (one score) and its tokenizer; return the path."""
    tokenizer = build_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    return _save(Qwen2ForSequenceClassification(_config(Qwen2Config, tokenizer, num_labels=1)), tokenizer, out_dir)


def build_tiny_qwen3(out_dir: str | Path, texts: Iterable[str], vocab_size: int = 512, seed: int = 0) -> str:
    """Save a random 2-layer `Qwen3ForCausalLM` (the course's architecture, tiny) and its tokenizer; return the path."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    return _save(Qwen3ForCausalLM(_config(Qwen3Config, tokenizer, head_dim=16)), tokenizer, out_dir)
