"""Small helpers that write a ledger for a test: accounts, contacts, invoices, and
sent messages, through the real tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import Session

from agent.clock import to_utc
from tools.outbox import message_key
from tools.tables import Account, Contact, Invoice, Message

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def add_account(
    session: Session,
    account_id: str,
    *,
    name: str | None = None,
    email: str | None = "ap@acme.example",
    timezone: str = "UTC",
    language: str = "en",
    review_at: datetime | None = T0,
    **flags: bool,
) -> Account:
    account = Account(
        id=account_id,
        name=name or f"{account_id} Ltd",
        timezone=timezone,
        language=language,
        next_review_at=None if review_at is None else to_utc(review_at),
        created_at=to_utc(T0),
        updated_at=to_utc(T0),
        **flags,
    )
    session.add(account)
    if email:
        session.add(Contact(account_id=account_id, email=email))
    session.commit()
    return account


def add_invoice(
    session: Session,
    account_id: str,
    number: str,
    *,
    due: date,
    amount: str = "1250.00",
    balance: str | None = None,
    currency: str = "USD",
    issued: date | None = None,
    paid_date: date | None = None,
) -> Invoice:
    invoice = Invoice(
        number=number,
        account_id=account_id,
        currency=currency,
        amount=Decimal(amount),
        balance=Decimal(balance if balance is not None else ("0" if paid_date else amount)),
        issue_date=issued or date.fromordinal(due.toordinal() - 30),
        due_date=due,
        status="paid" if paid_date else "open",
        paid_date=paid_date,
    )
    session.add(invoice)
    session.commit()
    return invoice


def add_sent(
    session: Session, account_id: str, stage: str, invoices: list[str], day: date
) -> Message:
    key = message_key(account_id, stage, tuple(invoices), day)
    message = Message(
        key=key,
        message_id=f"<dunning.{key}@test.example>",
        account_id=account_id,
        stage=stage,
        tone="neutral",
        invoices=invoices,
        local_day=day,
        to_addrs=["ap@acme.example"],
        subject="earlier",
        body="earlier",
        state="sent",
        created_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        sent_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
    )
    session.add(message)
    session.commit()
    return message
