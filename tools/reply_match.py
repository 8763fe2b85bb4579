"""Which account (and which invoices) an incoming email is about.

Strongest evidence first: ``In-Reply-To``/``References`` against the Message-IDs the
agent sent (for a bounce: the original Message-ID in the report); the signed token
in the Reply-To plus address; invoice numbers in the subject or body; the sender's
exact address; the sender's domain (never a freemail domain). The first rule that
points at exactly one account wins. Evidence that points at several accounts, or
at none, leaves the email unmatched: it goes to a person's queue, not to a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tools.reply_token import key_prefix_from
from tools.tables import Contact, Invoice, Message

if TYPE_CHECKING:
    from tools.inbound_parse import ParsedEmail

FREEMAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.de yahoo.fr ymail.com rocketmail.com
    hotmail.com hotmail.co.uk hotmail.de hotmail.fr outlook.com outlook.de live.com live.de
    msn.com aol.com aol.de icloud.com me.com mac.com gmx.de gmx.net gmx.com gmx.at gmx.ch
    web.de t-online.de freenet.de arcor.de mail.com email.com proton.me protonmail.com
    pm.me tutanota.com tuta.io yandex.com yandex.ru mail.ru zoho.com fastmail.com posteo.de
    mailbox.org qq.com 163.com 126.com naver.com orange.fr free.fr laposte.net bluewin.ch
    """.split()  # noqa: SIM905  (a word list reads better than 53 quoted strings)
)

_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|wg|fwd?|fw|sv|vs|tr|rv|antw|r|odp|ynt)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_CANDIDATE = re.compile(r"(?<![\w/#-])#?([A-Za-z0-9][A-Za-z0-9_./-]{0,38}[A-Za-z0-9])(?![\w-])")
MAX_CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class Match:
    account_id: str | None
    matched_by: str | None
    """``in_reply_to``, ``bounce_original``, ``token``, ``invoice_number``, ``address``,
    ``bounce_address``, ``domain``; ``None`` when unmatched."""
    invoices: tuple[str, ...] = ()
    """The invoices the evidence names: those of the message replied to, or the numbers
    found in the email."""
    message_key: str | None = None
    """The outbox key of the agent's message this replies to, when known."""
    reason: str = ""


def strip_reply_prefixes(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject or "").strip()


def invoice_candidates(*texts: str) -> list[str]:
    """Words that could be invoice numbers: letters, digits and ``-_./``, with a digit."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _CANDIDATE.finditer(text or ""):
            word = match.group(1)
            if any(ch.isdigit() for ch in word) and len(word) >= 3:
                found[word] = None
                found[word.upper()] = None
            if len(found) >= MAX_CANDIDATES:
                return list(found)
    return list(found)


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2].lower()


_SENT_BY_IDS = (
    sa.select(Message.account_id, Message.invoices, Message.key)
    .where(Message.message_id.in_(sa.bindparam("ids", expanding=True)))  # type: ignore[attr-defined]
    .order_by(Message.created_at.desc())  # type: ignore[attr-defined]
    .limit(1)
)
_SENT_BY_KEY_PREFIX = (
    sa.select(Message.account_id, Message.invoices, Message.key)
    .where(Message.key.like(sa.bindparam("prefix")))  # type: ignore[attr-defined]
    .limit(1)
)
_INVOICE_ACCOUNTS = sa.select(Invoice.number, Invoice.account_id).where(
    Invoice.number.in_(sa.bindparam("numbers", expanding=True))  # type: ignore[attr-defined]
)
_ADDRESS_ACCOUNTS = (
    sa.select(Contact.account_id)
    .where(sa.func.lower(Contact.email) == sa.bindparam("address"))
    .distinct()
)
_DOMAIN_ACCOUNTS = (
    sa.select(Contact.account_id)
    .where(sa.func.lower(Contact.email).like(sa.bindparam("pattern")))
    .distinct()
    .limit(3)
)
# statements built once: matching runs for every email an inbox poll reads


def _sent_by_ids(conn: Connection, ids: Sequence[str]) -> tuple[str, tuple[str, ...], str] | None:
    if not ids:
        return None
    row = conn.execute(_SENT_BY_IDS, {"ids": list(ids)}).first()
    return None if row is None else (row.account_id, tuple(row.invoices), row.key)


def _accounts_of_invoices(conn: Connection, candidates: list[str]) -> dict[str, list[str]]:
    if not candidates:
        return {}
    accounts: dict[str, list[str]] = {}
    for number, account in conn.execute(_INVOICE_ACCOUNTS, {"numbers": candidates}).all():
        accounts.setdefault(account, []).append(number)
    return accounts


def _accounts_of_address(conn: Connection, address: str) -> list[str]:
    rows = conn.execute(_ADDRESS_ACCOUNTS, {"address": address.lower()}).all()
    return [row[0] for row in rows]


def _accounts_of_domain(conn: Connection, domain: str) -> list[str]:
    return [row[0] for row in conn.execute(_DOMAIN_ACCOUNTS, {"pattern": f"%@{domain}"}).all()]


def _one(accounts: Iterable[str]) -> str | None:
    unique = set(accounts)
    return unique.pop() if len(unique) == 1 else None


def match_email(conn: Connection, email: ParsedEmail, secret: str) -> Match:
    """The account ``email`` is about, by the strongest evidence that names one account."""
    bounce = email.bounce
    if bounce is not None and bounce.original_message_id:
        sent = _sent_by_ids(conn, [bounce.original_message_id])
        if sent:
            return Match(sent[0], "bounce_original", sent[1], sent[2], "bounced message")

    thread = [*email.in_reply_to, *reversed(email.references)]
    sent = _sent_by_ids(conn, thread)
    if sent:
        return Match(sent[0], "in_reply_to", sent[1], sent[2], "a reply to our message")

    prefix = key_prefix_from(email.recipients, secret)
    if prefix:
        row = conn.execute(_SENT_BY_KEY_PREFIX, {"prefix": prefix + "%"}).first()
        if row is not None:
            return Match(row.account_id, "token", tuple(row.invoices), row.key, "reply token")

    subject = strip_reply_prefixes(email.subject)
    by_invoice = _accounts_of_invoices(conn, invoice_candidates(subject, email.new_text))
    if not by_invoice:
        by_invoice = _accounts_of_invoices(conn, invoice_candidates(email.text))
    if len(by_invoice) == 1:
        account, numbers = next(iter(by_invoice.items()))
        return Match(account, "invoice_number", tuple(sorted(set(numbers))), None, "invoice number")
    if len(by_invoice) > 1:
        return Match(
            None,
            None,
            reason="the invoice numbers in it belong to several accounts: "
            + ", ".join(sorted(by_invoice)),
        )

    if bounce is not None and bounce.failed_address:
        account = _one(_accounts_of_address(conn, bounce.failed_address))
        if account:
            return Match(account, "bounce_address", reason="the address that bounced")

    sender = email.from_addr
    if sender and bounce is None:
        accounts = _accounts_of_address(conn, sender)
        if len(accounts) == 1:
            return Match(accounts[0], "address", reason=f"sender {sender}")
        if len(accounts) > 1:
            return Match(None, None, reason=f"sender {sender} is a contact of several accounts")
        domain = _domain(sender)
        if domain and domain not in FREEMAIL_DOMAINS:
            accounts = _accounts_of_domain(conn, domain)
            if len(accounts) == 1:
                return Match(accounts[0], "domain", reason=f"sender's domain {domain}")
            if len(accounts) > 1:
                return Match(None, None, reason=f"domain {domain} belongs to several accounts")
    return Match(None, None, reason="nothing in it points at a known account")
