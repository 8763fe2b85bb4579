"""Composing the agent's outgoing emails.

Every reminder is a plain-text UTF-8 message (quoted-printable, so umlauts and "€" survive
any relay) with a deterministic ``Message-ID`` built from a key the caller chooses: the
same reminder composed twice gets the same ID, which lets the Maildir transport and the
recipients' mail clients recognise a repeat, and lets replies be matched to the reminder.

The messages set ``X-Auto-Response-Suppress: DR, RN, NRN`` (no delivery or read receipts)
and deliberately no ``Auto-Submitted`` header: compliant responders would then stay silent,
and the agent wants the customers' out-of-office notices.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

__all__ = ["compose", "make_message_id"]

# RFC 5322 ``atext``: what may appear in the dot-atom of a msg-id without quoting.
_ATEXT = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&'*+-/=?^_`{|}~"
)
_DOMAIN_FORBIDDEN = frozenset(' \t\r\n<>@()[],;:\\"')

# Headers compose() sets itself; passing them in ``headers`` is a mistake.
_OWN_HEADERS = frozenset(
    h.lower()
    for h in (
        "Message-ID",
        "From",
        "Reply-To",
        "To",
        "Subject",
        "Date",
        "X-Auto-Response-Suppress",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)


def make_message_id(key: str, domain: str) -> str:
    """``<dunning.{key}@{domain}>``, the same for the same arguments.

    Characters a msg-id may not contain (``:``, ``@``, spaces, ...) and ``%`` itself are
    written as ``%XX`` (UTF-8 bytes), as are dots that would leave an empty atom, so two
    different keys never give the same ID and a key of letters, digits, ``-``, ``_`` and
    single dots appears unchanged. Never calls ``socket.getfqdn()`` (unlike
    ``email.utils.make_msgid``).
    """
    if not key:
        raise ValueError("message-id key must not be empty")
    if not domain or any(ch in _DOMAIN_FORBIDDEN for ch in domain) or not domain.isascii():
        raise ValueError(f"unusable message-id domain {domain!r}")
    parts: list[str] = []
    last = len(key) - 1
    for i, ch in enumerate(key):
        if ch == ".":
            bad_dot = i == 0 or i == last or key[i - 1] == "." or key[i + 1] == "."
            parts.append("%2E" if bad_dot else ".")
        elif ch in _ATEXT:
            parts.append(ch)
        else:
            parts.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
    return f"<dunning.{''.join(parts)}@{domain}>"


def compose(
    *,
    message_id: str,
    from_addr: str,
    from_name: str | None,
    reply_to: str | None,
    to: list[str],
    subject: str,
    body: str,
    date: datetime,
    headers: Mapping[str, str] | None = None,
    attachments: Iterable[Path] = (),
) -> EmailMessage:
    """One outgoing email: a UTF-8 plain-text body plus optional file attachments.

    ``to`` holds addresses (``"a@example.com"`` or ``"Name <a@example.com>"``); ``date``
    must be timezone-aware. ``headers`` are added as given (e.g. ``Cc``, ``In-Reply-To``,
    ``References``, ``List-Unsubscribe``); they may not repeat a header compose() sets
    itself, nor add ``Auto-Submitted``. Attachments get a MIME type guessed from the file
    name (``application/octet-stream`` when unknown).
    """
    if not to:
        raise ValueError("an email needs at least one To address")
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date of an email must be timezone-aware")
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError(f"malformed Message-ID {message_id!r}")

    msg = EmailMessage()
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(date)
    msg["From"] = Address(display_name=from_name or "", addr_spec=from_addr)
    msg["To"] = ", ".join(to)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["X-Auto-Response-Suppress"] = "DR, RN, NRN"
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered in _OWN_HEADERS:
            raise ValueError(f"header {name} is set by compose() itself")
        if lowered == "auto-submitted":
            raise ValueError("Auto-Submitted would suppress the out-of-office replies we want")
        msg[name] = value

    msg.set_content(body, charset="utf-8", cte="quoted-printable")

    for path in attachments:
        path = Path(path)
        ctype, encoding = mimetypes.guess_type(path.name)
        if ctype is None or encoding is not None:
            ctype = "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return msg
