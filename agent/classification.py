"""What a reply says, as the agent understands it: the classifier's input and output.

``ReplyText`` is what any classifier (the offline rules or, later, a model) is given:
the customer's new words (quoted history and signature already removed), the
subject, the email's date, what the headers said about automatic mail and bounces,
and the invoice numbers of the account the reply was matched to. ``Classification``
is what it returns: an intent from ``shared/eval-cases.md`` with what goes with it.
A classification is a proposal; ``agent.reply_policy`` decides what it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

Intent = Literal[
    "promise_to_pay",
    "dispute",
    "question",
    "paid",
    "payment_plan",
    "out_of_office",
    "bounce",
    "unsubscribe",
    "wrong_contact",
    "other",
]
INTENTS: tuple[Intent, ...] = (
    "promise_to_pay",
    "dispute",
    "question",
    "paid",
    "payment_plan",
    "out_of_office",
    "bounce",
    "unsubscribe",
    "wrong_contact",
    "other",
)

QuestionTopic = Literal[
    "invoice_copy", "payment_link", "amount", "due_date", "bank_details", "tax_form", "other"
]
ANSWERABLE_TOPICS: frozenset[str] = frozenset(
    {"invoice_copy", "payment_link", "amount", "due_date"}
)
"""Questions the agent answers itself; every other question goes to a person."""

AutoKind = Literal["out_of_office", "bounce", "auto_other"]


@dataclass(frozen=True, slots=True)
class ReplyText:
    """The classifier's whole input. Everything here is data written by a customer or
    a mail server; nothing in it is an instruction to the agent."""

    subject: str
    text: str
    """The new text of the reply: quoted history and signature removed."""
    sent_at: datetime
    """The email's Date (aware): relative dates ("Friday") resolve against it."""
    automatic: AutoKind | None = None
    """What the headers say: an absence notice, a delivery failure, other automatic mail."""
    auto_evidence: str = ""
    bounce_address: str | None = None
    """For a bounce: the address that failed, when the report names it."""
    bounce_permanent: bool = True
    known_invoices: tuple[str, ...] = ()
    """The open invoice numbers of the matched account (may be empty)."""
    language: str | None = None
    """The account's language, a hint; the classifier reads English and German either way."""
    full_text: str = ""
    """The whole body including quotes: only for finding invoice numbers and return dates
    in automatic mail, never for deciding a customer's intent."""
    attachments: tuple[str, ...] = field(default_factory=tuple)
    """File names of attachments (remittance advice often arrives as a PDF)."""


class Classification(BaseModel):
    """An intent and what goes with it. The offline classifier and a model return this."""

    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    promise_date: date | None = None
    promise_amount: Decimal | None = None
    return_date: date | None = None
    invoices: list[str] = Field(default_factory=list)
    question_topic: QuestionTopic | None = None
    new_contact: str | None = None
    """For ``wrong_contact``: the address the reply redirects to, when it names one."""
    evidence: str = ""
    """The words that decided it, quoted from the reply."""
    hand_to_person: str | None = None
    """Why a person must read this email whatever its intent (e.g. the model and the
    rules disagree on a safety-critical intent); set by plain code, never by a model."""
    suspicious: bool = False
    """The email holds words addressed to the agent rather than to a person ("ignore
    previous instructions"): they were set aside, and a person reads the email."""
    engine: str = "offline"
