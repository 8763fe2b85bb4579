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


_IDS = sa.bindparam("ids", expanding=True)


def _by_account(*columns: Any, where: Any = None, order: Any = None, limit: int | None = None):
    """A statement built once and reused (per-account reads are the hot path of a pass),
    for a set of accounts: its first column is the account id. ``limit`` applies per
    account."""
    account_id = columns[0].table.c.account_id
    if limit is not None:  # the newest ``limit`` rows of each account
        rank = sa.func.row_number().over(partition_by=account_id, order_by=order).label("_rank")
        inner = sa.select(account_id.label("_acct"), *columns, rank).where(account_id.in_(_IDS))
        if where is not None:
            inner = inner.where(where)
        sub = inner.subquery()
        return sa.select(*[c for c in sub.c if c.name != "_rank"]).where(sub.c._rank <= limit)
    statement = sa.select(account_id.label("_acct"), *columns).where(account_id.in_(_IDS))
    if where is not None:
        statement = statement.where(where)
    if order is not None:
        statement = statement.order_by(*(order if isinstance(order, tuple) else (order,)))
    return statement


_ACCOUNT = (
    sa.select(
        Account.id.label("_acct"),  # type: ignore[attr-defined]
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
    .where(Account.id.in_(_IDS))  # type: ignore[attr-defined]
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
    found = load_snapshots(source, [account_id], payment_link_template)
    if account_id not in found:
        raise KeyError(f"no account {account_id!r}")
    return found[account_id]


def load_snapshots(
    source: Session | Connection, account_ids: Sequence[str], payment_link_template: str
) -> dict[str, AccountSnapshot]:
    """The snapshots of several accounts in one round of queries (a pass reads the due
    accounts a chunk at a time); accounts that do not exist are left out."""
    conn = source.connection() if isinstance(source, Session) else source
    params = {"ids": list(account_ids)}

    def grouped(statement: Any, ids: list[str] | None = None) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for row in conn.execute(statement, params if ids is None else {"ids": ids}):
            out.setdefault(row._acct, []).append(row)
        return out

    accounts = grouped(_ACCOUNT)
    if not accounts:
        return {}
    holds = grouped(_HOLDS)
    tables = {
        name: grouped(statement)
        for name, statement in (
            ("open", _OPEN),
            ("history", _HISTORY),
            ("sent", _SENT),
            ("promises", _PROMISES),
            ("disputes", _DISPUTES),
            ("escalations", _ESCALATIONS),
        )
    }
    # payments matter to the policy only against a hold ("we have paid"): read them then
    payments = grouped(_PAYMENTS, list(holds)) if holds else {}
    return {
        account_id: _snapshot(
            joined,
            {name: rows.get(account_id, []) for name, rows in tables.items()},
            holds.get(account_id, []),
            payments.get(account_id, []),
            payment_link_template,
        )
        for account_id, joined in accounts.items()
    }


def _snapshot(
    joined: list[Any],
    rows: dict[str, list[Any]],
    hold_rows: list[Any],
    payment_rows: list[Any],
    payment_link_template: str,
) -> AccountSnapshot:
    account = joined[0]  # the account once per contact
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
            for inv in rows["open"]
        ),
        history=tuple(
            PaidInvoice(inv.number, inv.amount, inv.due_date, inv.paid_date)
            for inv in sorted(rows["history"], key=lambda r: r.due_date, reverse=True)
        ),
        sent=tuple(
            SentMessage(m.local_day, m.stage, tuple(m.invoices))
            for m in sorted(rows["sent"], key=lambda r: r.local_day)
        ),
        promises=tuple(
            Promise(p.made_on, p.promise_date, p.amount, tuple(p.invoices))
            for p in rows["promises"]
        ),
        holds=tuple(Hold(h.kind, h.made_on, h.until) for h in hold_rows),
        disputes=tuple(Dispute(d.opened_on, tuple(d.invoices), d.reason) for d in rows["disputes"]),
        escalations=tuple(
            Escalation(e.opened_on, e.reason, e.resolved_on) for e in rows["escalations"]
        ),
        payments=tuple(Payment(p.paid_date, p.number, p.amount) for p in payment_rows),
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
    usage: dict[str, Any] | None = None,
) -> None:
    """Log a decision, open an escalation when it escalates, and set the next look.
    ``usage``: what the LLM engine spent on it (calls, tokens, model, prompt version)."""
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
            **(usage or {}),
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
