"""A thin adapter to an OpenAI-compatible chat completions server: structured answers only.

Pure IO, no policy. ``LlmClient.structured`` sends the messages with a JSON schema
(``response_format``), validates the answer with the pydantic model itself and returns
an ``LlmResult``; everything that goes wrong comes back as one of three exceptions a
caller can act on:

* ``LlmUnusable``: the server answered, but not with a usable object (a refusal, an
  answer cut off by ``max_tokens``, text that is not JSON or does not validate, an empty
  answer). Trying the same request again rarely helps; fall back or send it to a person.
* ``LlmUnavailable``: a transient failure (timeout, connection error, 408/409/429/5xx)
  that outlived the SDK's own retries, or the circuit breaker is open. Try later.
* ``LlmRejected``: the server refused the request itself (400 other than the one
  json_schema -> json_object switch, 401, 403, 404, 422...): wrong model name, key,
  base URL or parameters. Retrying will not help; an operator must fix the settings.

Retries happen in ONE layer: the SDK's ``max_retries`` (exponential backoff from 0.5 s,
capped at 8 s, honouring ``Retry-After``/``retry-after-ms`` up to 120 s). Nothing here
retries, except the single switch from ``json_schema`` to ``json_object`` in ``auto``
mode when the server says it does not take ``json_schema`` (old llama.cpp servers).

Thread-safe: a ``BoundedSemaphore(concurrency)`` bounds calls in flight, and a circuit
breaker (lock-protected) stops calling after ``breaker_threshold`` consecutive
``LlmUnavailable`` results for ``breaker_cooldown_s``; then one trial call goes through,
and any answer from the server closes it again.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import httpx2
import openai
from openai.lib._pydantic import to_strict_json_schema
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

__all__ = [
    "LlmClient",
    "LlmConfig",
    "LlmError",
    "LlmRejected",
    "LlmResult",
    "LlmUnavailable",
    "LlmUnusable",
    "strict_json_schema",
]

ResponseFormatMode = Literal["auto", "json_schema", "json_object"]
M = TypeVar("M", bound=BaseModel)

NO_API_KEY = "no-key"
"""Sent as the bearer token when no key is configured (local servers ignore it). Passing
``None`` to the SDK would make it read ``OPENAI_API_KEY`` and send that key to whatever
server ``base_url`` names."""

_TRANSIENT_STATUS = frozenset({408, 409, 429})
"""Besides 5xx: the statuses the SDK itself retries."""


@dataclass
class LlmConfig:
    base_url: str | None
    """An OpenAI-compatible ``.../v1`` URL; ``None``: the SDK's default (``OPENAI_BASE_URL``
    or api.openai.com)."""
    model: str
    api_key: str | None
    timeout: float = 30.0
    """Seconds for each of connect, read, write and pool (httpx2 semantics), per attempt."""
    max_retries: int = 2
    """The SDK's retries on timeouts, connection errors, 408/409/429/5xx."""
    concurrency: int = 16
    response_format: ResponseFormatMode = "auto"
    max_tokens: int = 800
    temperature: float = 0.0


@dataclass(frozen=True)
class LlmResult(Generic[M]):
    parsed: M
    model: str
    """The model the server says answered (may differ from the configured name)."""
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    """Wall time of the call, SDK retries included."""
    raw_text: str
    mode: Literal["json_schema", "json_object"]
    """The response_format actually sent."""


class LlmError(Exception):
    """Base of the adapter's errors; ``reason`` says what happened."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LlmUnusable(LlmError):
    """The server answered, but the answer cannot be used."""

    def __init__(
        self, reason: str, *, raw_text: str | None = None, model: str | None = None
    ) -> None:
        super().__init__(reason)
        self.raw_text = raw_text
        self.model = model


class LlmUnavailable(LlmError):
    """A transient failure after the SDK's retries, or the circuit is open."""

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


class LlmRejected(LlmError):
    """The server refused the request (4xx, not transient): a configuration error."""

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


def strict_json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the subset strict structured outputs accept: every
    property required, ``additionalProperties: false``, no ``default`` keywords (the SDK's
    own conversion leaves non-``None`` defaults in, which OpenAI's strict mode rejects)."""
    return _strip_defaults(to_strict_json_schema(schema))


def _strip_defaults(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "default":
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            # names here are field names: a field called "default" stays
            out[key] = {name: _strip_defaults(sub) for name, sub in value.items()}
        else:
            out[key] = _strip_defaults(value)
    return out


class _Breaker:
    """Consecutive-failure circuit breaker with a single half-open trial call."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        if threshold < 1:
            raise ValueError("breaker_threshold must be at least 1")
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def _refuse(self) -> LlmUnavailable:
        assert self._opened_at is not None
        left = self._cooldown_s - (self._clock() - self._opened_at)
        why = f"retry in {left:.0f} s" if left > 0 else "a trial call is in flight"
        return LlmUnavailable(
            f"circuit open after {self._failures} consecutive failures ({why}); not calling"
        )

    def check(self) -> None:
        """Raise if open and still cooling down (cheap, takes no trial slot)."""
        with self._lock:
            if self._opened_at is not None and (
                self._clock() - self._opened_at < self._cooldown_s or self._trial_in_flight
            ):
                raise self._refuse()

    def admit(self) -> bool:
        """Allow a call or raise; True when this call is the half-open trial."""
        with self._lock:
            if self._opened_at is None:
                return False
            if self._clock() - self._opened_at < self._cooldown_s or self._trial_in_flight:
                raise self._refuse()
            self._trial_in_flight = True
            return True

    def record(self, outcome: Literal["answered", "unavailable", "other"], trial: bool) -> None:
        with self._lock:
            if trial:
                self._trial_in_flight = False
            if outcome == "answered":
                self._failures = 0
                self._opened_at = None
            elif outcome == "unavailable":
                self._failures += 1  # a failed trial is past the threshold too: reopen
                if self._failures >= self._threshold:
                    self._opened_at = self._clock()
            # "other" (a bug or a replay miss, not the server's doing): no change


class LlmClient:
    """Structured chat completions through ``openai.OpenAI``.

    ``http_client`` (an ``httpx2.Client``; the SDK also accepts a legacy ``httpx.Client``)
    is passed through to the SDK, so tests and record/replay inject a transport:
    ``httpx2.Client(transport=httpx2.MockTransport(handler))``.
    """

    def __init__(
        self,
        config: LlmConfig,
        *,
        http_client: httpx2.Client | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.config = config
        self._openai = openai.OpenAI(
            api_key=config.api_key or NO_API_KEY,
            base_url=config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
            http_client=http_client,
        )
        self._mode: Literal["json_schema", "json_object"] = (
            "json_object" if config.response_format == "json_object" else "json_schema"
        )
        self._mode_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._breaker = _Breaker(breaker_threshold, breaker_cooldown_s, clock)
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}

    @property
    def mode(self) -> Literal["json_schema", "json_object"]:
        """The response_format the next call sends (``auto`` starts at json_schema)."""
        return self._mode

    @property
    def circuit_open(self) -> bool:
        return self._breaker.is_open

    def close(self) -> None:
        self._openai.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def structured(
        self, messages: list[dict[str, Any]], schema: type[M], *, name: str
    ) -> LlmResult[M]:
        """Ask for one JSON object matching ``schema``; ``name`` names it in the request
        (a-z, A-Z, 0-9, ``_``, ``-``; at most 64 characters)."""
        self._breaker.check()
        with self._slots:
            trial = self._breaker.admit()
            outcome: Literal["answered", "unavailable", "other"] = "other"
            try:
                result = self._call(messages, schema, name)
                outcome = "answered"
                return result
            except LlmUnavailable:
                outcome = "unavailable"
                raise
            except (LlmUnusable, LlmRejected):
                outcome = "answered"
                raise
            finally:
                self._breaker.record(outcome, trial)

    # -- one call -------------------------------------------------------------------

    def _schema(self, schema: type[BaseModel]) -> dict[str, Any]:
        cached = self._schemas.get(schema)
        if cached is None:
            cached = self._schemas[schema] = strict_json_schema(schema)
        return copy.deepcopy(cached)

    def _response_format(
        self, mode: Literal["json_schema", "json_object"], schema: type[BaseModel], name: str
    ) -> dict[str, Any]:
        if mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": self._schema(schema), "strict": True},
            }
        # llama.cpp's server reads a grammar from "schema"; others ignore the extra key.
        return {"type": "json_object", "schema": self._schema(schema)}

    def _call(self, messages: list[dict[str, Any]], schema: type[M], name: str) -> LlmResult[M]:
        started = time.perf_counter()
        mode = self._mode
        try:
            completion = self._create(messages, self._response_format(mode, schema, name))
        except (
            openai.BadRequestError,
            openai.UnprocessableEntityError,
            openai.InternalServerError,
        ) as exc:
            # llama-cpp-python's server answers an unknown response_format with a 500
            # carrying its validation error ("Input should be 'text' or 'json_object'")
            if not (
                self.config.response_format == "auto"
                and mode == "json_schema"
                and _rejects_response_format(exc)
            ):
                if isinstance(exc, openai.BadRequestError):
                    raise LlmRejected(_describe(exc), status_code=exc.status_code) from exc
                raise _translate(exc) from exc
            with self._mode_lock:
                self._mode = mode = "json_object"
            try:
                completion = self._create(messages, self._response_format(mode, schema, name))
            except openai.OpenAIError as exc2:
                raise _translate(exc2) from exc2
        except openai.OpenAIError as exc:
            raise _translate(exc) from exc
        latency = time.perf_counter() - started
        return _read_completion(completion, schema, mode, latency)

    def _create(self, messages: list[dict[str, Any]], response_format: dict[str, Any]) -> Any:
        return self._openai.chat.completions.create(
            model=self.config.model,
            messages=messages,  # type: ignore[arg-type]
            response_format=response_format,  # type: ignore[arg-type]
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
        )


def _describe(exc: openai.APIError) -> str:
    return f"{type(exc).__name__}: {exc.message}"  # status errors say "Error code: 429 - ..."


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    """A 400 that blames the response_format (e.g. old llama.cpp: 'response_format type
    must be one of "text" or "json_object"'; OpenAI: param 'response_format')."""
    if exc.param and "response_format" in str(exc.param):
        return True
    text = f"{exc.message} {exc.body!r}".lower()
    return "response_format" in text or "json_schema" in text


def _translate(exc: openai.OpenAIError) -> LlmError:
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        return LlmUnavailable(_describe(exc))
    if isinstance(exc, openai.APIResponseValidationError):
        return LlmUnusable(_describe(exc))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500 or exc.status_code in _TRANSIENT_STATUS:
            return LlmUnavailable(_describe(exc), status_code=exc.status_code)
        return LlmRejected(_describe(exc), status_code=exc.status_code)
    raise exc  # not a server outcome (e.g. a local SDK error): let it through


def _read_completion(
    completion: Any,
    schema: type[M],
    mode: Literal["json_schema", "json_object"],
    latency: float,
) -> LlmResult[M]:
    if not isinstance(completion, ChatCompletion):
        raise LlmUnusable(
            f"the server did not answer with a chat completion: {str(completion)[:200]!r}"
        )
    model = getattr(completion, "model", None) or ""
    try:
        choice = completion.choices[0]
        message = choice.message
        finish_reason = choice.finish_reason
    except (AttributeError, IndexError, TypeError) as exc:
        raise LlmUnusable(f"malformed completion: {exc}", model=model) from exc
    text = getattr(message, "content", None) or ""
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise LlmUnusable(f"the model refused: {refusal}", raw_text=text, model=model)
    if finish_reason == "length":
        raise LlmUnusable(
            "the answer was cut off at max_tokens (finish_reason 'length')",
            raw_text=text,
            model=model,
        )
    if finish_reason == "content_filter":
        raise LlmUnusable("the answer was withheld by a content filter", raw_text=text, model=model)
    if not text.strip():
        raise LlmUnusable("empty answer", raw_text=text, model=model)
    try:
        json.loads(text)
    except ValueError as exc:
        raise LlmUnusable(f"the answer is not JSON: {exc}", raw_text=text, model=model) from exc
    try:
        parsed = schema.model_validate_json(text)
    except ValidationError as exc:
        raise LlmUnusable(
            f"the answer does not match {schema.__name__}: {exc}", raw_text=text, model=model
        ) from exc
    usage = getattr(completion, "usage", None)
    return LlmResult(
        parsed=parsed,
        model=model,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency_s=latency,
        raw_text=text,
        mode=mode,
    )
