"""The account snapshot the policy decides on, and the decision it returns.

Plain frozen dataclasses: no IO, no ORM. ``tools/ledger.py`` builds a snapshot from
the database; the eval harness builds one from a labeled case. Dates are the
account's local calendar dates; money is ``Decimal`` with its currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

Stage = Literal["reminder", "first_overdue", "escalation", "final_notice"]
Tone = Literal["friendly", "neutral", "firm", "final"]
Action = Literal["send", "wait", "hold", "escalate"]

STAGES: tuple[Stage, ...] = ("reminder", "first_overdue", "escalation", "final_notice")
TONES: tuple[Tone, ...] = ("friendly", "neutral", "firm", "final")
ACTIONS: tuple[Action, ...] = ("send", "wait", "hold", "escalate")
FLAGS = ("human_flagged", "opted_out", "credit_hold")


def stage_rank(stage: Stage) -> int:
    return STAGES.index(stage)


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    number: str
    amount: Decimal
    currency: str
    issue_date: date
    due_date: date
    balance: Decimal
    payment_link: str | None = None
    pdf_path: str | None = None


@dataclass(frozen=True, slots=True)
class PaidInvoice:
    """An earlier invoice and when it was paid in full: the payment history."""

    number: str
    amount: Decimal
    due_date: date
    paid_date: date


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A chase message already sent, with the stage it carried and the invoices it named."""

    on: date
    stage: Stage
    invoices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Promise:
    made_on: date
    promise_date: date
    amount: Decimal | None = None
    invoices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hold:
    """A timed pause from a reply: ``paid_claim`` (made_on) or ``absence`` (until)."""

    kind: Literal["paid_claim", "absence"]
    made_on: date
    until: date


@dataclass(frozen=True, slots=True)
class Dispute:
    opened_on: date
    invoices: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Escalation:
    opened_on: date
    reason: str
    resolved_on: date | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    on: date
    invoice: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account_id: str
    name: str
    timezone: str = "UTC"
    language: str = "en"
    flags: frozenset[str] = frozenset()
    emails: tuple[str, ...] = ()
    open_invoices: tuple[OpenInvoice, ...] = ()
    history: tuple[PaidInvoice, ...] = ()
    sent: tuple[SentMessage, ...] = ()
    promises: tuple[Promise, ...] = ()
    holds: tuple[Hold, ...] = ()
    disputes: tuple[Dispute, ...] = ()
    """Open disputes only; a resolved dispute no longer holds the account."""
    escalations: tuple[Escalation, ...] = ()
    payments: tuple[Payment, ...] = ()
    """Payments received; the ledger fills them in when a hold makes them matter."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the agent does for an account now, and why."""

    action: Action
    reason: str
    stage: Stage | None = None
    tone: Tone | None = None
    invoices: tuple[str, ...] = ()
    next_review: datetime | None = None
    """When the account next needs a look (aware); ``None``: only when something changes."""
    deferred: bool = False
    """A send that is due but waits for the sending window (action is then ``wait``)."""
    details: dict[str, str] = field(default_factory=dict)
