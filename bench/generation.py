"""Local generation: 64 prompts, greedy, batched (one left-padded batch) vs one prompt at a time.

Same model, same settings (fp32 on CPU), only the batch size differs; the outputs must be the same
(left padding and the attention mask make a batch change nothing). Tokens/s counts generated tokens.
Prints a line per model and, last: {"prompts", "batched_tok_s", "single_tok_s", "ratio",
"same_outputs", "model", "max_new_tokens"} (of the last model run).

    python bench/generation.py [--prompts 64] [--max-new-tokens 32] [--larger] [--qwen3-06b]

--larger adds a random-initialised ~100M-parameter Qwen2; --qwen3-06b a random ~0.6B Qwen3
(bf16 on a GPU; meant for a machine with one, and it runs no single-prompt pass there unless --single).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from training.ml.generate import ModelCache, generate_with  # noqa: E402
from training.ml.sampling import Sampling  # noqa: E402
from training.ml.tiny import build_tiny_policy, build_tokenizer  # noqa: E402

TOPICS = (
    "cats dogs rain coffee trains music winter gardens rivers books chess bread kites maps owls boats "
    "tea snow clocks lamps shoes bells ropes caves foxes clouds ponds hats forests candles bridges stars"
).split()


def prompts(count: int) -> list[Any]:
    """Prompts of different lengths, half plain text and half chats, so the batch really is padded."""
    out: list[Any] = []
    for i in range(count):
        words = " and ".join(TOPICS[(i + k) % len(TOPICS)] for k in range(1 + i % 5))
        text = f"Tell me about {words}."
        out.append(text if i % 2 else [{"role": "user", "content": text}])
    return out


def build_random(out_dir: Path, kind: str, texts: list[str]) -> str:
    """A random-initialised Qwen2 (~100M) or Qwen3 (~0.6B) with the tiny tokenizer, saved to `out_dir`."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(texts, 512)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    ids["pad_token_id"] = tokenizer.pad_token_id
    torch.manual_seed(0)
    if kind == "qwen2-100m":
        config = Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=1024,
            tie_word_embeddings=False, **ids,
        )  # fmt: skip
        model: Any = Qwen2ForCausalLM(config)
    else:  # Qwen3-0.6B's shape, with the tiny vocabulary
        config = Qwen3Config(
            vocab_size=len(tokenizer), hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
            num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=2048,
            tie_word_embeddings=False, **ids,
        )  # fmt: skip
        model = Qwen3ForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)


def run(model_dir: str, name: str, args: argparse.Namespace, single: bool = True) -> dict[str, Any]:
    cache = ModelCache()
    model, tokenizer = cache.get(model_dir)
    params = sum(p.numel() for p in model.parameters())
    batch = prompts(args.prompts)
    settings = Sampling(temperature=0, max_new_tokens=args.max_new_tokens)
    generate_with(model, tokenizer, batch[:2], settings)  # warm up

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    batched = generate_with(model, tokenizer, batch, settings, batch_size=len(batch))
    sync()
    batched_s = time.perf_counter() - start
    batched_tokens = sum(c[0].tokens for c in batched)
    result: dict[str, Any] = {
        "model": name,
        "parameters": params,
        "dtype": str(next(model.parameters()).dtype),
        "device": str(model.device),
        "prompts": len(batch),
        "max_new_tokens": args.max_new_tokens,
        "batched_tok_s": round(batched_tokens / batched_s, 1),
        "batched_seconds": round(batched_s, 2),
    }
    if single:
        start = time.perf_counter()
        alone = [generate_with(model, tokenizer, [p], settings)[0] for p in batch]
        sync()
        single_s = time.perf_counter() - start
        single_tokens = sum(c[0].tokens for c in alone)
        result.update(
            single_tok_s=round(single_tokens / single_s, 1),
            single_seconds=round(single_s, 2),
            ratio=round((batched_tokens / batched_s) / (single_tokens / single_s), 2),
            same_outputs=[c[0] for c in batched] == [c[0] for c in alone],
            distinct_outputs=len({c[0].text for c in batched}),
        )
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--larger", action="store_true", help="also a random ~100M-parameter Qwen2")
    parser.add_argument("--qwen3-06b", action="store_true", help="also a random ~0.6B Qwen3 (for a GPU)")
    parser.add_argument("--single", action="store_true", help="time one prompt at a time on the 0.6B too")
    args = parser.parse_args()
    texts = [p if isinstance(p, str) else p[0]["content"] for p in prompts(args.prompts)]
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(build_tiny_policy(Path(tmp) / "tiny", texts), "tiny-qwen2", args)]
        if args.larger:
            results.append(run(build_random(Path(tmp) / "q2", "qwen2-100m", texts), "random-qwen2-100m", args))
        if args.qwen3_06b:
            path = build_random(Path(tmp) / "q3", "qwen3-0.6b", texts)
            results.append(run(path, "random-qwen3-0.6b", args, single=args.single))
    print(json.dumps(results[-1] if "ratio" in results[-1] else {**results[0], "larger": results[1:]}))


if __name__ == "__main__":
    main()
