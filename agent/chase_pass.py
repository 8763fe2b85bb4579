"""One chase pass: every account due for a look goes through the chase graph once.

Only accounts whose ``next_review_at`` has come are read (an indexed query), so a
pass over a large ledger where little is due is near instant. One account's
failure is logged and retried later; it never stops the pass.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from agent.chase_graph import thread_id
from agent.clock import to_utc
from agent.deps import Deps
from tools import leases
from tools.tables import Account

log = logging.getLogger(__name__)

LATEST_ZONE = ZoneInfo("Etc/GMT+12")
"""UTC-12: the last zone to finish a day, so the widest net for "due on that day"."""
ERROR_RETRY = timedelta(hours=1)
PREFETCH = 25
"""Accounts whose snapshots are read together, just before they are decided."""


@dataclass
class PassSummary:
    as_of: str
    dry_run: bool
    workers: int = 1
    accounts_looked_at: int = 0
    sent: int = 0
    waited: int = 0
    held: int = 0
    escalated: int = 0
    deferred: int = 0
    awaiting_approval: int = 0
    """Drafts stored for a person (their threads are interrupted); not counted as sent."""
    errors: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: PassSummary) -> None:
        """Add a worker's part of the pass to this one."""
        names = ("accounts_looked_at", *TALLY.values(), "deferred", "awaiting_approval", "errors")
        for name in names:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.decisions.extend(other.decisions)

    def counts(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("decisions")
        return data


TALLY = {"send": "sent", "wait": "waited", "hold": "held", "escalate": "escalated"}


def due_accounts(deps: Deps) -> list[str]:
    """Accounts whose next look has come in their own time zone."""
    return [account_id for account_id, _review in due_listing(deps)]


def due_listing(deps: Deps) -> list[tuple[str, datetime]]:
    """``due_accounts`` with the ``next_review_at`` each was listed with."""
    horizon = to_utc(deps.clock.due_by(LATEST_ZONE))
    with deps.session() as session:
        rows = session.exec(
            select(Account.id, Account.timezone, Account.next_review_at)
            .where(col(Account.next_review_at).is_not(None))
            .where(col(Account.next_review_at) <= horizon)
            .order_by(col(Account.next_review_at), col(Account.id))
        ).all()
    due = []
    zones: dict[str, ZoneInfo] = {}
    for account_id, tz, review in rows:
        zone = zones.setdefault(tz, ZoneInfo(tz))
        if review <= deps.clock.due_by(zone):
            due.append((account_id, review))
    return due


Stop = Callable[[], bool]
"""Asked between accounts: True when the pass must end now (the daemon was told to stop)."""


def run_pass(
    deps: Deps,
    graph: Any,
    account_ids: list[str],
    keep_decisions: bool = True,
    stop: Stop | None = None,
) -> PassSummary:
    """Each of ``account_ids`` (see ``due_accounts``) through the chase graph: in turn, or,
    with the LLM engine, up to ``llm_concurrency`` accounts at once (the time goes into
    waiting for the model). ``stop``: asked between accounts (between chunks with the
    LLM engine); the account in hand is always finished."""
    summary = PassSummary(as_of=deps.clock.now(UTC).isoformat(), dry_run=deps.dry_run)
    threads = deps.settings.llm_concurrency if deps.llm is not None else 1
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    # with threads, a chunk is a whole number of rounds of model calls, so no thread idles
    size = PREFETCH if pool is None else threads * 4
    try:
        for start in range(0, len(account_ids), size):
            if stop is not None and stop():
                break
            chunk = account_ids[start : start + size]
            deps.prefetch(chunk)
            if pool is None:
                finals = []
                for account_id in chunk:
                    if stop is not None and stop():
                        chunk = chunk[: len(finals)]
                        break
                    finals.append(_chase_one(deps, graph, account_id))
            else:
                finals = list(pool.map(lambda a: _chase_one(deps, graph, a), chunk))
            for account_id, final in zip(chunk, finals, strict=True):
                _tally(summary, account_id, final, keep_decisions)
    finally:
        if pool is not None:
            pool.shutdown()
    return summary


def run_leased_pass(
    deps: Deps,
    graph: Any,
    worker: str,
    lease_seconds: float,
    stop: Stop | None = None,
    keep_decisions: bool = False,
    listed: list[tuple[str, datetime]] | None = None,
    spread: bool = True,
) -> PassSummary:
    """A pass that shares the due accounts with other workers on the same database:
    each chunk is claimed (``tools.leases``) before it is decided and released after, so
    no account is decided by two workers at once. A dry run writes nothing, leases
    included. ``listed``: the accounts to look at (default: ``due_listing``); ``spread``:
    start at a chunk chosen by the worker's name (daemons), else in order."""
    listed = due_listing(deps) if listed is None else listed
    if deps.dry_run:
        return run_pass(deps, graph, [a for a, _ in listed], keep_decisions, stop)
    summary = PassSummary(as_of=deps.clock.now(UTC).isoformat(), dry_run=deps.dry_run)
    size = PREFETCH if deps.llm is None else deps.settings.llm_concurrency * 4
    chunks = [listed[start : start + size] for start in range(0, len(listed), size)]
    if chunks and spread:  # workers start at different chunks, so they rarely meet
        offset = zlib.crc32(worker.encode()) % len(chunks)
        chunks = chunks[offset:] + chunks[:offset]
    for chunk in chunks:
        if stop is not None and stop():
            break
        mine = leases.claim(deps.engine, worker, chunk, lease_seconds)
        if not mine:
            continue
        try:
            summary.merge(run_pass(deps, graph, mine, keep_decisions, stop))
        finally:
            leases.release(deps.engine, worker, mine)
    return summary


def _chase_one(deps: Deps, graph: Any, account_id: str) -> dict[str, Any] | None:
    """One account through the graph; ``None`` when it failed (retried later)."""
    try:
        return graph.invoke(
            {"account_id": account_id},
            config={"configurable": {"thread_id": thread_id(account_id)}},
            context=deps,
            durability="exit",
        )
    except Exception:
        log.exception("chase of account %s failed; it is retried later", account_id)
        deps.forget(account_id)
        _retry_later(deps, account_id)
        return None


def _tally(summary: PassSummary, account_id: str, final: dict[str, Any] | None, keep: bool) -> None:
    summary.accounts_looked_at += 1
    if final is None:
        summary.errors += 1
        return
    decision = final.get("decision") or {}
    action = decision.get("action", "wait")
    waiting = bool(final.get("__interrupt__"))
    if waiting:  # a draft waits for a person: it is not sent (yet)
        summary.awaiting_approval += 1
        action = "hold"
    setattr(summary, TALLY[action], getattr(summary, TALLY[action]) + 1)
    if decision.get("deferred"):
        summary.deferred += 1
    if keep:
        draft = final.get("draft") or {}
        summary.decisions.append(
            {
                "account": account_id,
                **{k: decision.get(k) for k in ("action", "stage", "tone", "invoices")},
                "reason": decision.get("reason"),
                "subject": draft.get("subject") if decision.get("action") == "send" else None,
                "delivery": "awaiting_approval"
                if waiting
                else (final.get("outcome") or {}).get("delivery"),
                "deferred": bool(decision.get("deferred")),
            }
        )


def _retry_later(deps: Deps, account_id: str) -> None:
    if deps.dry_run:
        return
    with deps.session() as session:
        account = session.get(Account, account_id)
        if account is not None:
            account.next_review_at = to_utc(deps.clock.now(UTC) + ERROR_RETRY)
            session.add(account)
