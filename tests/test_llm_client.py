"""tools.llm_client and tools.llm_cache against a fake OpenAI-compatible server.

The fake is an ``httpx2.MockTransport`` handler returning chat.completions bodies, so
the SDK's real request building, retries and response parsing run; no network.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import openai._base_client
import pytest

from agent.classification import Classification
from tools.llm_cache import (
    RecordingTransport,
    ReplayMissError,
    ReplayTransport,
    cache_key,
)
from tools.llm_client import (
    LlmClient,
    LlmConfig,
    LlmRejected,
    LlmUnavailable,
    LlmUnusable,
    strict_json_schema,
)

Handler = Callable[[httpx2.Request], httpx2.Response]

MESSAGES = [
    {"role": "system", "content": "Classify the customer's reply. Answer with JSON only."},
    {
        "role": "user",
        "content": "Hi, we will pay invoice INV-1001 (EUR 1,250.00) on Friday 14 March. "
        "Apologies for the delay, our approver was away. Regards, Dana",
    },
]

ANSWER = {
    "intent": "promise_to_pay",
    "confidence": 0.92,
    "promise_date": "2025-03-14",
    "promise_amount": "1250.00",
    "return_date": None,
    "invoices": ["INV-1001"],
    "question_topic": None,
    "new_contact": None,
    "evidence": "we will pay invoice INV-1001 (EUR 1,250.00) on Friday 14 March",
    "suspicious": False,
    "engine": "llm",
}


def completion(
    content: str | None = None,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    model: str = "qwen2.5-7b-instruct-q4_k_m",
) -> dict[str, Any]:
    """A realistic /v1/chat/completions body."""
    if content is None and refusal is None:
        content = json.dumps(ANSWER)
    return {
        "id": "chatcmpl-9xYz",
        "object": "chat.completion",
        "created": 1741600000,
        "model": model,
        "system_fingerprint": "fp_b28b39ffa8",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 412, "completion_tokens": 87, "total_tokens": 499},
    }


def ok(body: dict[str, Any] | None = None) -> httpx2.Response:
    return httpx2.Response(200, json=body if body is not None else completion())


def error(status: int, message: str, **headers: str) -> httpx2.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return httpx2.Response(status, json=body, headers=headers)


class FakeServer:
    """Counts calls and keeps the requests; ``handler`` decides each answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx2.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.requests.append(request)
        return self.handler(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


def make_client(
    server: FakeServer | httpx2.BaseTransport,
    *,
    clock: Callable[[], float] = time.monotonic,
    threshold: int = 5,
    cooldown: float = 60.0,
    **config: Any,
) -> LlmClient:
    transport = server.transport() if isinstance(server, FakeServer) else server
    settings: dict[str, Any] = {
        "base_url": "http://llm.test:8080/v1",
        "model": "qwen2.5-7b-instruct",
        "api_key": None,
        "max_retries": 1,
    }
    settings.update(config)
    return LlmClient(
        LlmConfig(**settings),
        http_client=httpx2.Client(transport=transport),
        breaker_threshold=threshold,
        breaker_cooldown_s=cooldown,
        clock=clock,
    )


def ask(client: LlmClient):
    return client.structured(MESSAGES, Classification, name="reply_classification")


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK has no backoff setting: its first retry waits 0.5 s (jittered) unless the
    server sends Retry-After. Shrink the module constant it reads, for timeouts."""
    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.001)


# -- answers ---------------------------------------------------------------------------


def test_valid_answer_parses_into_classification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")  # must not leak to base_url
    server = FakeServer(lambda request: ok())
    result = ask(make_client(server))

    assert result.parsed == Classification(
        intent="promise_to_pay",
        confidence=0.92,
        promise_date=date(2025, 3, 14),
        promise_amount=Decimal("1250.00"),
        invoices=["INV-1001"],
        evidence="we will pay invoice INV-1001 (EUR 1,250.00) on Friday 14 March",
        engine="llm",
    )
    assert (result.model, result.prompt_tokens, result.completion_tokens) == (
        "qwen2.5-7b-instruct-q4_k_m",
        412,
        87,
    )
    assert result.raw_text == json.dumps(ANSWER)
    assert result.mode == "json_schema"
    assert result.latency_s >= 0

    request = server.requests[0]
    assert request.url == "http://llm.test:8080/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer no-key"
    body = server.body()
    assert body["model"] == "qwen2.5-7b-instruct"
    assert body["messages"] == MESSAGES
    assert (body["max_tokens"], body["temperature"]) == (800, 0.0)
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert (fmt["json_schema"]["name"], fmt["json_schema"]["strict"]) == (
        "reply_classification",
        True,
    )
    schema = fmt["json_schema"]["schema"]
    assert schema == strict_json_schema(Classification)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(Classification.model_fields)
    assert not [node for node in walk(schema) if "default" in node]  # strict rejects defaults


def test_json_object_mode_request_shape() -> None:
    server = FakeServer(lambda request: ok())
    result = ask(make_client(server, response_format="json_object", api_key="sk-local"))

    assert result.parsed.intent == "promise_to_pay"
    assert result.mode == "json_object"
    assert server.requests[0].headers["authorization"] == "Bearer sk-local"
    assert server.body()["response_format"] == {
        "type": "json_object",
        "schema": strict_json_schema(Classification),
    }


LLAMA_CPP_400 = 'response_format type must be one of "text" or "json_object", but got: json_schema'


def test_auto_mode_switches_to_json_object_once_and_remembers() -> None:
    def old_llama_cpp(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content)["response_format"]["type"] == "json_schema":
            return error(400, LLAMA_CPP_400)
        return ok()

    server = FakeServer(old_llama_cpp)
    client = make_client(server, max_retries=2)
    assert client.mode == "json_schema"

    first = ask(client)
    assert first.mode == "json_object" and first.parsed.intent == "promise_to_pay"
    assert [server.body(i)["response_format"]["type"] for i in range(2)] == [
        "json_schema",
        "json_object",
    ]
    assert client.mode == "json_object"

    ask(client)
    assert server.calls == 3  # the second call went straight to json_object
    assert server.body()["response_format"]["type"] == "json_object"


def test_auto_mode_switches_only_once() -> None:
    server = FakeServer(lambda request: error(400, LLAMA_CPP_400.replace("json_schema", "x")))
    client = make_client(server, max_retries=2)
    with pytest.raises(LlmRejected):
        ask(client)
    assert server.calls == 2 and client.mode == "json_object"
    with pytest.raises(LlmRejected, match="response_format"):
        ask(client)  # already switched: a 400 naming response_format is just rejected
    assert server.calls == 3


def test_explicit_json_schema_mode_does_not_switch() -> None:
    server = FakeServer(lambda request: error(400, LLAMA_CPP_400))
    client = make_client(server, response_format="json_schema", max_retries=2)
    with pytest.raises(LlmRejected) as info:
        ask(client)
    assert info.value.status_code == 400
    assert server.calls == 1
    assert client.mode == "json_schema"


def test_other_400_is_rejected_without_retry_or_switch() -> None:
    server = FakeServer(lambda request: error(400, "'temperature' must be between 0 and 2"))
    client = make_client(server, max_retries=2)
    with pytest.raises(LlmRejected, match="temperature"):
        ask(client)
    assert server.calls == 1
    assert client.mode == "json_schema"


def test_not_json_is_unusable() -> None:
    server = FakeServer(lambda request: ok(completion('{"intent": "paid", "confid')))
    with pytest.raises(LlmUnusable, match="not JSON") as info:
        ask(make_client(server))
    assert info.value.raw_text == '{"intent": "paid", "confid'
    assert info.value.model == "qwen2.5-7b-instruct-q4_k_m"
    assert server.calls == 1


def test_json_that_does_not_validate_is_unusable_with_the_error() -> None:
    wrong = dict(ANSWER, intent="will_pay_soon", confidence=1.7)
    server = FakeServer(lambda request: ok(completion(json.dumps(wrong))))
    with pytest.raises(LlmUnusable, match="does not match Classification") as info:
        ask(make_client(server))
    assert "intent" in info.value.reason and "confidence" in info.value.reason
    assert server.calls == 1


def test_refusal_is_unusable() -> None:
    server = FakeServer(lambda request: ok(completion(refusal="I can't help with that request.")))
    with pytest.raises(LlmUnusable, match="refused: I can't help"):
        ask(make_client(server))


def test_cut_off_answer_is_unusable() -> None:
    cut = json.dumps(ANSWER)[:60]
    server = FakeServer(lambda request: ok(completion(cut, finish_reason="length")))
    with pytest.raises(LlmUnusable, match="cut off") as info:
        ask(make_client(server))
    assert info.value.raw_text == cut


def test_empty_answer_is_unusable() -> None:
    server = FakeServer(lambda request: ok(completion("  ")))
    with pytest.raises(LlmUnusable, match="empty answer"):
        ask(make_client(server))


def test_non_completion_body_is_unusable() -> None:
    server = FakeServer(lambda request: httpx2.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(LlmUnusable, match="did not answer with a chat completion"):
        ask(make_client(server))


# -- transient failures: the SDK retries, nobody else ------------------------------------


def test_429_then_success_is_retried_by_the_sdk() -> None:
    answers = iter([error(429, "Rate limit reached", **{"retry-after-ms": "5"}), ok()])
    server = FakeServer(lambda request: next(answers))
    result = ask(make_client(server, max_retries=2))

    assert result.parsed.intent == "promise_to_pay"
    assert server.calls == 2
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]


def test_429_asking_for_a_long_wait_is_not_retried() -> None:
    server = FakeServer(lambda request: error(429, "Rate limit reached", **{"retry-after": "600"}))
    with pytest.raises(LlmUnavailable) as info:
        ask(make_client(server, max_retries=2))
    assert info.value.status_code == 429
    assert server.calls == 1  # the SDK does not wait more than 120 s


def test_persistent_500_is_unavailable_after_the_sdk_retries() -> None:
    server = FakeServer(lambda request: error(500, "upstream crashed", **{"retry-after-ms": "1"}))
    with pytest.raises(LlmUnavailable, match="upstream crashed") as info:
        ask(make_client(server, max_retries=2))
    assert info.value.status_code == 500
    assert server.calls == 3  # one try, two SDK retries, no further layer


def test_timeout_is_unavailable_after_the_sdk_retries() -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    server = FakeServer(slow)
    with pytest.raises(LlmUnavailable, match="APITimeoutError"):
        ask(make_client(server, max_retries=1))
    assert server.calls == 2


def test_connection_error_is_unavailable() -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    server = FakeServer(down)
    with pytest.raises(LlmUnavailable, match="APIConnectionError"):
        ask(make_client(server, max_retries=0))
    assert server.calls == 1


# -- circuit breaker ---------------------------------------------------------------------


def test_circuit_opens_after_consecutive_failures_and_recovers_after_cooldown() -> None:
    now = [1000.0]
    healthy = [False]
    server = FakeServer(
        lambda request: (
            ok() if healthy[0] else error(503, "overloaded", **{"x-should-retry": "false"})
        )
    )
    client = make_client(server, clock=lambda: now[0], threshold=3, cooldown=60.0, max_retries=0)

    for _ in range(3):
        with pytest.raises(LlmUnavailable, match="overloaded"):
            ask(client)
    assert server.calls == 3 and client.circuit_open

    with pytest.raises(LlmUnavailable, match="circuit open"):
        ask(client)
    now[0] += 59
    with pytest.raises(LlmUnavailable, match="circuit open"):
        ask(client)
    assert server.calls == 3  # no call while open

    now[0] += 2  # cooldown over: one trial call, which fails and reopens at once
    with pytest.raises(LlmUnavailable, match="overloaded"):
        ask(client)
    assert server.calls == 4
    with pytest.raises(LlmUnavailable, match="circuit open"):
        ask(client)
    assert server.calls == 4

    now[0] += 61
    healthy[0] = True
    assert ask(client).parsed.intent == "promise_to_pay"  # the trial succeeds: closed
    assert not client.circuit_open
    assert server.calls == 5

    healthy[0] = False  # a fresh count: one failure does not reopen it
    with pytest.raises(LlmUnavailable, match="overloaded"):
        ask(client)
    assert not client.circuit_open


def test_half_open_circuit_lets_one_trial_call_through() -> None:
    now = [0.0]
    entered, release = threading.Event(), threading.Event()
    failing = [True]

    def handler(request: httpx2.Request) -> httpx2.Response:
        if failing[0]:
            return error(503, "overloaded", **{"x-should-retry": "false"})
        entered.set()
        assert release.wait(5)
        return ok()

    server = FakeServer(handler)
    client = make_client(server, clock=lambda: now[0], threshold=1, cooldown=10.0, max_retries=0)
    with pytest.raises(LlmUnavailable, match="overloaded"):
        ask(client)
    assert client.circuit_open

    now[0] += 11
    failing[0] = False
    results: list[Any] = []
    trial = threading.Thread(target=lambda: results.append(ask(client)))
    trial.start()
    assert entered.wait(5)
    with pytest.raises(LlmUnavailable, match="trial call is in flight"):
        ask(client)  # a second caller does not pile onto a maybe-dead server
    release.set()
    trial.join(5)
    assert results and results[0].parsed.intent == "promise_to_pay"
    assert server.calls == 2 and not client.circuit_open


def test_unusable_answers_do_not_open_the_circuit() -> None:
    server = FakeServer(lambda request: ok(completion("not json")))
    client = make_client(server, threshold=2)
    for _ in range(4):
        with pytest.raises(LlmUnusable):
            ask(client)
    assert server.calls == 4 and not client.circuit_open


# -- concurrency -------------------------------------------------------------------------


def test_concurrency_limit_is_honoured() -> None:
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def slow(request: httpx2.Request) -> httpx2.Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return ok()

    server = FakeServer(slow)
    client = make_client(server, concurrency=3)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(ask(client))) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 12 and server.calls == 12
    assert peak[0] == 3


# -- record / replay ---------------------------------------------------------------------


def gzipped_ok(request: httpx2.Request) -> httpx2.Response:
    """Like a real server behind nginx: a gzip-encoded body."""
    body = gzip.compress(json.dumps(completion()).encode())
    return httpx2.Response(
        200,
        content=body,
        headers={
            "content-type": "application/json",
            "content-encoding": "gzip",
            "x-request-id": "req_123",
        },
    )


def test_record_then_replay_gives_the_same_result_without_the_network(tmp_path: Path) -> None:
    server = FakeServer(gzipped_ok)
    recorder = RecordingTransport(tmp_path / "rec", inner=server.transport())
    recorded = ask(make_client(recorder, api_key="sk-recording"))
    assert server.calls == 1
    files = list((tmp_path / "rec").glob("*.json"))
    assert [f.stem for f in files] == recorder.recorded
    stored = json.loads(files[0].read_text())
    assert stored["request"]["json"]["model"] == "qwen2.5-7b-instruct"
    assert "content-encoding" not in dict(stored["response"]["headers"])

    replay = ReplayTransport(tmp_path / "rec")  # no inner transport at all
    replayed = ask(make_client(replay, api_key="sk-another-key", max_retries=0))
    assert replayed.parsed == recorded.parsed
    assert (replayed.raw_text, replayed.model, replayed.prompt_tokens) == (
        recorded.raw_text,
        recorded.model,
        recorded.prompt_tokens,
    )
    assert replay.served == recorder.recorded
    assert server.calls == 1


def test_an_interrupted_recording_resumes_without_asking_again(tmp_path: Path) -> None:
    server = FakeServer(gzipped_ok)
    ask(make_client(RecordingTransport(tmp_path, inner=server.transport())))
    assert server.calls == 1

    resumed = RecordingTransport(tmp_path, inner=server.transport(), keep_existing=True)
    again = ask(make_client(resumed))
    assert server.calls == 1  # answered from the recording
    assert again.model == "qwen2.5-7b-instruct-q4_k_m"  # as the server answered

    afresh = RecordingTransport(tmp_path, inner=server.transport())
    ask(make_client(afresh))
    assert server.calls == 2  # without keep_existing every request goes out


def test_replay_follows_a_recorded_auto_mode_switch(tmp_path: Path) -> None:
    def old_llama_cpp(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content)["response_format"]["type"] == "json_schema":
            return error(400, LLAMA_CPP_400)
        return ok()

    server = FakeServer(old_llama_cpp)
    ask(make_client(RecordingTransport(tmp_path, inner=server.transport())))
    assert len(list(tmp_path.glob("*.json"))) == 2

    replayed = ask(make_client(ReplayTransport(tmp_path)))
    assert replayed.mode == "json_object"


def test_transient_failures_are_not_recorded(tmp_path: Path) -> None:
    answers = iter([error(503, "overloaded", **{"retry-after-ms": "1"}), ok()])
    server = FakeServer(lambda request: next(answers))
    recorder = RecordingTransport(tmp_path, inner=server.transport())
    ask(make_client(recorder, max_retries=1))
    assert server.calls == 2
    assert len(recorder.recorded) == 1
    (stored,) = tmp_path.glob("*.json")
    assert json.loads(stored.read_text())["response"]["status"] == 200


def test_replay_miss_names_key_model_and_message(tmp_path: Path) -> None:
    replay = ReplayTransport(tmp_path)
    attempts = [0]

    class Counting(httpx2.BaseTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            attempts[0] += 1
            return replay.handle_request(request)

    client = make_client(Counting(), max_retries=2, threshold=1)
    conversation = [
        *MESSAGES,
        {"role": "assistant", "content": "{}"},
        {"role": "user", "content": "A later user message"},
    ]
    with pytest.raises(ReplayMissError) as info:
        client.structured(conversation, Classification, name="reply_classification")
    message = str(info.value)
    assert "A later user message" not in message  # the first user message is named
    assert info.value.key in message and len(info.value.key) == 32
    assert "'qwen2.5-7b-instruct'" in message
    assert "Hi, we will pay invoice INV-1001" in message and "..." in message
    assert "our approver was away" not in message  # truncated
    assert attempts[0] == 1  # not mistaken for a connection error and retried
    assert not client.circuit_open


def chat_request(body: str, **headers: str) -> httpx2.Request:
    return httpx2.Request(
        "POST", "http://llm.test:8080/v1/chat/completions", content=body.encode(), headers=headers
    )


def test_cache_key_ignores_headers_key_order_and_host() -> None:
    a = chat_request(
        '{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.0}',
        authorization="Bearer one",
        **{"x-stainless-retry-count": "0", "user-agent": "OpenAI/Python 3.60.0"},
    )
    b = chat_request(
        '{"temperature":0.0,"messages":[{"content":"x","role":"user"}],"model":"m"}',
        authorization="Bearer two",
        **{"x-stainless-retry-count": "2", "idempotency-key": "stainless-python-retry-1"},
    )
    other_host = httpx2.Request(
        "POST", "https://gpu-box:9000/v1/chat/completions", content=b.content
    )
    assert cache_key(a) == cache_key(b) == cache_key(other_host)

    different = [
        chat_request(
            '{"model": "m", "messages": [{"role": "user", "content": "y"}], "temperature": 0.0}'
        ),
        chat_request(
            '{"model": "m2", "messages": [{"role": "user", "content": "x"}], "temperature": 0.0}'
        ),
        httpx2.Request("POST", "http://llm.test:8080/v1/completions", content=a.content),
    ]
    assert cache_key(a) not in {cache_key(request) for request in different}
