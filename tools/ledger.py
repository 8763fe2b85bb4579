"""Ledger reads and writes the chase needs: an account's snapshot for the policy,
and the decision log (which also sets when the account next needs a look).

The snapshot is built in a handful of indexed, prebuilt queries: it is the hot path
of a pass. (Which accounts are due is ``agent.chase_pass.due_accounts``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from agent.clock import to_utc
from agent.snapshot import (
    AccountSnapshot,
    Decision,
    Dispute,
    Escalation,
    Hold,
    OpenInvoice,
    PaidInvoice,
    Payment,
    Promise,
    SentMessage,
)
from tools.tables import (
    Account,
    Contact,
    DecisionRow,
    DisputeRow,
    EscalationRow,
    HoldRow,
    Invoice,
    Message,
    PromiseRow,
)
from tools.tables import (
    Payment as PaymentRow,
)

HISTORY_LIMIT = 24
"""Earlier paid invoices the tone rule looks at."""


def _by_account(*columns: Any, where: Any = None, order: Any = None, limit: int | None = None):
    """A statement built once and reused: per-account reads are the hot path of a pass."""
    statement = sa.select(*columns).where(columns[0].table.c.account_id == sa.bindparam("a"))
    if where is not None:
        statement = statement.where(where)
    if order is not None:
        statement = statement.order_by(*(order if isinstance(order, tuple) else (order,)))
    if limit is not None:
        statement = statement.limit(limit)
    return statement


_ACCOUNT = (
    sa.select(
        Account.id,
        Account.name,
        Account.timezone,
        Account.language,
        Account.human_flagged,
        Account.opted_out,
        Account.credit_hold,
        Contact.email,
        Contact.undeliverable,
        Contact.opted_out.label("contact_opted_out"),  # type: ignore[attr-defined]
    )
    .outerjoin_from(Account, Contact, Contact.account_id == Account.id)
    .where(Account.id == sa.bindparam("a"))
)
_OPEN = _by_account(
    Invoice.number,
    Invoice.amount,
    Invoice.currency,
    Invoice.issue_date,
    Invoice.due_date,
    Invoice.balance,
    Invoice.payment_link,
    Invoice.pdf_path,
    where=Invoice.status == "open",
    order=(Invoice.due_date, Invoice.number),
)
_HISTORY = _by_account(
    Invoice.number,
    Invoice.amount,
    Invoice.due_date,
    Invoice.paid_date,
    where=sa.and_(Invoice.status == "paid", col(Invoice.paid_date).is_not(None)),
    order=col(Invoice.due_date).desc(),
    limit=HISTORY_LIMIT,
)
_SENT = _by_account(
    Message.local_day,
    Message.stage,
    Message.invoices,
    # an automatic answer to a question is not a chase message
    where=sa.and_(Message.state == "sent", Message.stage != "answer"),
    order=Message.local_day,
)
_PROMISES = _by_account(
    PromiseRow.made_on,
    PromiseRow.promise_date,
    PromiseRow.amount,
    PromiseRow.invoices,
    where=PromiseRow.status == "open",
)
_HOLDS = _by_account(HoldRow.kind, HoldRow.made_on, HoldRow.until)
_DISPUTES = _by_account(
    DisputeRow.opened_on,
    DisputeRow.invoices,
    DisputeRow.reason,
    where=col(DisputeRow.resolved_at).is_(None),
)
_ESCALATIONS = _by_account(
    EscalationRow.opened_on,
    EscalationRow.reason,
    EscalationRow.resolved_on,
    order=EscalationRow.opened_at,
)
_PAYMENTS = _by_account(PaymentRow.paid_date, PaymentRow.amount, Invoice.number).join_from(
    PaymentRow, Invoice, col(Invoice.id) == PaymentRow.invoice_id
)


def load_snapshot(
    source: Session | Connection, account_id: str, payment_link_template: str
) -> AccountSnapshot:
    """Everything the policy and the drafter need to know about one account."""
    conn = source.connection() if isinstance(source, Session) else source
    params = {"a": account_id}

    def rows(statement: Any) -> Sequence[Any]:
        return conn.execute(statement, params).all()

    joined = rows(_ACCOUNT)  # the account once per contact
    if not joined:
        raise KeyError(f"no account {account_id!r}")
    account = joined[0]
    contacts = [row for row in joined if row.email is not None]
    flags = {
        name
        for name, on in (
            ("human_flagged", account.human_flagged),
            ("opted_out", account.opted_out),
            ("credit_hold", account.credit_hold),
        )
        if on
    }
    if contacts and all(c.contact_opted_out for c in contacts):
        flags.add("opted_out")
    holds = tuple(Hold(h.kind, h.made_on, h.until) for h in rows(_HOLDS))
    return AccountSnapshot(
        account_id=account.id,
        name=account.name,
        timezone=account.timezone,
        language=account.language,
        flags=frozenset(flags),
        emails=tuple(c.email for c in contacts if not c.undeliverable and not c.contact_opted_out),
        open_invoices=tuple(
            OpenInvoice(
                number=inv.number,
                amount=inv.amount,
                currency=inv.currency,
                issue_date=inv.issue_date,
                due_date=inv.due_date,
                balance=inv.balance,
                payment_link=inv.payment_link
                or payment_link_template.format(invoice_number=inv.number, customer_id=account.id),
                pdf_path=inv.pdf_path,
            )
            for inv in rows(_OPEN)
        ),
        history=tuple(
            PaidInvoice(inv.number, inv.amount, inv.due_date, inv.paid_date)
            for inv in rows(_HISTORY)
        ),
        sent=tuple(SentMessage(m.local_day, m.stage, tuple(m.invoices)) for m in rows(_SENT)),
        promises=tuple(
            Promise(p.made_on, p.promise_date, p.amount, tuple(p.invoices)) for p in rows(_PROMISES)
        ),
        holds=holds,
        disputes=tuple(Dispute(d.opened_on, tuple(d.invoices), d.reason) for d in rows(_DISPUTES)),
        escalations=tuple(
            Escalation(e.opened_on, e.reason, e.resolved_on) for e in rows(_ESCALATIONS)
        ),
        # payments matter to the policy only against a hold ("we have paid"): read them then
        payments=tuple(
            Payment(day, number, amount)
            for day, amount, number in (rows(_PAYMENTS) if holds else ())
        ),
    )


_SET_NEXT_REVIEW = (
    sa.update(Account)
    .where(Account.id == sa.bindparam("a"))
    .values(next_review_at=sa.bindparam("review"), updated_at=sa.bindparam("at"))
)


def record_decision(
    source: Session | Connection,
    *,
    account_id: str,
    decision: Decision,
    at: datetime,
    today: date,
    policy_version: str,
    engine: str,
    message_key: str | None = None,
) -> None:
    """Log a decision, open an escalation when it escalates, and set the next look."""
    conn = source.connection() if isinstance(source, Session) else source
    review = None if decision.next_review is None else to_utc(decision.next_review)
    conn.execute(
        sa.insert(DecisionRow),
        {
            "at": to_utc(at),
            "account_id": account_id,
            "invoices": list(decision.invoices),
            "action": decision.action,
            "stage": decision.stage,
            "tone": decision.tone,
            "reason": decision.reason,
            "policy_version": policy_version,
            "engine": engine,
            "next_review_at": review,
            "message_key": message_key,
            "dry_run": False,
        },
    )
    if decision.action == "escalate":
        conn.execute(
            sa.insert(EscalationRow),
            {
                "account_id": account_id,
                "opened_on": today,
                "opened_at": to_utc(at),
                "reason": decision.reason,
                "invoices": list(decision.invoices),
            },
        )
    conn.execute(_SET_NEXT_REVIEW, {"a": account_id, "review": review, "at": to_utc(at)})


def decisions(
    session: Session,
    *,
    account_id: str | None = None,
    since: datetime | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> Sequence[DecisionRow]:
    query = select(DecisionRow)
    if account_id:
        query = query.where(DecisionRow.account_id == account_id)
    if since is not None:
        query = query.where(DecisionRow.at >= to_utc(since))
    if action:
        query = query.where(DecisionRow.action == action)
    query = query.order_by(col(DecisionRow.at), col(DecisionRow.id))
    if limit is not None:
        query = query.limit(limit)
    return session.exec(query).all()
