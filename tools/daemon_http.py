"""The daemon's optional HTTP endpoint: ``/healthz`` (JSON: alive, last pass, errors)
and ``/metrics`` (Prometheus text format, through ``prometheus_client``).

Counters are the daemon's own since it started; ``dunning_escalations_open`` is read
from the ledger at each scrape.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)


class DaemonMetrics:
    """What the daemon counts; one registry per daemon, so tests can run several."""

    def __init__(self, open_escalations: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter("dunning_passes", "Chase passes run", registry=r)
        self.messages = Counter(
            "dunning_messages_sent", "Messages sent, by stage", ["stage"], registry=r
        )
        self.decisions = Counter(
            "dunning_decisions", "Chase decisions, by action", ["action"], registry=r
        )
        self.replies = Counter(
            "dunning_replies", "Emails processed, by intent", ["intent"], registry=r
        )
        self.escalations_open = Gauge(
            "dunning_escalations_open", "Escalations waiting for a person", registry=r
        )
        self.llm_calls = Counter("dunning_llm_calls", "Model calls", registry=r)
        self.llm_tokens = Counter("dunning_llm_tokens", "Model tokens", ["kind"], registry=r)
        self.errors = Counter("dunning_errors", "Errors, by where", ["where"], registry=r)
        self.last_pass = Gauge(
            "dunning_last_pass_timestamp_seconds", "When the last pass ended", registry=r
        )
        if open_escalations is not None:
            self.escalations_open.set_function(lambda: float(open_escalations()))
        self.started = datetime.now(UTC)
        self.last_pass_at: datetime | None = None
        self.last_error: str | None = None

    def observe_pass(self, summary: Any) -> None:
        self.passes.inc()
        for decision in summary.decisions:
            self.decisions.labels(decision["action"]).inc()
            if decision["action"] == "send" and decision.get("delivery") in ("sent",):
                self.messages.labels(decision.get("stage") or "").inc()
        if summary.errors:
            self.errors.labels("chase").inc(summary.errors)
        self.last_pass_at = datetime.now(UTC)
        self.last_pass.set(self.last_pass_at.timestamp())

    def observe_reply(self, outcome: Any) -> None:
        self.replies.labels(outcome.intent or "none").inc()

    def observe_usage(self, calls: int, prompt: int, completion: int) -> None:
        self.llm_calls.inc(calls)
        self.llm_tokens.labels("prompt").inc(prompt)
        self.llm_tokens.labels("completion").inc(completion)

    def error(self, where: str, message: str) -> None:
        self.errors.labels(where).inc()
        self.last_error = message

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "started_at": self.started.isoformat(),
            "last_pass_at": self.last_pass_at.isoformat() if self.last_pass_at else None,
            "last_error": self.last_error,
        }


class MetricsServer:
    """``with MetricsServer(metrics, "127.0.0.1:9464"):`` serves until the block ends."""

    def __init__(self, metrics: DaemonMetrics, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"daemon_http: {address!r} is not HOST:PORT")
        self.metrics = metrics
        self.server = ThreadingHTTPServer((host, int(port)), self._handler())
        self.server.daemon_threads = True
        self.address = f"{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        metrics = self.metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                if self.path == "/metrics":
                    body, kind = generate_latest(metrics.registry), CONTENT_TYPE_LATEST
                elif self.path in ("/healthz", "/health"):
                    body, kind = json.dumps(metrics.health()).encode(), "application/json"
                else:
                    self.send_error(404, "try /healthz or /metrics")
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # scrapes are not worth a log line

        return Handler

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
