"""Wiring: settings -> database (migrated), mail transport, checkpointer, chase graph.

The CLI, the demo, the tests and the benchmarks all open the agent through
``open_runtime``, so they run the same graph and the same policy.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.util import Finalize
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agent import verify
from agent.approval_policy import ApprovalRules
from agent.chase_graph import build_chase_graph, thread_id
from agent.chase_pass import PassSummary, due_listing, run_leased_pass
from agent.clock import Clock, SystemClock
from agent.config import Settings
from agent.deps import Deps
from agent.inbox_pass import Pending, ReplyOutcome, poll_once, process_pending, process_raw
from tools import drafting, leases
from tools.checkpoints import open_checkpointer, prune
from tools.db import make_engine, migrate
from tools.inbox import Inbox, inbox_from_settings
from tools.reply_ledger import DbCursorStore
from tools.tables import Account, ApprovalRow
from tools.transports import Transport, transport_from_settings


def open_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine


def open_llm(settings: Settings, http_client: Any = None) -> Any:
    """The LLM engine when a model is configured, else ``None`` (offline). ``http_client``:
    an ``httpx2.Client`` to send through (e.g. ``tools.llm_cache``'s record or replay)."""
    if not settings.llm_model:
        return None
    from agent.llm_engine import LlmEngine
    from tools.llm_client import LlmClient, LlmConfig

    key = settings.llm_api_key
    client = LlmClient(
        LlmConfig(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=key.get_secret_value() if key is not None else None,
            timeout=settings.llm_timeout,
            concurrency=settings.llm_concurrency,
            max_tokens=settings.llm_max_tokens,
            response_format=settings.llm_response_format,
        ),
        http_client=http_client,
    )
    return LlmEngine(client, settings.llm_model)


PARALLEL_FROM = 200
"""A pass over at least this many due accounts is split over worker processes."""
PARALLEL_REPLIES_FROM = 50
"""A batch of at least this many new emails is split over worker processes."""


@dataclass
class Runtime:
    deps: Deps
    chase_graph: Any
    transport_from_settings: bool = True
    _reply_graph: Any = None

    @property
    def reply_graph(self) -> Any:
        if self._reply_graph is None:
            from agent.reply_graph import build_reply_graph

            self._reply_graph = build_reply_graph()
        return self._reply_graph

    def open_inbox(self) -> Inbox:
        """IMAP when an IMAP host is configured, else the local Maildir inbox."""
        return inbox_from_settings(self.deps.settings, DbCursorStore(self.deps.engine))

    def poll_inbox(
        self, inbox: Inbox, on_outcome: Callable[[ReplyOutcome], None] | None = None
    ) -> list[ReplyOutcome]:
        """Everything new in ``inbox``, through the reply graph. A batch of
        ``PARALLEL_REPLIES_FROM`` or more emails is shared by forked worker processes
        (one per core), each sender's emails on one worker, in order."""
        workers = self.deps.settings.workers or os.cpu_count() or 1
        pool: ProcessPoolExecutor | None = None

        def run(pending: list[Pending]) -> list[ReplyOutcome]:
            nonlocal pool
            small = workers < 2 or len(pending) < PARALLEL_REPLIES_FROM
            if small or (pool is None and not self._can_fork()):  # the pool's own threads
                return process_pending(self.deps, self.reply_graph, pending, on_outcome)
            if pool is None:
                drafting.warm_up()
                verify.warm_up()
                import agent.offline_classifier  # noqa: F401  (compiled once, before the fork)

                self.reply_graph  # noqa: B018  (built once, before the fork)
                pool = self._pool(workers)
            slots: list[list[Pending]] = [[] for _ in range(workers)]
            for item in pending:
                digest = hashlib.sha256(item.sender_key.encode()).digest()
                slots[digest[0] % workers].append(item)
            outcomes: list[ReplyOutcome] = []
            for part in pool.map(_worker_replies, [slot for slot in slots if slot]):
                for outcome in part:
                    outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
            return outcomes

        try:
            return poll_once(self.deps, inbox, run)
        finally:
            if pool is not None:
                pool.shutdown()

    def process_email(self, raw: bytes, source_ref: str) -> ReplyOutcome | None:
        """One email (e.g. from a file) through the reply graph."""
        return process_raw(self.deps, self.reply_graph, raw, source_ref)

    def run_pass(self, keep_decisions: bool = True, workers: int | None = None) -> PassSummary:
        """One chase pass. ``workers`` processes share a big pass (default: one per core);
        each account is handled by exactly one of them. The accounts are leased as they
        are decided (``tools.leases``), so a pass never decides an account a running
        daemon is deciding."""
        workers = workers or self.deps.settings.workers or os.cpu_count() or 1
        listed = due_listing(self.deps)
        if workers > 1 and len(listed) >= PARALLEL_FROM and self._can_fork():
            return self._run_parallel(listed, workers, keep_decisions)
        return run_leased_pass(
            self.deps,
            self.chase_graph,
            leases.worker_id("run-"),
            self.deps.settings.lease_seconds,
            keep_decisions=keep_decisions,
            listed=listed,
            spread=False,
        )

    def prune_checkpoints(self) -> int:
        """Drop the chase threads nobody needs: all but those waiting for an approval and
        those a worker holds right now. Returns how many were dropped."""
        with self.deps.engine.connect() as conn:
            waiting = conn.execute(
                sa.select(ApprovalRow.account_id).where(ApprovalRow.status == "pending")
            ).scalars()
            busy = conn.execute(
                sa.select(Account.id).where(Account.lease_until >= leases.wall_now())  # type: ignore[operator]
            ).scalars()
            keep = {thread_id(account) for account in [*waiting, *busy]}
        return prune(self.chase_graph.checkpointer, keep)

    def _can_fork(self) -> bool:
        # worker processes rebuild their own connections from the settings; a transport
        # handed in by a caller, or threads running here, rule a fork out
        return self.transport_from_settings and threading.active_count() == 1

    def _run_parallel(
        self, listed: list[tuple[str, datetime]], workers: int, keep: bool
    ) -> PassSummary:
        deps = self.deps
        drafting.warm_up()
        verify.warm_up()
        # small chunks from a shared queue keep every worker busy until the pass ends
        chunks = [listed[start : start + CHUNK] for start in range(0, len(listed), CHUNK)]
        with self._pool(workers) as pool:
            parts = list(pool.map(_worker_chunk, chunks, [keep] * len(chunks)))
        total = PassSummary(as_of=parts[0].as_of, dry_run=deps.dry_run, workers=workers)
        for part in parts:
            total.merge(part)
        return total

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        deps = self.deps
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(deps.settings, deps.clock, deps.dry_run),
        )


CHUNK = 25
"""Accounts a worker takes from the queue at a time."""
_worker: Runtime | None = None


def _start_worker(settings: Settings, clock: Clock, dry_run: bool) -> None:
    """In a worker process: its own database connections, checkpointer and transport."""
    global _worker
    stack = ExitStack()
    _worker = stack.enter_context(open_runtime(settings, clock=clock, dry_run=dry_run))
    Finalize(None, stack.close, exitpriority=10)


def _worker_replies(pending: list[Pending]) -> list[ReplyOutcome]:
    assert _worker is not None, "the worker was not started"
    return process_pending(_worker.deps, _worker.reply_graph, pending)


def _worker_chunk(listed: list[tuple[str, datetime]], keep: bool) -> PassSummary:
    assert _worker is not None, "the worker was not started"
    deps = _worker.deps
    return run_leased_pass(
        deps,
        _worker.chase_graph,
        leases.worker_id("run-"),
        deps.settings.lease_seconds,
        keep_decisions=keep,
        listed=listed,
        spread=False,
    )


@contextmanager
def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dry_run: bool = False,
    transport: Transport | None = None,
    engine: Engine | None = None,
) -> Iterator[Runtime]:
    engine = engine or open_engine(settings)
    llm = open_llm(settings)
    with open_checkpointer(settings, in_memory=dry_run) as saver:
        deps = Deps(
            engine=engine,
            clock=clock or SystemClock(),
            settings=settings,
            transport=transport or transport_from_settings(settings),
            dry_run=dry_run,
            engine_name="llm" if llm is not None else settings.engine,
            llm=llm,
            approvals=ApprovalRules.from_settings(settings),
        )
        yield Runtime(
            deps=deps,
            chase_graph=build_chase_graph(saver),
            transport_from_settings=transport is None,
        )
