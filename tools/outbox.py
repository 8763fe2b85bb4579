"""The outbox: every chase message as a row with a fixed key, a fixed Message-ID and
a state (``queued`` -> ``sending`` -> ``sent`` | ``failed``; ``cancelled`` when a
newer message for the account replaces one never sent).

The key is fixed by (account, stage, invoices, local day), so running the same day
twice finds the row and sends nothing twice. A row left in ``sending`` (a crash
mid-send) is never re-sent blindly: the transport is asked whether it left (the Maildir
knows; SMTP with a Sent folder looks there by Message-ID); when it cannot tell,
``send_once`` reports it for a person.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agent.clock import to_utc
from tools.mail import compose, make_message_id
from tools.tables import Account, Message
from tools.transports import (
    InDoubtSendError,
    PermanentSendError,
    TransientSendError,
    Transport,
    was_sent,
)

Outcome = Literal["sent", "already_sent", "in_doubt", "failed", "retry_later", "blocked"]


def message_key(account_id: str, stage: str, invoices: tuple[str, ...], day: date) -> str:
    raw = "\x1f".join([account_id, stage, ",".join(sorted(invoices)), day.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str
    settled: bool = False
    """This call marked the message ``sent`` (and ran ``on_sent`` with it)."""


_COLUMNS = (Message.state, Message.message_id, Message.sent_at)
_BY_KEY = sa.select(*_COLUMNS).where(Message.key == sa.bindparam("k"))
_CANCEL_STALE = (
    sa.update(Message)
    .where(
        Message.account_id == sa.bindparam("a"),
        Message.state == "queued",
        Message.key != sa.bindparam("k"),
    )
    .values(state="cancelled", error=sa.bindparam("why"))
)
_CLAIM = (
    sa.update(Message)
    .where(Message.key == sa.bindparam("k"), Message.state == "queued")
    .values(state="sending", attempts=Message.attempts + 1)
)
_FLAGGED = sa.select(Account.human_flagged, Account.flag_reason).where(
    Account.id == sa.bindparam("a")
)
_CANCEL = (
    sa.update(Message)
    .where(Message.key == sa.bindparam("k"), Message.state == "queued")
    .values(state="cancelled", error=sa.bindparam("why"))
)
_IN_DOUBT = sa.select(Message.key, Message.message_id).where(
    Message.account_id == sa.bindparam("a"),
    Message.state == "sending",
    Message.key != sa.bindparam("k"),
)
_RECLAIM = (
    sa.update(Message)
    .where(Message.key == sa.bindparam("k"), Message.state == "sending")
    .values(attempts=Message.attempts + 1)
)
_SETTLE = (
    sa.update(Message)
    .where(Message.key == sa.bindparam("k"))
    .values(state=sa.bindparam("state"), error=sa.bindparam("error"), sent_at=sa.bindparam("at"))
)


OnSent = Callable[[Connection], None]
"""Called in the transaction that marks a message ``sent``: what the caller must write
with it (the chase logs its send decision there, so a crash never leaves a sent message
without its line in the decision log)."""


def send_once(
    engine: Engine,
    row: dict[str, Any],
    email: EmailMessage,
    transport: Transport,
    now: datetime,
    on_sent: OnSent | None = None,
) -> Delivery:
    """Send the outbox row ``row`` (the columns of ``Message``) exactly once as far as the
    transport allows: the row is claimed (``sending``) and committed before the transport
    is called, and settled (``sent``, ``failed`` or back to ``queued``) after; ``on_sent``
    runs in the settling transaction. Nothing is claimed for an account a person has
    flagged (``blocked``)."""
    key = row["key"]
    with engine.begin() as conn:
        existing = conn.execute(_BY_KEY, {"k": key}).first()
        flag = conn.execute(_FLAGGED, {"a": row["account_id"]}).first()
        unsent = existing is None or existing.state not in ("sent", "sending")
        if flag is not None and flag.human_flagged and unsent:
            why = f"a person flagged the account ({flag.flag_reason}); not sent"
            conn.execute(_CANCEL, {"k": key, "why": why})
            return Delivery("blocked", why)
        if existing is None:
            # an earlier message to the account cut off mid-send (another day's key): a new
            # one goes out only once that one is known not to have left
            for earlier in conn.execute(_IN_DOUBT, {"a": row["account_id"], "k": key}):
                if was_sent(transport, earlier.message_id) != "not_sent":
                    return Delivery(
                        "in_doubt",
                        f"message {earlier.message_id} was being sent when a run stopped and "
                        "may have left; nothing more goes to this account before a person "
                        "checks",
                    )
                conn.execute(
                    _SETTLE,
                    {
                        "k": earlier.key,
                        "state": "cancelled",
                        "error": "never left (checked after a stop)",
                        "at": None,
                    },
                )
            conn.execute(
                _CANCEL_STALE, {"a": row["account_id"], "k": key, "why": f"replaced by {key}"}
            )
            conn.execute(sa.insert(Message), {**row, "state": "sending", "attempts": 1})
        elif existing.state == "sent":
            return Delivery("already_sent", f"already sent at {existing.sent_at}")
        elif existing.state == "sending":
            # a run stopped mid-send: ask where the message would be, never re-send blindly
            seen = was_sent(transport, existing.message_id)
            if seen == "sent":
                conn.execute(_SETTLE, {"k": key, "state": "sent", "error": None, "at": to_utc(now)})
                if on_sent is not None:
                    on_sent(conn)
                return Delivery(
                    "already_sent", f"{existing.message_id} was sent before a run stopped", True
                )
            if seen == "unknown" or conn.execute(_RECLAIM, {"k": key}).rowcount != 1:
                return Delivery(
                    "in_doubt",
                    f"message {existing.message_id} was being sent when a run stopped and "
                    f"{transport.name} cannot tell whether it left; not re-sent without a "
                    "person checking",
                )
        elif existing.state != "queued" or conn.execute(_CLAIM, {"k": key}).rowcount != 1:
            return Delivery("failed", f"message {existing.message_id} is {existing.state}")
    try:
        receipt = transport.send(email)
    except PermanentSendError as exc:
        _settle(engine, key, "failed", str(exc), None)
        return Delivery("failed", f"the mail server refused the message: {exc}")
    except TransientSendError as exc:
        _settle(engine, key, "queued", str(exc), None)
        return Delivery("retry_later", f"the mail server is unavailable: {exc}")
    except InDoubtSendError as exc:  # stays in ``sending``: the next run asks was_sent
        return Delivery("in_doubt", str(exc))
    _settle(engine, key, "sent", None, to_utc(now), on_sent)
    return Delivery("sent", receipt, True)


def _settle(
    engine: Engine,
    key: str,
    state: str,
    error: str | None,
    at: datetime | None,
    on_sent: OnSent | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(_SETTLE, {"k": key, "state": state, "error": error, "at": at})
        if state == "sent" and on_sent is not None:
            on_sent(conn)


@dataclass(frozen=True)
class Outgoing:
    """One message the agent sends: what ``deliver`` needs besides the settings."""

    key: str
    account_id: str
    stage: str
    tone: str
    language: str
    invoices: tuple[str, ...]
    to: list[str]
    subject: str
    body: str
    reply_to: str
    headers: dict[str, str]
    attachments: tuple[Path, ...] = ()


def deliver(
    engine: Engine,
    message: Outgoing,
    *,
    from_addr: str,
    from_name: str,
    sender_domain: str,
    transport: Transport,
    now: datetime,
    created_at: datetime,
    on_sent: OnSent | None = None,
) -> Delivery:
    """Compose ``message`` with its fixed Message-ID and send it once through the outbox
    (the chase's reminders and the automatic answers both go this way)."""
    message_id = make_message_id(message.key, sender_domain)
    email = compose(
        message_id=message_id,
        from_addr=from_addr,
        from_name=from_name,
        reply_to=message.reply_to,
        to=message.to,
        subject=message.subject,
        body=message.body,
        date=now,
        headers={
            "X-Dunning-Account": message.account_id,
            "X-Dunning-Stage": message.stage,
            **message.headers,
        },
        attachments=message.attachments,
    )
    row = {
        "key": message.key,
        "message_id": message_id,
        "account_id": message.account_id,
        "direction": "out",
        "stage": message.stage,
        "tone": message.tone,
        "language": message.language,
        "invoices": list(message.invoices),
        "local_day": now.date(),
        "to_addrs": list(message.to),
        "subject": message.subject,
        "body": message.body,
        "created_at": created_at,
    }
    return send_once(engine, row, email, transport, now, on_sent)
