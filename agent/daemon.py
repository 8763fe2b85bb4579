"""``dunning daemon``: the agent as a service.

A chase pass every ``daemon_pass_seconds`` (each account is still sent to only inside
its own sending window: the policy defers the rest), and the inbox watched in between
(IMAP IDLE where the server has it, polling otherwise). Several daemons on one
PostgreSQL database share the due accounts through leases (``tools.leases``).

SIGTERM and SIGINT stop it cleanly: while it waits, at once; during a pass, after the
account in hand (its decision recorded, or its message settled), never half-sent.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import sqlalchemy as sa

from agent.chase_pass import PassSummary, run_leased_pass
from agent.runtime import Runtime
from tools.daemon_http import DaemonMetrics, MetricsServer
from tools.human_ledger import open_escalations
from tools.inbox import Inbox, InboxError
from tools.tables import DecisionRow

log = logging.getLogger("dunning.daemon")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    _standard = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._standard and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def setup_logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _Wake(Exception):
    """Raised by the signal handler to end a wait (never during a pass)."""


class Shutdown:
    """SIGTERM/SIGINT: remember the request; end a wait at once, a pass between accounts."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None
        self.cut_short = False
        """A wait was interrupted (an IMAP IDLE may be left open: close without LOGOUT)."""
        self._waiting = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        self.signal = signal.Signals(signum).name
        if self._waiting:
            self._waiting = False
            raise _Wake

    def __call__(self) -> bool:
        return self.requested

    def wait(self, block: Callable[[float], object], seconds: float) -> None:
        """Run ``block(seconds)`` (a wait) unless a stop was asked; a signal cuts it short."""
        self._waiting = True  # before the check: a signal from here on raises _Wake
        try:
            if not self.requested:
                block(seconds)
        except _Wake:
            self.cut_short = True
        finally:
            self._waiting = False


@dataclass
class DaemonOptions:
    worker: str
    pass_every: float
    lease_seconds: float
    watch_inbox: bool = True
    until_idle: bool = False
    """Stop once a pass finds nothing due and the inbox nothing new (tests, batch runs)."""
    http: str | None = None
    prune_every: float = 24 * 3600.0
    """Seconds between prunings of the chase threads nobody needs (``prune_checkpoints``)."""


def run_daemon(runtime: Runtime, options: DaemonOptions, shutdown: Shutdown) -> int:
    """Run until told to stop; returns the process exit code."""
    deps = runtime.deps
    metrics = DaemonMetrics(lambda: len(open_escalations(deps.engine)))
    with ExitStack() as stack:
        if options.http:
            server = stack.enter_context(MetricsServer(metrics, options.http))
            log.info("serving /healthz and /metrics", extra={"address": server.address})
        log.info(
            "daemon started",
            extra={"worker": options.worker, "pass_every": options.pass_every, "pid": os.getpid()},
        )
        _serve(runtime, options, shutdown, metrics)
    log.info("daemon stopped", extra={"worker": options.worker, "signal": shutdown.signal})
    return 0


def _serve(
    runtime: Runtime, options: DaemonOptions, shutdown: Shutdown, metrics: DaemonMetrics
) -> None:
    inbox: Inbox | None = None
    last_decision = _last_decision_id(runtime)
    next_pass = 0.0
    next_prune = time.monotonic() + options.prune_every
    try:
        while not shutdown():
            looked_at = new_mail = 0
            # with --until-idle, passes run back to back until one finds nothing due
            if options.until_idle or time.monotonic() >= next_pass:
                try:
                    looked_at = _pass(runtime, options, shutdown, metrics).accounts_looked_at
                    last_decision = _observe_usage(runtime, metrics, last_decision)
                except Exception as exc:  # e.g. the database is away: try again next time
                    if options.until_idle:
                        raise
                    metrics.error("pass", str(exc))
                    log.exception("the chase pass failed; the next one runs on schedule")
                next_pass = time.monotonic() + options.pass_every
            if shutdown():
                break
            if time.monotonic() >= next_prune:
                _prune(runtime, metrics)
                next_prune = time.monotonic() + options.prune_every
            if options.watch_inbox:
                try:
                    if inbox is None:
                        inbox = runtime.open_inbox()
                    new_mail = len(runtime.poll_inbox(inbox, metrics.observe_reply))
                except InboxError as exc:  # the inbox reconnects with backoff by itself
                    metrics.error("inbox", str(exc))
                    log.error("inbox: %s", exc)
            if options.until_idle and looked_at == 0 and new_mail == 0:
                break
            remaining = max(0.0, next_pass - time.monotonic())
            shutdown.wait(inbox.wait if inbox is not None else time.sleep, remaining)
    finally:
        if inbox is not None:
            with suppress(Exception):
                if shutdown.cut_short and hasattr(inbox, "abort"):
                    inbox.abort()
                else:
                    inbox.close()


def _pass(
    runtime: Runtime, options: DaemonOptions, shutdown: Shutdown, metrics: DaemonMetrics
) -> PassSummary:
    started = time.monotonic()
    summary = run_leased_pass(
        runtime.deps,
        runtime.chase_graph,
        options.worker,
        options.lease_seconds,
        stop=shutdown,
        keep_decisions=True,
    )
    metrics.observe_pass(summary)
    counts = summary.counts()
    counts.pop("as_of", None)
    log.info(
        "pass done",
        extra={
            **counts,
            "worker": options.worker,
            "seconds": round(time.monotonic() - started, 3),
            "as_of": summary.as_of,
        },
    )
    summary.decisions.clear()
    return summary


def _prune(runtime: Runtime, metrics: DaemonMetrics) -> None:
    started = time.monotonic()
    try:
        gone = runtime.prune_checkpoints()
    except Exception as exc:  # maintenance: never worth stopping the daemon for
        metrics.error("prune", str(exc))
        log.exception("pruning the chase threads failed")
        return
    log.info(
        "chase threads pruned",
        extra={"threads": gone, "seconds": round(time.monotonic() - started, 3)},
    )


def _last_decision_id(runtime: Runtime) -> int:
    with runtime.deps.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(DecisionRow.id))).scalar() or 0)


def _observe_usage(runtime: Runtime, metrics: DaemonMetrics, after: int) -> int:
    """Model calls and tokens of the decisions logged since ``after`` (any worker's)."""
    query = sa.select(
        sa.func.max(DecisionRow.id),
        sa.func.sum(DecisionRow.llm_calls),
        sa.func.sum(DecisionRow.prompt_tokens),
        sa.func.sum(DecisionRow.completion_tokens),
    ).where(DecisionRow.id > after)
    with runtime.deps.engine.connect() as conn:
        last, calls, prompt, completion = conn.execute(query).one()
    if last is None:
        return after
    metrics.observe_usage(int(calls or 0), int(prompt or 0), int(completion or 0))
    return int(last)
