"""The ledger's tables (sqlmodel): accounts and contacts, invoices, payments, the
outbox of messages, promises, holds, disputes, escalations and the decision log.

Money is stored exactly (``MoneyType``: NUMERIC on PostgreSQL, text on SQLite,
``Decimal`` in Python). Timestamps are naive UTC (see ``agent.clock``); calendar
dates are the account's local dates.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import JSON, Column, Field, SQLModel


class MoneyType(sa.types.TypeDecorator):
    """Exact decimals everywhere: SQLite has no decimal type, so it gets text."""

    impl = sa.String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(20, 6))
        return dialect.type_descriptor(sa.String(40))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def money(**kwargs: Any) -> Any:
    return Field(sa_column=Column(MoneyType(), **kwargs))


def json_list(**kwargs: Any) -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False, **kwargs))


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_version"
    id: int = Field(default=1, primary_key=True)
    version: int


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    id: str = Field(primary_key=True, max_length=100)
    name: str
    timezone: str = "UTC"
    language: str = "en"
    human_flagged: bool = False
    flag_reason: str | None = None
    opted_out: bool = False
    credit_hold: bool = False
    next_review_at: datetime | None = Field(default=None, index=True)
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    """The daemon worker working on the account now (see ``tools.leases``)."""
    lease_until: datetime | None = None
    """When that worker's claim lapses if it has not finished (it died)."""


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("account_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    email: str
    name: str | None = None
    role: str = "billing"
    undeliverable: bool = False
    opted_out: bool = False


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (sa.Index("ix_invoices_account_status", "account_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=100)
    account_id: str = Field(foreign_key="accounts.id")
    currency: str = Field(max_length=3)
    amount: Decimal = money(nullable=False)
    balance: Decimal = money(nullable=False)
    issue_date: date
    due_date: date
    status: str = "open"  # open, paid
    paid_date: date | None = None
    payment_link: str | None = None
    pdf_path: str | None = None
    source_hash: str | None = None
    """Hash of the import row last applied: re-importing the same row changes nothing."""


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    invoice_id: int = Field(foreign_key="invoices.id", index=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    amount: Decimal = money(nullable=False)
    paid_date: date
    reference: str | None = None


class Message(SQLModel, table=True):
    """The outbox: one row per chase message, with its fixed key and Message-ID."""

    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_account_state", "account_id", "state"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    message_id: str = Field(unique=True, max_length=255)
    account_id: str = Field(foreign_key="accounts.id")
    direction: str = "out"
    stage: str
    """A chase stage, or ``answer`` for an automatic answer to a customer's question."""
    tone: str
    language: str = "en"
    invoices: list[str] = json_list()
    local_day: date
    to_addrs: list[str] = json_list()
    subject: str
    body: str
    state: str = "queued"  # queued, sending, sent, failed, cancelled
    attempts: int = 0
    error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None


class PromiseRow(SQLModel, table=True):
    __tablename__ = "promises"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    made_on: date
    promise_date: date
    amount: Decimal | None = money(nullable=True)
    invoices: list[str] = json_list()
    status: str = "open"  # open, kept, broken
    source: str | None = None


class HoldRow(SQLModel, table=True):
    """A timed pause: a claim of payment or an absence."""

    __tablename__ = "holds"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    kind: str  # paid_claim, absence
    made_on: date
    until: date
    source: str | None = None


class DisputeRow(SQLModel, table=True):
    __tablename__ = "disputes"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    opened_on: date
    invoices: list[str] = json_list()
    reason: str = ""
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None


class EscalationRow(SQLModel, table=True):
    __tablename__ = "escalations"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    opened_on: date
    opened_at: datetime
    reason: str
    invoices: list[str] = json_list()
    resolved_at: datetime | None = None
    resolved_on: date | None = None
    resolved_by: str | None = None
    note: str | None = None


class DecisionRow(SQLModel, table=True):
    """The decision log: every decision, wait and hold included."""

    __tablename__ = "decisions"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    invoices: list[str] = json_list()
    action: str = Field(index=True)
    stage: str | None = None
    tone: str | None = None
    reason: str
    policy_version: str
    engine: str
    next_review_at: datetime | None = None
    message_key: str | None = None
    dry_run: bool = False
    kind: str = "chase"
    """``chase`` (the daily pass), ``reply`` (what a customer's email did), ``human``."""
    inbound_id: int | None = None
    """For a reply decision: the row in ``inbound_messages``."""
    intent: str | None = None
    model: str | None = None
    """The model that classified or drafted, when the LLM engine was used."""
    prompt_version: str | None = None
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    actor: str | None = None
    """Who made a ``human`` decision (a person's name, from ``--by`` or the login)."""


class InboundMessage(SQLModel, table=True):
    """Every email the agent read, stored once (by Message-ID) with its raw source, what
    it understood and what it did, so a person can audit it."""

    __tablename__ = "inbound_messages"
    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=998)
    """The email's Message-ID, or ``<sha256.HEX@inbound.invalid>`` when it has none."""
    source_ref: str
    received_at: datetime
    sent_at: datetime | None = None
    from_addr: str | None = None
    subject: str = ""
    size: int = 0
    raw: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    status: str = Field(default="received", index=True)
    """received, processed, unmatched (waits for a person), quarantined (malformed)."""
    account_id: str | None = Field(default=None, foreign_key="accounts.id", index=True)
    matched_by: str | None = None
    invoices: list[str] = json_list()
    automatic: str | None = None
    intent: str | None = None
    confidence: float | None = None
    action: str | None = None
    reason: str | None = None
    error: str | None = None
    new_text: str | None = None
    attachments: list[dict[str, Any]] = json_list()
    classification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    processed_at: datetime | None = None


class InboxCursor(SQLModel, table=True):
    """How far the agent has read an IMAP folder: (folder, UIDVALIDITY, last UID)."""

    __tablename__ = "inbox_cursors"
    key: str = Field(primary_key=True, max_length=500)
    uidvalidity: int
    last_uid: int
    updated_at: datetime


class Instance(SQLModel, table=True):
    """Values this installation makes once: the key that signs reply tokens."""

    __tablename__ = "instance"
    id: int = Field(default=1, primary_key=True)
    reply_secret: str


class ApprovalRow(SQLModel, table=True):
    """A drafted message waiting for a person (the chase thread is interrupted on it)."""

    __tablename__ = "approvals"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    """Fixed by the account, stage, invoices and draft: a resumed run finds its row."""
    account_id: str = Field(foreign_key="accounts.id", index=True)
    stage: str
    tone: str
    invoices: list[str] = json_list()
    to_addrs: list[str] = json_list()
    subject: str
    body: str
    language: str = "en"
    why: str
    """Which approval rule asked for a person."""
    decision_reason: str
    status: str = Field(default="pending", index=True)
    """pending, approved, rejected, superseded (a reply or a change of the ledger came)."""
    requested_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str | None = None
    edited: bool = False
