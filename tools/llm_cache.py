"""Record and replay LLM calls at the HTTP layer (httpx2 transports).

The SDK builds its real request and parses the real response body either way; only the
network is swapped out. A recording is a directory of JSON files, one per request,
named by ``cache_key(request)``: a hash of the method, the URL path and the canonical
JSON body (model, messages, response_format with its schema, max_tokens, temperature).
Headers (authorization, user agent, ``x-stainless-retry-count``, idempotency keys) and
JSON key order do not count, nor do the scheme, host and port, so a recording made
against one server replays for the same request to another base URL with the same path.

    client = httpx2.Client(transport=RecordingTransport("tests/data/llm/run1"))  # live
    client = httpx2.Client(transport=ReplayTransport("tests/data/llm/run1"))     # offline
    LlmClient(config, http_client=client)

Transient failures (408, 409, 429, 5xx) are passed through but not recorded, so a
replay never reproduces an outage; other statuses (a 400 included, which ``auto``
response_format mode acts on) are.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx2

__all__ = [
    "RecordingTransport",
    "ReplayMissError",
    "ReplayTransport",
    "cache_key",
    "recording_client",
    "replay_client",
]

_UNRECORDED_STATUS = frozenset({408, 409, 429})
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)
"""The stored body is already decoded; replaying these would make httpx2 decode again."""


class ReplayMissError(LookupError):
    """No recording for a request. Deliberately not an ``httpx2.RequestError``: the SDK
    would treat that as a connection error and retry it."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


def _body(request: httpx2.Request) -> bytes:
    try:
        return request.content
    except httpx2.RequestNotRead:
        return request.read()


def _canonical_body(raw: bytes) -> bytes:
    if not raw:
        return b""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def cache_key(request: httpx2.Request) -> str:
    """A hex digest of (method, URL path, canonical JSON body); headers are ignored."""
    digest = hashlib.sha256()
    digest.update(request.method.upper().encode())
    digest.update(b"\n")
    digest.update(request.url.path.encode())
    digest.update(b"\n")
    digest.update(_canonical_body(_body(request)))
    return digest.hexdigest()[:32]


def _summary(request: httpx2.Request, limit: int = 80) -> tuple[str | None, str | None]:
    """(model, first user message truncated) of a chat request, for error messages."""
    try:
        data = json.loads(_body(request) or b"{}")
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    model = data.get("model")
    first_user = None
    for message in data.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = " ".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
            first_user = " ".join(str(content).split())
            break
    if first_user is not None and len(first_user) > limit:
        first_user = first_user[: limit - 3] + "..."
    return (str(model) if model is not None else None), first_user


def _request_record(request: httpx2.Request) -> dict[str, Any]:
    raw = _body(request)
    record: dict[str, Any] = {"method": request.method, "path": request.url.path}
    try:
        record["json"] = json.loads(raw) if raw else None
    except ValueError:
        record["text"] = raw.decode("utf-8", "replace")
    return record


class RecordingTransport(httpx2.BaseTransport):
    """Forwards every request to ``inner`` (default: a real ``httpx2.HTTPTransport``) and
    writes each response to ``<directory>/<cache_key>.json``, replacing an older one.

    With ``keep_existing``, a request already recorded is answered from the recording
    and not sent, so an interrupted recording resumes where it stopped."""

    def __init__(
        self,
        directory: str | Path,
        inner: httpx2.BaseTransport | None = None,
        *,
        keep_existing: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.inner = inner if inner is not None else httpx2.HTTPTransport()
        self.keep_existing = keep_existing
        self._replay = ReplayTransport(self.directory)
        self.recorded: list[str] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        key = cache_key(request)
        if self.keep_existing and (self.directory / f"{key}.json").exists():
            return self._replay.handle_request(request)
        response = self.inner.handle_request(request)
        try:
            body = response.read()
        finally:
            response.close()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _DROPPED_RESPONSE_HEADERS
        ]
        status = response.status_code
        if status < 500 and status not in _UNRECORDED_STATUS:
            self._write(key, request, status, headers, body)
        return httpx2.Response(status, headers=headers, content=body, request=request)

    def _write(
        self,
        key: str,
        request: httpx2.Request,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        response: dict[str, Any] = {"status": status, "headers": headers}
        try:
            response["json"] = json.loads(body)
        except ValueError:
            response["text"] = body.decode("utf-8", "replace")
        record = {"key": key, "request": _request_record(request), "response": response}
        text = json.dumps(record, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.directory / f"{key}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self.recorded.append(key)

    def close(self) -> None:
        self.inner.close()


class ReplayTransport(httpx2.BaseTransport):
    """Serves responses recorded by ``RecordingTransport``; never touches the network.
    A request without a recording raises ``ReplayMissError``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.served: list[str] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        key = cache_key(request)
        path = self.directory / f"{key}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            model, first_user = _summary(request)
            raise ReplayMissError(
                f"no recorded LLM response for {request.method} {request.url.path} "
                f"(key {key}, model {model!r}, first user message {first_user!r}) "
                f"in {self.directory}; record it again with RecordingTransport",
                key,
            ) from None
        response = record["response"]
        if "json" in response:
            content = json.dumps(response["json"], ensure_ascii=False).encode()
        else:
            content = str(response.get("text", "")).encode()
        with self._lock:
            self.served.append(key)
        return httpx2.Response(
            response["status"],
            headers=[tuple(pair) for pair in response.get("headers", [])],
            content=content,
            request=request,
        )


def recording_client(
    directory: str | Path,
    inner: httpx2.BaseTransport | None = None,
    *,
    keep_existing: bool = False,
    **client_kwargs: Any,
) -> httpx2.Client:
    """An ``httpx2.Client`` that records to ``directory`` (pass it as ``http_client``)."""
    transport = RecordingTransport(directory, inner, keep_existing=keep_existing)
    return httpx2.Client(transport=transport, **client_kwargs)


def replay_client(directory: str | Path, **client_kwargs: Any) -> httpx2.Client:
    """An ``httpx2.Client`` that replays from ``directory`` (pass it as ``http_client``)."""
    return httpx2.Client(transport=ReplayTransport(directory), **client_kwargs)
