"""What a person does to the ledger: flag an account out of the automation and give it
back, list and resolve escalations. Each action is one transaction and lands in the
decision log as a ``human`` decision with who did it and when.

A flag takes effect at once: queued messages of the account are cancelled, drafts
waiting for approval are superseded, and the outbox refuses to start a send for a
flagged account (``tools.outbox``), so nothing automated goes out after the flag.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agent.clock import to_utc
from tools.tables import Account, ApprovalRow, DecisionRow, DisputeRow, EscalationRow, Message

HUMAN_ENGINE = "human"


class HumanActionError(ValueError):
    """A person's action that cannot be done (unknown account, already resolved...)."""


def operator(given: str | None = None) -> str:
    """Who is acting: ``--by``, else ``DUNNING_OPERATOR``, else the login name."""
    if given:
        return given
    try:
        return os.environ.get("DUNNING_OPERATOR") or getpass.getuser()
    except OSError:  # no login name (a container without a passwd entry)
        return "unknown"


def log_human(
    conn: Connection,
    *,
    account_id: str,
    action: str,
    reason: str,
    by: str,
    at: datetime,
    invoices: list[str] | None = None,
    next_review_at: datetime | None = None,
    policy_version: str = "",
    message_key: str | None = None,
    stage: str | None = None,
) -> None:
    conn.execute(
        sa.insert(DecisionRow),
        {
            "at": to_utc(at),
            "account_id": account_id,
            "invoices": invoices or [],
            "action": action,
            "stage": stage,
            "reason": reason,
            "policy_version": policy_version,
            "engine": HUMAN_ENGINE,
            "kind": "human",
            "actor": by,
            "next_review_at": next_review_at,
            "message_key": message_key,
            "dry_run": False,
        },
    )


def _account(conn: Connection, account_id: str) -> Any:
    row = conn.execute(
        sa.select(Account.id, Account.human_flagged, Account.flag_reason).where(
            Account.id == account_id
        )
    ).first()
    if row is None:
        raise HumanActionError(f"no account {account_id!r} in the ledger")
    return row


def supersede_approvals(conn: Connection, account_id: str, why: str, at: datetime) -> int:
    """Drafts of the account waiting for a person are dropped (their thread starts afresh
    at its next run)."""
    return conn.execute(
        sa.update(ApprovalRow)
        .where(ApprovalRow.account_id == account_id, ApprovalRow.status == "pending")
        .values(status="superseded", note=why, decided_at=to_utc(at))
    ).rowcount


def flag_account(engine: Engine, account_id: str, reason: str, by: str, now: datetime) -> int:
    """Take the account out of the automation; returns how many queued messages and
    pending drafts were stopped."""
    if not reason.strip():
        raise HumanActionError("a flag needs a reason (--reason)")
    with engine.begin() as conn:
        _account(conn, account_id)
        why = f"flagged by {by}: {reason}"
        stopped = conn.execute(
            sa.update(Message)
            .where(Message.account_id == account_id, Message.state == "queued")
            .values(state="cancelled", error=why)
        ).rowcount
        stopped += supersede_approvals(conn, account_id, why, now)
        conn.execute(
            sa.update(Account)
            .where(Account.id == account_id)
            .values(
                human_flagged=True, flag_reason=reason, next_review_at=None, updated_at=to_utc(now)
            )
        )
        log_human(conn, account_id=account_id, action="flag", reason=why, by=by, at=now)
    return stopped


def unflag_account(engine: Engine, account_id: str, by: str, now: datetime) -> None:
    """Give the account back to the automation: the next pass decides it afresh."""
    with engine.begin() as conn:
        account = _account(conn, account_id)
        if not account.human_flagged:
            raise HumanActionError(f"account {account_id} is not flagged")
        conn.execute(
            sa.update(Account)
            .where(Account.id == account_id)
            .values(
                human_flagged=False,
                flag_reason=None,
                next_review_at=to_utc(now),
                updated_at=to_utc(now),
            )
        )
        log_human(
            conn,
            account_id=account_id,
            action="unflag",
            reason=f"unflagged by {by} (was: {account.flag_reason}); the chase resumes",
            by=by,
            at=now,
            next_review_at=to_utc(now),
        )


@dataclass(frozen=True)
class OpenEscalation:
    id: int
    account_id: str
    account_name: str
    opened_at: datetime
    reason: str
    invoices: list[str]
    flagged: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account_id,
            "account_name": self.account_name,
            "opened_at": self.opened_at.isoformat(),
            "reason": self.reason,
            "invoices": self.invoices,
            "flagged": self.flagged,
        }


def open_escalations(engine: Engine) -> list[OpenEscalation]:
    """Accounts handed to a person and why, oldest first."""
    query = (
        sa.select(
            EscalationRow.id,
            EscalationRow.account_id,
            Account.name,
            EscalationRow.opened_at,
            EscalationRow.reason,
            EscalationRow.invoices,
            Account.human_flagged,
        )
        .join(Account, Account.id == EscalationRow.account_id)
        .where(EscalationRow.resolved_at.is_(None))  # type: ignore[union-attr]
        .order_by(EscalationRow.opened_at, EscalationRow.id)
    )
    with engine.connect() as conn:
        return [OpenEscalation(*row) for row in conn.execute(query)]


def resolve_escalation(
    engine: Engine, escalation_id: int, note: str, by: str, now: datetime
) -> str:
    """Close the escalation (and the open disputes on its invoices): the chase of the
    account resumes at the next pass unless something else still holds it. Returns the
    account."""
    if not note.strip():
        raise HumanActionError("resolving needs a note (--note)")
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(EscalationRow).where(EscalationRow.id == escalation_id)
        ).first()
        if row is None:
            raise HumanActionError(f"no escalation {escalation_id}")
        if row.resolved_at is not None:
            raise HumanActionError(
                f"escalation {escalation_id} was resolved by {row.resolved_by} "
                f"at {row.resolved_at:%Y-%m-%d %H:%M} UTC"
            )
        at = to_utc(now)
        conn.execute(
            sa.update(EscalationRow)
            .where(EscalationRow.id == escalation_id)
            .values(resolved_at=at, resolved_on=now.date(), resolved_by=by, note=note)
        )
        named = set(row.invoices)
        disputes = conn.execute(
            sa.select(DisputeRow.id, DisputeRow.invoices).where(
                DisputeRow.account_id == row.account_id,
                DisputeRow.resolved_at.is_(None),  # type: ignore[union-attr]
            )
        ).all()
        settled = [d.id for d in disputes if not named or named & set(d.invoices)]
        if settled:
            conn.execute(
                sa.update(DisputeRow)
                .where(DisputeRow.id.in_(settled))  # type: ignore[union-attr]
                .values(resolved_at=at, resolved_by=by, note=note)
            )
        conn.execute(
            sa.update(Account)
            .where(Account.id == row.account_id)
            .values(next_review_at=at, updated_at=at)
        )
        what = f"escalation {escalation_id} resolved by {by}: {note}"
        if settled:
            what += f" (closed {len(settled)} dispute{'s' if len(settled) > 1 else ''})"
        log_human(
            conn,
            account_id=row.account_id,
            action="resolve",
            reason=what,
            by=by,
            at=now,
            invoices=list(row.invoices),
            next_review_at=at,
        )
    return str(row.account_id)
