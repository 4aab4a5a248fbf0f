"""A client for a model served elsewhere behind an OpenAI-compatible API (vLLM, transformers serve, TGI, hosted).

Same inputs and outputs as the local backend (`training.ml.generate`): a list of prompts (a string
goes to /completions, a list of {role, content} messages to /chat/completions) and a `Sampling`; per
prompt, `sampling.n` `Completion`s. No torch here.

- Concurrency: at most `Endpoint.max_concurrency` requests in flight per client (a semaphore; batches
  run on a thread pool of that size). Order of results is the order of the prompts.
- Timeouts: `Endpoint.timeout` seconds to connect and between bytes read.
- Retries: connection errors, timeouts, 429 and 5xx are retried up to `max_retries` times, waiting
  `backoff * 2**attempt` seconds (or the server's numeric Retry-After, at most `max_backoff`). Other
  4xx are not retried. Every failure ends as `EndpointError` naming the URL, the HTTP status and the
  server's own message.
- n: each of the n samples is its own request with seed `sampling.seed + i` (transformers serve has no
  `n`); a greedy request is sent once and copied n times.
- top_k is not an OpenAI field: it is sent only when set (vLLM takes it; transformers serve refuses it
  with a 422, which comes back as a clear error).
- The API key is read at request time from the environment variable named by `Endpoint.api_key_env`;
  keys are never stored.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx

from .sampling import Completion, Prompt, Sampling, cut_at_stop, held_back, validate_prompt

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class EndpointError(RuntimeError):
    """A request to the endpoint failed: `status` is the HTTP status (None for a connection error)."""

    def __init__(self, url: str, status: int | None, message: str) -> None:
        self.url, self.status, self.message = url, status, message
        where = f"HTTP {status}" if status is not None else "connection failed"
        super().__init__(f"{url}: {where}: {message}")


@dataclass(frozen=True)
class Endpoint:
    """Where a served model is: `base_url` as an OpenAI SDK takes it (e.g. http://host:8000/v1)."""

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout: float = 120.0
    max_concurrency: int = 8
    max_retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"base_url: must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model: must not be empty")
        if self.api_key_env is not None and not self.api_key_env.replace("_", "").isalnum():
            raise ValueError("api_key_env: must be the name of an environment variable")
        if not (self.timeout > 0 and 1 <= self.max_concurrency <= 256 and 0 <= self.max_retries <= 20):
            raise ValueError("timeout, max_concurrency, max_retries: out of range")

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def _server_message(response: httpx.Response) -> str:
    """The server's own words: OpenAI's error.message, FastAPI's detail, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if "detail" in body:
            return str(body["detail"])[:500]
        if "message" in body:
            return str(body["message"])[:500]
    return json.dumps(body)[:500]


def _finish_reason(value: object, hit_stop: bool) -> str:
    if hit_stop:
        return "stop"
    return "length" if value == "length" else "stop"


class OpenAIClient:
    """Generate from an `Endpoint`; see the module docstring. Use as a context manager or call `close()`."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(endpoint.max_concurrency)
        limits = httpx.Limits(max_connections=endpoint.max_concurrency)
        self._http = httpx.Client(timeout=endpoint.timeout, limits=limits, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ requests

    def _headers(self) -> dict[str, str]:
        name = self.endpoint.api_key_env
        if name is None:
            return {}
        key = os.environ.get(name)
        if not key:
            raise EndpointError(self.endpoint.base_url, None, f"environment variable {name} (the API key) is not set")
        return {"Authorization": f"Bearer {key}"}

    def _body(self, prompt: Prompt, sampling: Sampling, seed: int, stream: bool) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "seed": seed,
        }
        if not sampling.greedy and sampling.top_p < 1:
            body["top_p"] = sampling.top_p
        if not sampling.greedy and sampling.top_k > 0:
            body["top_k"] = sampling.top_k
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if isinstance(prompt, str):
            return "/completions", {**body, "prompt": prompt}
        messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
        return "/chat/completions", {**body, "messages": messages}

    def _send(self, path: str, body: dict[str, Any], stream: bool) -> httpx.Response:
        """POST with retries; the response is open (read or close it). Raises EndpointError."""
        url = self.endpoint.url(path)
        attempt = 0
        while True:
            wait = self.endpoint.backoff * 2**attempt
            try:
                request = self._http.build_request("POST", url, json=body, headers=self._headers())
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                if attempt >= self.endpoint.max_retries:
                    raise EndpointError(url, None, f"{type(error).__name__}: {error}") from error
            else:
                if response.status_code < 400:
                    return response
                response.read()
                if response.status_code not in RETRY_STATUSES or attempt >= self.endpoint.max_retries:
                    raise EndpointError(url, response.status_code, _server_message(response))
                retry_after = response.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    wait = float(retry_after)
                response.close()
            self._sleep(min(wait, self.endpoint.max_backoff))
            attempt += 1

    def _one(self, prompt: Prompt, sampling: Sampling, seed: int) -> Completion:
        path, body = self._body(prompt, sampling, seed, stream=False)
        with self._slots:
            response = self._send(path, body, stream=False)
        try:
            data = response.json()
            choice = data["choices"][0]
            raw = choice["message"]["content"] if "message" in choice else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise EndpointError(self.endpoint.url(path), response.status_code, "not an OpenAI response") from error
        text, hit_stop = cut_at_stop(raw or "", sampling.stop)
        usage = data.get("usage") or {}
        tokens = int(usage.get("completion_tokens") or 0)
        return Completion(text=text, tokens=tokens, finish_reason=_finish_reason(choice.get("finish_reason"), hit_stop))  # type: ignore[arg-type]

    # ------------------------------------------------------------ the backend's calls

    def complete(self, prompt: Prompt, sampling: Sampling) -> list[Completion]:
        """`sampling.n` completions of one prompt (requests run one after another)."""
        validate_prompt(prompt)
        if sampling.greedy:
            return [self._one(prompt, sampling, sampling.seed)] * sampling.n
        return [self._one(prompt, sampling, sampling.seed + i) for i in range(sampling.n)]

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[list[Completion]]:
        """Per prompt, `sampling.n` completions; up to `max_concurrency` requests at once."""
        checked = [validate_prompt(p, i) for i, p in enumerate(prompts)]
        runs = 1 if sampling.greedy else sampling.n
        jobs = [(i, k) for i in range(len(checked)) for k in range(runs)]
        with ThreadPoolExecutor(max_workers=self.endpoint.max_concurrency) as pool:
            done = list(pool.map(lambda job: self._one(checked[job[0]], sampling, sampling.seed + job[1]), jobs))
        results = [done[i * runs : (i + 1) * runs] for i in range(len(checked))]
        return [r * sampling.n for r in results] if sampling.greedy else results

    def stream(self, prompt: Prompt, sampling: Sampling) -> EndpointStream:
        """Stream one completion (n is ignored): iterate for text pieces; see `EndpointStream`."""
        validate_prompt(prompt)
        return EndpointStream(self, prompt, sampling)


class EndpointStream:
    """Text pieces of a server-sent-event stream ("data: {...}" lines, ending "data: [DONE]").

    `completion` is set when iteration ends. Text that could begin a stop string is held back.
    Retries happen only before the stream starts. `close()` ends the request early.
    """

    def __init__(self, client: OpenAIClient, prompt: Prompt, sampling: Sampling) -> None:
        self.client = client
        self.sampling = sampling
        self.completion: Completion | None = None
        self.first_token_at: float | None = None
        self.path, self.body = client._body(prompt, sampling, sampling.seed, stream=True)
        self.started_at = time.perf_counter()
        self._response: httpx.Response | None = None

    def _events(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        url = self.client.endpoint.url(self.path)
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            try:
                event = json.loads(payload)
            except ValueError as error:
                raise EndpointError(url, response.status_code, f"bad event: {payload[:200]}") from error
            if isinstance(event, dict) and "error" in event:
                problem = event["error"]
                message = problem.get("message", str(problem)) if isinstance(problem, dict) else str(problem)
                raise EndpointError(url, response.status_code, message)
            yield event

    def __iter__(self) -> Iterator[str]:
        stop = self.sampling.stop
        text, sent, pieces, reason, tokens, hit = "", 0, 0, None, None, False
        with self.client._slots:
            response = self._response = self.client._send(self.path, self.body, stream=True)
            try:
                for event in self._events(response):
                    usage = event.get("usage") or {}
                    if usage.get("completion_tokens") is not None:
                        tokens = int(usage["completion_tokens"])
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                        reason = choice.get("finish_reason") or reason
                        if not piece:
                            continue
                        if self.first_token_at is None:
                            self.first_token_at = time.perf_counter()
                        pieces += 1
                        text += piece
                        cut, hit = cut_at_stop(text, stop)
                        if hit:
                            text = cut
                            reason = "stop"
                            break
                        safe = len(text) - held_back(text, stop)
                        if safe > sent:
                            yield text[sent:safe]
                            sent = safe
                    if hit:
                        break  # the server may go on; closing the response ends the request
            finally:
                response.close()
        if sent < len(text):
            yield text[sent:]
        finish = "length" if reason == "length" else "stop"
        self.completion = Completion(text=text, tokens=tokens if tokens is not None else pieces, finish_reason=finish)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
