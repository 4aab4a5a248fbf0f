"""Local generation with transformers: batched, left-padded, seeded, LoRA chains unmerged, models cached.

- `generate(prompts, sampling, base=..., adapters=[...])`: per prompt, `sampling.n` `Completion`s.
  Prompts are sorted by length and cut into batches of `batch_size`, left-padded with an attention
  mask, so greedy decoding of a batch gives what each prompt gives alone (in fp32). A string prompt is
  used as it is; a list of {role, content} messages goes through the tokenizer's chat template (or
  "role: content" lines when it has none). `sampling.seed` seeds torch before each batch: the same
  prompts, settings and batch size give the same samples.
- `stream(prompt, sampling, ...)`: one prompt, text pieces as the tokens come (a `GenerationStream`).
- `ModelCache`: the models a worker keeps loaded, keyed by (base, adapters, dtype, device), bounded
  by a memory budget in bytes (parameters + buffers), least recently used evicted first. A second
  batch on the same version does not load anything. `DEFAULT_CACHE` is the process's cache; its
  budget is `GENERATION_CACHE_BYTES` (default 8 GiB).

LoRA versions are applied without merging: the chain [a1, ..., an] is loaded with peft as n named
adapters on one copy of the base, all active at once. Each LoRA layer adds its adapters' outputs,
W x + B1 A1 x + ... + Bn An x, which is exactly (W + d1 + ... + dn) x, the weights a chain of jobs
trained on (each job merged its parents in before training, see `common.load_model_and_tokenizer`).
So nothing is merged, the adapters stay separate on the base (removable, inspectable), and greedy
output equals the merged model's (a test checks it).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from .common import is_adapter_dir
from .sampling import Completion, Prompt, Sampling, cut_at_stop, held_back, plain_chat, validate_prompt

DEFAULT_BUDGET_BYTES = 8 * 2**30


# ---------------------------------------------------------------- loading and the cache


def resolve_chain(base: str | Path, adapters: Sequence[str | Path] = ()) -> tuple[str, tuple[str, ...]]:
    """(full base model, adapter dirs): a `base` that is itself an adapter goes in front of `adapters`."""
    chain = [str(a) for a in adapters]
    name = str(base)
    while is_adapter_dir(name):
        chain.insert(0, name)
        name = str(json.loads((Path(name) / "adapter_config.json").read_text())["base_model_name_or_path"])
    return name, tuple(chain)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> torch.dtype:
    """fp32 on CPU (batched greedy then equals single greedy); bf16 on a GPU that has it."""
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_for_generation(
    base: str | Path,
    adapters: Sequence[str | Path] = (),
    *,
    dtype: torch.dtype | None = None,
    device: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model to generate with (eval mode, on `device`) and a left-padding tokenizer.

    Adapters are loaded as named peft adapters ("a0", "a1", ...) and all activated; nothing is merged.
    What comes back is the underlying transformers model with the LoRA layers injected.
    """
    base, chain = resolve_chain(base, adapters)
    device = device or default_device()
    dtype = dtype or default_dtype(device)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    if chain:
        names = [f"a{i}" for i in range(len(chain))]
        peft_model = PeftModel.from_pretrained(model, chain[0], adapter_name=names[0])
        for name, adapter in zip(names[1:], chain[1:], strict=True):
            peft_model.load_adapter(adapter, adapter_name=name)
        peft_model.base_model.set_adapter(names, inference_mode=True)
        model = peft_model.get_base_model()
    model.to(device)
    model.eval()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def model_bytes(model: torch.nn.Module) -> int:
    """Memory the model's parameters and buffers take."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int
    budget_bytes: int


CacheKey = tuple[str, tuple[str, ...], str, str]


class ModelCache:
    """Loaded models by (base, adapters, dtype, device), LRU within `budget_bytes`.

    A model larger than the whole budget is still loaded (and evicts everything else): a worker must
    be able to serve any one version. Thread-safe; two threads asking for the same version load it once.
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes: must be positive")
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[CacheKey, tuple[PreTrainedModel, PreTrainedTokenizerBase, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(
        self,
        base: str | Path,
        adapters: Sequence[str | Path] = (),
        *,
        dtype: torch.dtype | None = None,
        device: str | None = None,
    ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The loaded (model, tokenizer) of this version, loading it (and evicting others) if needed."""
        base_name, chain = resolve_chain(base, adapters)
        device = device or default_device()
        dtype = dtype or default_dtype(device)
        key: CacheKey = (base_name, chain, str(dtype), device)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self._hits += 1
                model, tokenizer, _ = self._entries[key]
                return model, tokenizer
            self._misses += 1
            model, tokenizer = load_for_generation(base_name, chain, dtype=dtype, device=device)
            size = model_bytes(model)
            while self._entries and self._used() + size > self.budget_bytes:
                self._entries.popitem(last=False)
                self._evictions += 1
            self._entries[key] = (model, tokenizer, size)
            return model, tokenizer

    def _used(self) -> int:
        return sum(size for _, _, size in self._entries.values())

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._evictions, len(self._entries), self._used(), self.budget_bytes
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


DEFAULT_CACHE = ModelCache(int(os.environ.get("GENERATION_CACHE_BYTES", DEFAULT_BUDGET_BYTES)))


# ---------------------------------------------------------------- prompts and settings


def render(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> str:
    """The text the model continues: a string as it is; messages through the chat template (or a plain join)."""
    if isinstance(prompt, str):
        return prompt
    messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return plain_chat(messages)


def eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    ids = model.generation_config.eos_token_id
    found = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in found:
        found.append(tokenizer.eos_token_id)
    return found


def generation_config(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sampling: Sampling, num_return_sequences: int
) -> GenerationConfig:
    """Our settings only: the model's own sampling defaults (a top_k of 20, a repetition penalty) are not used."""
    sample = not sampling.greedy
    return GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        do_sample=sample,
        temperature=sampling.temperature if sample else None,
        top_p=sampling.top_p if sample else None,
        top_k=sampling.top_k if sample else None,
        num_return_sequences=num_return_sequences,
        eos_token_id=eos_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=model.generation_config.bos_token_id,
        stop_strings=list(sampling.stop) or None,
    )


def _finish(tokenizer: PreTrainedTokenizerBase, row: list[int], eos: list[int], sampling: Sampling) -> Completion:
    """A generated row (prompt removed) as a Completion: cut at EOS or a stop string, counted, explained."""
    end = next((i for i, t in enumerate(row) if t in eos), None)
    if end is not None:
        ids, reason = row[:end], "stop"
        tokens = end + 1
    else:
        ids, reason = row, "length"
        while ids and ids[-1] == tokenizer.pad_token_id:  # a row ended by a stop string is padded
            ids = ids[:-1]
        tokens = len(ids)
    text, stopped = cut_at_stop(tokenizer.decode(ids, skip_special_tokens=True), sampling.stop)
    if stopped:
        reason = "stop"
    elif reason == "length" and tokens < sampling.max_new_tokens:
        reason = "stop"
    return Completion(text=text, tokens=tokens, finish_reason=reason)  # type: ignore[arg-type]


# ---------------------------------------------------------------- batches


def generate_with(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Prompt],
    sampling: Sampling,
    *,
    batch_size: int = 32,
) -> list[list[Completion]]:
    """Generate with a loaded model: per prompt, `sampling.n` completions (see the module docstring)."""
    if batch_size < 1:
        raise ValueError("batch_size: must be at least 1")
    texts = [render(tokenizer, validate_prompt(p, i)) for i, p in enumerate(prompts)]
    tokenizer.padding_side = "left"
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    runs = 1 if sampling.greedy else sampling.n  # greedy: one run, copied n times
    config = generation_config(model, tokenizer, sampling, runs)
    eos = eos_ids(model, tokenizer)
    results: list[list[Completion]] = [[] for _ in texts]
    device = model.device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(device)
        torch.manual_seed(sampling.seed + start)
        with torch.inference_mode():
            out = model.generate(**batch, generation_config=config, tokenizer=tokenizer)
        generated = out[:, batch["input_ids"].shape[1] :].tolist()
        for j, index in enumerate(chunk):
            rows = generated[j * runs : (j + 1) * runs]
            completions = [_finish(tokenizer, row, eos, sampling) for row in rows]
            results[index] = completions * sampling.n if sampling.greedy else completions
    return results


def generate(
    prompts: Sequence[Prompt],
    sampling: Sampling,
    *,
    base: str | Path,
    adapters: Sequence[str | Path] = (),
    batch_size: int = 32,
    cache: ModelCache | None = None,
    dtype: torch.dtype | None = None,
    device: str | None = None,
) -> list[list[Completion]]:
    """Generate from the version `base` + `adapters` (from `cache`, default the process's cache)."""
    model, tokenizer = (cache or DEFAULT_CACHE).get(base, adapters, dtype=dtype, device=device)
    return generate_with(model, tokenizer, prompts, sampling, batch_size=batch_size)


# ---------------------------------------------------------------- streaming


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class TokenStreamer(BaseStreamer):
    """Hands each new piece of text to a queue as soon as a token completes it.

    transformers' `TextIteratorStreamer` holds text back until a space or a newline; a live arena wants
    every token. Only a piece that ends inside a multi-byte character (decoded as U+FFFD) waits.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, timeout: float) -> None:
        self.tokenizer = tokenizer
        self.timeout = timeout
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.ids: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        self._send(final=False)

    def end(self) -> None:
        self._send(final=True)
        self.queue.put(None)

    def _send(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd") and not final:
            return
        if len(text) > self.sent:
            self.queue.put(text[self.sent :])
            self.sent = len(text)

    def __iter__(self) -> Iterator[str]:
        while (piece := self.queue.get(timeout=self.timeout)) is not None:
            yield piece


class GenerationStream:
    """Iterate for text pieces as tokens are produced; `completion` is set once iteration ends.

    Generation runs in a thread; a `TokenStreamer` passes each token's text on. Text that could be the start
    of a stop string is held back until it is known not to be one. `close()` (or leaving a `with`
    block) stops the generation at the next token. Greedy or seeded with `sampling.seed`; n is 1.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        prompt: Prompt,
        sampling: Sampling,
        *,
        timeout: float = 600.0,
    ) -> None:
        self.sampling = sampling
        self.completion: Completion | None = None
        self.first_token_at: float | None = None
        self._tokenizer = tokenizer
        self._cancel = threading.Event()
        self._eos = eos_ids(model, tokenizer)
        self._out: list[int] = []
        self._error: BaseException | None = None
        self._ended = False
        self._streamer = TokenStreamer(tokenizer, timeout)
        text = render(tokenizer, validate_prompt(prompt))
        batch = tokenizer([text], return_tensors="pt", add_special_tokens=False).to(model.device)
        self._prompt_len = batch["input_ids"].shape[1]
        config = generation_config(model, tokenizer, sampling, 1)

        def run() -> None:
            try:
                torch.manual_seed(sampling.seed)
                with torch.inference_mode():
                    out = model.generate(
                        **batch,
                        generation_config=config,
                        tokenizer=tokenizer,
                        streamer=self._streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled(self._cancel)]),
                    )
                self._out = out[0, self._prompt_len :].tolist()
            except BaseException as error:  # noqa: BLE001 - handed to the reading thread
                self._error = error
                self._streamer.end()

        self._thread = threading.Thread(target=run, name="generation-stream", daemon=True)
        self.started_at = time.perf_counter()
        self._thread.start()

    def __iter__(self) -> Iterator[str]:
        stop = self.sampling.stop
        text, sent, stopped = "", 0, False
        for piece in self._streamer:
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            if stopped:
                continue  # drain until the thread ends
            text += piece
            cut, stopped = cut_at_stop(text, stop)
            if stopped:
                self._cancel.set()
                text = cut
                safe = len(text)
            else:
                safe = len(text) - held_back(text, stop)
            if safe > sent:
                yield text[sent:safe]
                sent = safe
        self._ended = True
        self._thread.join()
        if self._error is not None:
            raise self._error
        if sent < len(text):
            yield text[sent:]
        done = _finish(self._tokenizer, self._out, self._eos, self.sampling)
        reason = "stop" if stopped else done.finish_reason
        self.completion = Completion(text=text, tokens=done.tokens, finish_reason=reason)

    def close(self) -> None:
        """Stop generating (at the next token) and wait for the thread."""
        self._cancel.set()
        if not self._ended:
            for _ in self._streamer:
                pass
            self._ended = True
        self._thread.join()

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(
    prompt: Prompt,
    sampling: Sampling,
    *,
    base: str | Path,
    adapters: Sequence[str | Path] = (),
    cache: ModelCache | None = None,
    dtype: torch.dtype | None = None,
    device: str | None = None,
) -> GenerationStream:
    """Stream one prompt's completion from `base` + `adapters` (see `GenerationStream`)."""
    model, tokenizer = (cache or DEFAULT_CACHE).get(base, adapters, dtype=dtype, device=device)
    return GenerationStream(model, tokenizer, prompt, sampling)
