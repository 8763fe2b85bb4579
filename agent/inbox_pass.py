"""Reading the inbox: every new email is stored once, then goes through the reply graph.

Each email is stored (deduplicated by Message-ID, raw source kept) before the graph
runs, and the inbox's cursor advances only after a whole batch is stored and
processed. A crash in between re-delivers the batch; the Message-ID dedupe makes
the second delivery a no-op, and an email stored but never processed (status
``received``) is processed then. One bad email is quarantined; it never stops the
rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from agent.deps import Deps
from tools.inbox import Inbox, InboxMessage
from tools.reply_ledger import store_inbound, synthetic_message_id, update_inbound
from tools.tables import InboundMessage

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


def process_raw(deps: Deps, graph: Any, raw: bytes, source_ref: str) -> ReplyOutcome | None:
    """Store and process one email; ``None`` when it was already processed before."""
    message_id = message_id_of(raw)
    with deps.engine.begin() as conn:
        stored = store_inbound(
            conn,
            message_id=message_id,
            source_ref=source_ref,
            raw=raw,
            received_at=deps.clock.now(),
        )
    if stored.status != "received":
        return None
    try:
        graph.invoke({"inbound_id": stored.id, "raw": raw, "source_ref": source_ref}, context=deps)
    except Exception as exc:  # one email's failure never stops the rest
        log.exception("email %s (%s) failed", message_id, source_ref)
        with deps.engine.begin() as conn:
            update_inbound(
                conn,
                stored.id,
                status="quarantined",
                action="quarantine",
                error=f"{type(exc).__name__}: {exc}",
                reason=f"processing failed: {type(exc).__name__}: {exc}",
            )
    with deps.engine.connect() as conn:
        row = conn.execute(
            InboundMessage.__table__.select().where(  # type: ignore[attr-defined]
                InboundMessage.id == stored.id
            )
        ).first()
    assert row is not None
    return ReplyOutcome(
        message_id=message_id,
        account=row.account_id,
        intent=row.intent,
        action=row.action,
        reason=row.reason,
        status=row.status,
    )


def process_batch(
    deps: Deps,
    graph: Any,
    messages: Iterable[InboxMessage],
    on_outcome: Callable[[ReplyOutcome], None] | None = None,
) -> list[ReplyOutcome]:
    outcomes = []
    for message in messages:
        outcome = process_raw(deps, graph, message.raw, message.ref)
        if outcome is not None:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return outcomes


def poll_once(
    deps: Deps,
    graph: Any,
    inbox: Inbox,
    on_outcome: Callable[[ReplyOutcome], None] | None = None,
) -> list[ReplyOutcome]:
    """Everything new in the inbox, processed; the cursor advances batch by batch."""
    outcomes: list[ReplyOutcome] = []
    for batch in inbox.poll():
        outcomes += process_batch(deps, graph, batch, on_outcome)
        inbox.done(batch)
    return outcomes
