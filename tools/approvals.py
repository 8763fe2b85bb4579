"""The approvals table: drafts that wait for a person, one row per draft.

A row's key is fixed by the account, stage, invoices and the draft's text, so the chase
graph's approval step, which LangGraph runs again when the thread resumes, finds the row
it made instead of making a second one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agent.clock import to_utc
from tools.tables import ApprovalRow


def approval_key(
    account_id: str, stage: str, invoices: tuple[str, ...], subject: str, body: str
) -> str:
    raw = "\x1f".join([account_id, stage, ",".join(sorted(invoices)), subject, body])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def request_approval(conn: Connection, row: dict[str, Any]) -> bool:
    """Store a pending approval; False when this draft already waits (the graph's approval
    step running again on resume). The same draft asked again after its earlier request
    was settled (superseded, say, then drafted afresh) waits again under the same row."""
    found = conn.execute(
        sa.select(ApprovalRow.id, ApprovalRow.status).where(ApprovalRow.key == row["key"])
    ).first()
    if found is None:
        conn.execute(sa.insert(ApprovalRow), {**row, "status": "pending"})
        return True
    if found.status == "pending":
        return False
    conn.execute(
        sa.update(ApprovalRow)
        .where(ApprovalRow.id == found.id)
        .values(
            **{k: v for k, v in row.items() if k != "key"},
            status="pending",
            decided_at=None,
            decided_by=None,
            note=None,
            edited=False,
        )
    )
    return True


def pending(engine: Engine) -> list[ApprovalRow]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ApprovalRow)
            .where(ApprovalRow.status == "pending")
            .order_by(ApprovalRow.requested_at, ApprovalRow.id)  # type: ignore[arg-type]
        ).all()
    return [ApprovalRow.model_validate(dict(row._mapping)) for row in rows]


def by_id(engine: Engine, approval_id: int) -> ApprovalRow | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(ApprovalRow).where(ApprovalRow.id == approval_id)).first()
    return None if row is None else ApprovalRow.model_validate(dict(row._mapping))


def settle(
    conn: Connection,
    key: str,
    status: str,
    *,
    by: str | None,
    at: datetime,
    note: str | None = None,
    edited: bool = False,
) -> None:
    conn.execute(
        sa.update(ApprovalRow)
        .where(ApprovalRow.key == key, ApprovalRow.status == "pending")
        .values(status=status, decided_by=by, decided_at=to_utc(at), note=note, edited=edited)
    )


def to_json(row: ApprovalRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "account": row.account_id,
        "stage": row.stage,
        "tone": row.tone,
        "invoices": row.invoices,
        "to": row.to_addrs,
        "subject": row.subject,
        "body": row.body,
        "why": row.why,
        "reason": row.decision_reason,
        "status": row.status,
        "requested_at": row.requested_at.isoformat(),
    }
