"""The OpenAI-compatible client against real servers: `transformers serve` on the tiny model (CPU), and a
small scripted http.server for the failure paths (500 then 200, 429, 400 with a JSON error, no server)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from training.ml.openai_client import Endpoint, EndpointError, OpenAIClient
from training.ml.sampling import Sampling

GREEDY = Sampling(temperature=0, max_new_tokens=8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- a scripted server


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next (status, body, headers) of `script`; records what it got."""

    def __init__(self, script: list[tuple[int, Any, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.seen: list[dict[str, Any]] = []
        self.active = self.peak = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.server.active += 1
            self.server.peak = max(self.server.peak, self.server.active)
            status, answer, headers = (
                self.server.script.pop(0) if len(self.server.script) > 1 else self.server.script[0]
            )
        time.sleep(0.05)
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with self.server.lock:
            self.server.active -= 1


def ok(text: str = "Hello", reason: str = "stop", tokens: int = 2) -> tuple[int, Any, dict[str, str]]:
    return 200, {"choices": [{"text": text, "finish_reason": reason}], "usage": {"completion_tokens": tokens}}, {}


def serve(script: list[tuple[int, Any, dict[str, str]]]) -> Scripted:
    server = Scripted(script)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def client_for(server: Scripted, **extra: Any) -> OpenAIClient:
    sleeps: list[float] = []
    client = OpenAIClient(Endpoint(server.url, "m", backoff=0.01, **extra), sleep=sleeps.append)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def test_a_server_error_is_retried_and_the_answer_comes_back() -> None:
    server = serve([(500, {"error": {"message": "busy"}}, {}), (503, b"overloaded", {}), ok("Hi there")])
    with client_for(server) as client:
        assert client.generate(["Say hi"], GREEDY) == [[_completion("Hi there", 2, "stop")]]
        assert client.sleeps == [0.01, 0.02]  # type: ignore[attr-defined]  # exponential backoff
    assert len(server.seen) == 3 and server.seen[0]["path"] == "/v1/completions"
    server.shutdown()


def test_too_many_requests_waits_as_long_as_the_server_asks() -> None:
    server = serve([(429, {"error": {"message": "slow down"}}, {"Retry-After": "3"}), ok()])
    with client_for(server) as client:
        client.generate(["x"], GREEDY)
        assert client.sleeps == [3.0]  # type: ignore[attr-defined]
    server.shutdown()


def test_a_client_error_is_not_retried_and_names_the_status_and_the_servers_message() -> None:
    server = serve([(400, {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}, {})])
    with client_for(server) as client, pytest.raises(EndpointError) as caught:
        client.generate(["x"], GREEDY)
    assert caught.value.status == 400
    assert "HTTP 400: max_tokens is too large" in str(caught.value)
    assert len(server.seen) == 1
    server.shutdown()


def test_a_server_error_that_persists_ends_with_its_message_after_the_retries() -> None:
    server = serve([(502, {"detail": "bad gateway upstream"}, {})])
    with client_for(server, max_retries=2) as client, pytest.raises(EndpointError, match="HTTP 502: bad gateway"):
        client.generate(["x"], GREEDY)
    assert len(server.seen) == 3
    server.shutdown()


def test_no_server_is_a_connection_error_after_the_retries() -> None:
    client = OpenAIClient(Endpoint(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=2), sleep=lambda s: None)
    with pytest.raises(EndpointError, match="connection failed: ConnectError"):
        client.generate(["x"], GREEDY)


def test_the_key_comes_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve([ok()])
    with client_for(server, api_key_env="H_GEN_TEST_KEY") as client:
        monkeypatch.delenv("H_GEN_TEST_KEY", raising=False)
        with pytest.raises(EndpointError, match="environment variable H_GEN_TEST_KEY"):
            client.generate(["x"], GREEDY)
        monkeypatch.setenv("H_GEN_TEST_KEY", "sk-test-123")
        client.generate([[{"role": "user", "content": "hi"}]], GREEDY)
    assert server.seen[-1]["headers"]["Authorization"] == "Bearer sk-test-123"
    assert server.seen[-1]["path"] == "/v1/chat/completions"
    assert "sk-test-123" not in repr(client.endpoint)
    server.shutdown()


def test_no_more_requests_run_at_once_than_the_concurrency_limit() -> None:
    server = serve([ok()])
    with client_for(server, max_concurrency=3) as client:
        results = client.generate([f"p{i}" for i in range(6)], Sampling(temperature=1.0, n=2, max_new_tokens=4))
    assert len(results) == 6 and all(len(r) == 2 for r in results)
    assert len(server.seen) == 12 and server.peak <= 3
    assert sorted(s["body"]["seed"] for s in server.seen if s["body"]["prompt"] == "p0") == [0, 1]  # n samples, n seeds
    server.shutdown()


def test_endpoint_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Endpoint("ftp://x", "m")
    with pytest.raises(ValueError, match="api_key_env"):
        Endpoint("http://x/v1", "m", api_key_env="sk-abc-123")


def _completion(text: str, tokens: int, reason: str) -> Any:
    from training.ml.sampling import Completion

    return Completion(text=text, tokens=tokens, finish_reason=reason)  # type: ignore[arg-type]


# ---------------------------------------------------------------- a real `transformers serve`


@pytest.fixture(scope="module")
def served(tiny_policy: str) -> Iterator[str]:
    """`transformers serve` pinned to the tiny model directory, on CPU, offline; yields its /v1 URL."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    cli = Path(sys.executable).parent / "transformers"
    args = [str(cli), "serve", tiny_policy, "--port", str(port), "--host", "127.0.0.1", "--device", "cpu"]
    process = subprocess.Popen([*args, "--dtype", "float32"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    import httpx2 as httpx

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout and process.poll() is not None else ""
                pytest.fail(f"transformers serve did not start: {output[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


PROMPTS = ["Tell me about cats.", "Rivers", "Tell me about chess, bread and kites."]


@pytest.mark.ml
def test_a_served_model_completes_greedily_as_the_local_backend_does(served: str, tiny_policy: str) -> None:
    from training.ml.generate import ModelCache, generate

    with OpenAIClient(Endpoint(served, tiny_policy, max_concurrency=2)) as client:
        remote = client.generate(PROMPTS, Sampling(max_new_tokens=8, n=2))
    local = generate(PROMPTS, Sampling(max_new_tokens=8, n=2), base=tiny_policy, cache=ModelCache())
    assert remote == local
    assert all(r[0].tokens == 8 and r[0].finish_reason == "length" for r in remote)


@pytest.mark.ml
def test_a_served_model_streams_piece_by_piece_what_it_answers_whole(served: str, tiny_policy: str) -> None:
    from training.ml.generate import ModelCache, stream

    settings = Sampling(max_new_tokens=12)
    prompt = "Tell me about chess, bread and kites."
    with OpenAIClient(Endpoint(served, tiny_policy)) as client:
        [[whole]] = client.generate([prompt], settings)
        answer = client.stream(prompt, settings)
        pieces = list(answer)
    assert len(pieces) > 1  # one event per token
    assert answer.completion == whole
    assert answer.first_token_at is not None
    local = stream(prompt, settings, base=tiny_policy, cache=ModelCache())
    assert "".join(local) == "".join(pieces)


@pytest.mark.ml
def test_a_served_model_answers_chats_whole_and_streamed(served: str, tiny_policy: str) -> None:
    chat = [{"role": "user", "content": "Tell me about owls."}]
    settings = Sampling(max_new_tokens=12, stop=("zz",))
    with OpenAIClient(Endpoint(served, tiny_policy)) as client:
        [[whole, copy]] = client.generate([chat], Sampling(max_new_tokens=12, n=2))
        answer = client.stream(chat, settings)
        streamed = "".join(answer)
    assert whole == copy and whole.tokens == 12 and whole.finish_reason == "length"
    assert answer.completion is not None
    assert answer.completion.tokens == 12 and answer.completion.finish_reason == "length"
    assert streamed.strip() == whole.text.strip()  # the server trims a whole chat answer, not a stream


@pytest.mark.ml
def test_a_served_model_refusing_a_request_is_a_clear_error(served: str, tiny_policy: str) -> None:
    with OpenAIClient(Endpoint(served, "another-model")) as client, pytest.raises(EndpointError) as caught:
        client.generate(["x"], GREEDY)
    assert caught.value.status == 400 and "pinned" in caught.value.message
    with OpenAIClient(Endpoint(served, tiny_policy)) as client, pytest.raises(EndpointError) as caught:
        client.generate(["x"], Sampling(temperature=1.0, top_k=5))
    assert caught.value.status == 422 and "top_k" in caught.value.message
