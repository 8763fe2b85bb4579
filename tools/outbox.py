"""The outbox: every chase message as a row with a fixed key, a fixed Message-ID and
a state (``queued`` -> ``sending`` -> ``sent`` | ``failed``; ``cancelled`` when a
newer message for the account replaces one never sent).

The key is fixed by (account, stage, invoices, local day), so running the same day
twice finds the row and sends nothing twice. A row left in ``sending`` (a crash
mid-send) is never re-sent blindly: ``deliver`` reports it for a person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from typing import Literal

from sqlmodel import Session, col, select

from agent.clock import to_utc
from tools.tables import Message
from tools.transports import PermanentSendError, TransientSendError, Transport

Outcome = Literal["sent", "already_sent", "in_doubt", "failed", "retry_later"]


def message_key(account_id: str, stage: str, invoices: tuple[str, ...], day: date) -> str:
    raw = "\x1f".join([account_id, stage, ",".join(sorted(invoices)), day.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str


def find(session: Session, key: str) -> Message | None:
    return session.exec(select(Message).where(Message.key == key)).first()


def enqueue(session: Session, message: Message) -> Message:
    """Add ``message`` unless its key is already there; cancels older unsent rows."""
    existing = find(session, message.key)
    if existing is not None:
        return existing
    stale = session.exec(
        select(Message).where(
            Message.account_id == message.account_id,
            col(Message.state) == "queued",
            Message.key != message.key,
        )
    ).all()
    for row in stale:
        row.state = "cancelled"
        row.error = f"replaced by {message.key}"
        session.add(row)
    session.add(message)
    session.commit()
    return message


def deliver(
    session: Session, message: Message, email: EmailMessage, transport: Transport, now: datetime
) -> Delivery:
    """Send one outbox row exactly once as far as the transport allows."""
    if message.state == "sent":
        return Delivery("already_sent", f"already sent at {message.sent_at}")
    if message.state == "sending":
        return Delivery(
            "in_doubt",
            f"message {message.message_id} was being sent when a run stopped; "
            "not re-sent without a person checking",
        )
    if message.state in ("failed", "cancelled"):
        return Delivery("failed", f"message {message.message_id} is {message.state}")
    message.state = "sending"
    message.attempts += 1
    session.add(message)
    session.commit()
    try:
        receipt = transport.send(email)
    except PermanentSendError as exc:
        message.state = "failed"
        message.error = str(exc)
        session.add(message)
        session.commit()
        return Delivery("failed", f"the mail server refused the message: {exc}")
    except TransientSendError as exc:
        message.state = "queued"
        message.error = str(exc)
        session.add(message)
        session.commit()
        return Delivery("retry_later", f"the mail server is unavailable: {exc}")
    message.state = "sent"
    message.sent_at = to_utc(now)
    message.error = None
    session.add(message)
    session.commit()
    return Delivery("sent", receipt)
