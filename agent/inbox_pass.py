"""Reading the inbox: every new email is stored once, then goes through the reply graph.

Each email is stored (deduplicated by Message-ID, raw source kept) before the graph
runs, and the inbox's cursor advances only after a whole batch is stored and
processed. A crash in between re-delivers the batch; the Message-ID dedupe makes
the second delivery a no-op, and an email stored but never processed (status
``received``) is processed then. One bad email is quarantined; it never stops the
rest.

A batch is stored in one transaction, then processed: in this process, or shared
by forked worker processes (``agent.runtime``), one sender's emails always on the
same worker and in their order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from agent.deps import Deps
from tools.inbox import Inbox
from tools.reply_ledger import store_inbound, synthetic_message_id, update_inbound

log = logging.getLogger(__name__)

_HEADERS = BytesHeaderParser(policy=compat32)


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What happened to one email: the line ``dunning inbox --json`` prints."""

    message_id: str
    account: str | None
    intent: str | None
    action: str | None
    reason: str | None
    status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "account": self.account,
            "intent": self.intent,
            "action": self.action,
            "reason": self.reason,
            "status": self.status,
        }


def message_id_of(raw: bytes) -> str:
    """The email's Message-ID for the dedupe, or a hash of its bytes when it has none."""
    try:
        value = _HEADERS.parsebytes(raw[:65536]).get("Message-ID")
    except Exception:  # noqa: BLE001  (junk headers: the parse step reports them)
        value = None
    text = str(value or "").strip()
    if text.startswith("<") and text.endswith(">") and len(text) <= 900 and "\n" not in text:
        return text
    return synthetic_message_id(raw)


@dataclass(frozen=True, slots=True)
class Pending:
    """An email stored and waiting for the reply graph."""

    inbound_id: int
    message_id: str
    raw: bytes
    source_ref: str

    @property
    def sender_key(self) -> str:
        """Who sent it (From), so one sender's emails stay in order on one worker."""
        try:
            return str(_HEADERS.parsebytes(self.raw[:16384]).get("From") or "").lower()
        except Exception:  # noqa: BLE001
            return ""


def store(deps: Deps, messages: Iterable[tuple[bytes, str]]) -> list[Pending]:
    """Store each email once, in one transaction; returns those still to be processed
    (new, or stored before but never processed)."""
    pending = []
    with deps.engine.begin() as conn:
        for raw, source_ref in messages:
            message_id = message_id_of(raw)
            stored = store_inbound(
                conn,
                message_id=message_id,
                source_ref=source_ref,
                raw=raw,
                received_at=deps.clock.now(),
            )
            if stored.status == "received":
                pending.append(Pending(stored.id, message_id, raw, source_ref))
    return pending


def process(deps: Deps, graph: Any, item: Pending) -> ReplyOutcome:
    """One stored email through the reply graph; a failure quarantines it."""
    try:
        state = graph.invoke(
            {"inbound_id": item.inbound_id, "raw": item.raw, "source_ref": item.source_ref},
            context=deps,
        )
        done = state.get("outcome") or {}
    except Exception as exc:  # one email's failure never stops the rest
        log.exception("email %s (%s) failed", item.message_id, item.source_ref)
        why = f"{type(exc).__name__}: {exc}"
        done = {
            "status": "quarantined",
            "action": "quarantine",
            "reason": f"processing failed: {why}",
        }
        with deps.engine.begin() as conn:
            update_inbound(conn, item.inbound_id, error=why, **done)
    return ReplyOutcome(
        message_id=item.message_id,
        account=done.get("account_id"),
        intent=done.get("intent"),
        action=done.get("action"),
        reason=done.get("reason"),
        status=done.get("status") or "received",
    )


def process_raw(deps: Deps, graph: Any, raw: bytes, source_ref: str) -> ReplyOutcome | None:
    """Store and process one email; ``None`` when it was already processed before."""
    pending = store(deps, [(raw, source_ref)])
    return process(deps, graph, pending[0]) if pending else None


def process_pending(
    deps: Deps,
    graph: Any,
    pending: Iterable[Pending],
    on_outcome: Callable[[ReplyOutcome], None] | None = None,
) -> list[ReplyOutcome]:
    outcomes = []
    for item in pending:
        outcome = process(deps, graph, item)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def poll_once(
    deps: Deps,
    inbox: Inbox,
    run: Callable[[list[Pending]], list[ReplyOutcome]],
) -> list[ReplyOutcome]:
    """Everything new in the inbox: each batch stored, then processed by ``run``, then
    the inbox's cursor advanced past it."""
    outcomes: list[ReplyOutcome] = []
    for batch in inbox.poll():
        pending = store(deps, [(message.raw, message.ref) for message in batch])
        outcomes += run(pending)
        inbox.done(batch)
    return outcomes
