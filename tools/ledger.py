"""Ledger reads and writes the chase needs: an account's snapshot for the policy,
the index of accounts due for a look, and the decision log.

The snapshot is built in a handful of indexed queries; local dates are computed in
the account's own time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

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


def payment_link_for(invoice: Invoice, template: str) -> str:
    if invoice.payment_link:
        return invoice.payment_link
    return template.format(invoice_number=invoice.number, customer_id=invoice.account_id)


def local_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def load_snapshot(session: Session, account_id: str, payment_link_template: str) -> AccountSnapshot:
    """Everything the policy and the drafter need to know about one account."""
    account = session.get(Account, account_id)
    if account is None:
        raise KeyError(f"no account {account_id!r}")
    contacts = session.exec(select(Contact).where(Contact.account_id == account_id)).all()
    invoices = session.exec(
        select(Invoice).where(Invoice.account_id == account_id, Invoice.status == "open")
    ).all()
    history = session.exec(
        select(Invoice)
        .where(
            Invoice.account_id == account_id,
            Invoice.status == "paid",
            col(Invoice.paid_date).is_not(None),
        )
        .order_by(col(Invoice.due_date).desc())
        .limit(HISTORY_LIMIT)
    ).all()
    sent = session.exec(
        select(Message).where(Message.account_id == account_id, Message.state == "sent")
    ).all()
    promises = session.exec(
        select(PromiseRow).where(PromiseRow.account_id == account_id, PromiseRow.status == "open")
    ).all()
    holds = session.exec(select(HoldRow).where(HoldRow.account_id == account_id)).all()
    disputes = session.exec(
        select(DisputeRow).where(
            DisputeRow.account_id == account_id, col(DisputeRow.resolved_at).is_(None)
        )
    ).all()
    escalations = session.exec(
        select(EscalationRow).where(EscalationRow.account_id == account_id)
    ).all()
    payments = session.exec(
        select(PaymentRow.paid_date, PaymentRow.amount, Invoice.number)
        .join(Invoice, col(Invoice.id) == PaymentRow.invoice_id)
        .where(PaymentRow.account_id == account_id)
    ).all()

    flags = {
        name
        for name, on in (
            ("human_flagged", account.human_flagged),
            ("opted_out", account.opted_out),
            ("credit_hold", account.credit_hold),
        )
        if on
    }
    emails = tuple(c.email for c in contacts if not c.undeliverable and not c.opted_out)
    if contacts and all(c.opted_out for c in contacts):
        flags.add("opted_out")
    return AccountSnapshot(
        account_id=account.id,
        name=account.name,
        timezone=account.timezone,
        language=account.language,
        flags=frozenset(flags),
        emails=emails,
        open_invoices=tuple(
            OpenInvoice(
                number=inv.number,
                amount=inv.amount,
                currency=inv.currency,
                issue_date=inv.issue_date,
                due_date=inv.due_date,
                balance=inv.balance,
                payment_link=payment_link_for(inv, payment_link_template),
                pdf_path=inv.pdf_path,
            )
            for inv in sorted(invoices, key=lambda i: (i.due_date, i.number))
        ),
        history=tuple(
            PaidInvoice(inv.number, inv.amount, inv.due_date, inv.paid_date)
            for inv in history
            if inv.paid_date is not None
        ),
        sent=tuple(
            SentMessage(m.local_day, m.stage, tuple(m.invoices))  # type: ignore[arg-type]
            for m in sorted(sent, key=lambda m: m.local_day)
        ),
        promises=tuple(
            Promise(p.made_on, p.promise_date, p.amount, tuple(p.invoices)) for p in promises
        ),
        holds=tuple(Hold(h.kind, h.made_on, h.until) for h in holds),  # type: ignore[arg-type]
        disputes=tuple(Dispute(d.opened_on, tuple(d.invoices), d.reason) for d in disputes),
        escalations=tuple(
            Escalation(e.opened_on, e.reason, e.resolved_on)
            for e in sorted(escalations, key=lambda e: e.opened_at)
        ),
        payments=tuple(Payment(day, number, amount) for day, amount, number in payments),
    )


def due_account_ids(session: Session, cutoff: datetime, limit: int | None = None) -> list[str]:
    """Accounts whose next look is due at or before ``cutoff`` (the indexed column)."""
    query = (
        select(Account.id)
        .where(col(Account.next_review_at).is_not(None))
        .where(col(Account.next_review_at) <= to_utc(cutoff))
        .order_by(col(Account.next_review_at), col(Account.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def record_decision(
    session: Session,
    *,
    account_id: str,
    decision: Decision,
    at: datetime,
    today: date,
    policy_version: str,
    engine: str,
    message_key: str | None = None,
) -> DecisionRow:
    """Log a decision, open an escalation when it escalates, and set the next look."""
    row = DecisionRow(
        at=to_utc(at),
        account_id=account_id,
        invoices=list(decision.invoices),
        action=decision.action,
        stage=decision.stage,
        tone=decision.tone,
        reason=decision.reason,
        policy_version=policy_version,
        engine=engine,
        next_review_at=None if decision.next_review is None else to_utc(decision.next_review),
        message_key=message_key,
    )
    session.add(row)
    if decision.action == "escalate":
        session.add(
            EscalationRow(
                account_id=account_id,
                opened_on=today,
                opened_at=to_utc(at),
                reason=decision.reason,
                invoices=list(decision.invoices),
            )
        )
    account = session.get(Account, account_id)
    if account is not None:
        account.next_review_at = row.next_review_at
        account.updated_at = to_utc(at)
        session.add(account)
    return row


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
