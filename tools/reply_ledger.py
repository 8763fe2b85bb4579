"""Ledger writes for incoming email: storing each message once with its raw source,
and recording what a reply decision does (promises, holds, disputes, escalations,
undeliverable and opted-out addresses, the decision log).

A recorded reply sets the account's ``next_review_at`` to now, so the next chase
pass decides again with the reply in view: a promise made today holds the account
before tomorrow's reminder is even considered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agent.clock import to_utc
from agent.reply_policy import ReplyDecision
from tools.human_ledger import supersede_approvals
from tools.tables import (
    Account,
    Contact,
    DecisionRow,
    DisputeRow,
    EscalationRow,
    HoldRow,
    InboundMessage,
    InboxCursor,
    PromiseRow,
)


def synthetic_message_id(raw: bytes) -> str:
    """The dedupe key of an email that has no Message-ID: a hash of its bytes."""
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@inbound.invalid>"


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    new: bool
    status: str


_FIND_INBOUND = sa.select(InboundMessage.id, InboundMessage.status).where(
    InboundMessage.message_id == sa.bindparam("mid")
)
_INSERT_INBOUND = sa.insert(InboundMessage)
_UPDATE_INBOUND = sa.update(InboundMessage).where(InboundMessage.id == sa.bindparam("_iid"))
# statements built once: storing and recording an email is the hot path of an inbox poll


def store_inbound(
    conn: Connection, *, message_id: str, source_ref: str, raw: bytes, received_at: datetime
) -> Stored:
    """Store an email once: a second copy (same Message-ID) is not stored again."""
    existing = conn.execute(_FIND_INBOUND, {"mid": message_id}).first()
    if existing is not None:
        return Stored(existing.id, False, existing.status)
    result = conn.execute(
        _INSERT_INBOUND,
        {
            "message_id": message_id,
            "source_ref": source_ref,
            "received_at": to_utc(received_at),
            "raw": raw,
            "size": len(raw),
            "status": "received",
            "invoices": [],
            "attachments": [],
        },
    )
    return Stored(int(result.inserted_primary_key[0]), True, "received")


def update_inbound(conn: Connection, inbound_id: int, **values: Any) -> None:
    conn.execute(_UPDATE_INBOUND, {"_iid": inbound_id, **values})


_REVIEW_NOW = (
    sa.update(Account)
    .where(Account.id == sa.bindparam("a"))
    .values(next_review_at=sa.bindparam("at"), updated_at=sa.bindparam("at"))
)


def _mark_contact(conn: Connection, account_id: str, address: str, **values: bool) -> int:
    """Set ``values`` on the account's contact with this address; how many rows changed."""
    return conn.execute(
        sa.update(Contact)
        .where(Contact.account_id == account_id, sa.func.lower(Contact.email) == address.lower())
        .values(**values)
    ).rowcount


def record_reply(
    conn: Connection,
    *,
    account_id: str,
    decision: ReplyDecision,
    at: datetime,
    today: date,
    inbound_id: int,
    source: str,
    policy_version: str,
    engine: str,
    message_key: str | None = None,
    usage: dict[str, Any] | None = None,
) -> list[str]:
    """Write what ``decision`` does; returns notes on what changed (for the reason)."""
    when = to_utc(at)
    notes: list[str] = []
    if decision.promise is not None:
        p = decision.promise
        conn.execute(
            sa.insert(PromiseRow),
            {
                "account_id": account_id,
                "made_on": p.made_on,
                "promise_date": p.promise_date,
                "amount": p.amount,
                "invoices": list(p.invoices),
                "status": "open",
                "source": source,
            },
        )
    if decision.hold is not None:
        h = decision.hold
        conn.execute(
            sa.insert(HoldRow),
            {
                "account_id": account_id,
                "kind": h.kind,
                "made_on": h.made_on,
                "until": h.until,
                "source": source,
            },
        )
    if decision.dispute is not None:
        d = decision.dispute
        conn.execute(
            sa.insert(DisputeRow),
            {
                "account_id": account_id,
                "opened_on": d.opened_on,
                "invoices": list(d.invoices),
                "reason": d.reason,
            },
        )
    bounced = decision.undeliverable
    if bounced and _mark_contact(conn, account_id, bounced, undeliverable=True):
        notes.append(f"{bounced} marked undeliverable")
    if decision.intent == "unsubscribe":
        changed = 0
        if decision.opt_out:
            changed = _mark_contact(conn, account_id, decision.opt_out, opted_out=True)
        if changed:
            notes.append(f"{decision.opt_out} opted out")
        else:  # the sender is not one of the account's contacts: stop all automated mail
            conn.execute(sa.update(Account).where(Account.id == account_id).values(opted_out=True))
            notes.append("the account is opted out of automated mail")
    if decision.escalates:
        conn.execute(
            sa.insert(EscalationRow),
            {
                "account_id": account_id,
                "opened_on": today,
                "opened_at": when,
                "reason": decision.reason,
                "invoices": list(decision.invoices),
            },
        )
    if supersede_approvals(conn, account_id, f"superseded by the customer's reply {source}", at):
        notes.append("the draft waiting for approval was dropped")
    reason = decision.reason + ("; " + "; ".join(notes) if notes else "")
    conn.execute(
        sa.insert(DecisionRow),
        {
            "at": when,
            "account_id": account_id,
            "invoices": list(decision.invoices),
            "action": decision.action,
            "reason": reason,
            "policy_version": policy_version,
            "engine": engine,
            "next_review_at": when,
            "message_key": message_key,
            "dry_run": False,
            "kind": "reply",
            "inbound_id": inbound_id,
            "intent": decision.intent,
            **(usage or {}),
        },
    )
    conn.execute(_REVIEW_NOW, {"a": account_id, "at": when})
    return notes


class DbCursorStore:
    """The IMAP cursors kept in the ledger (``inbox_cursors``): they survive restarts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, key: str) -> tuple[int, int] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(InboxCursor.uidvalidity, InboxCursor.last_uid).where(
                    InboxCursor.key == key
                )
            ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def save(self, key: str, uidvalidity: int, last_uid: int) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(InboxCursor)
                .where(InboxCursor.key == key)
                .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(
                    sa.insert(InboxCursor),
                    {
                        "key": key,
                        "uidvalidity": uidvalidity,
                        "last_uid": last_uid,
                        "updated_at": now,
                    },
                )
