"""A person's answer to a draft waiting for approval: ``dunning approve`` and
``dunning reject`` resume the account's interrupted chase thread with the verdict, and
the graph does the rest (an approved draft is verified and sent, a rejected one holds
the account). An edited draft is checked before the thread is resumed, so a draft that
would fail verification is refused with the problems named and keeps waiting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from langgraph.types import Command

from agent.chase_graph import thread_id
from agent.clock import to_utc
from agent.runtime import Runtime
from agent.state import decision_from_state
from agent.verify import verify_draft
from tools import approvals
from tools.drafting import Draft
from tools.human_ledger import HumanActionError, supersede_approvals
from tools.tables import Account


@dataclass(frozen=True)
class Edit:
    subject: str
    body: str


def read_edit(path: Path, default_subject: str) -> Edit:
    """A file with the message as it should go out: an optional ``Subject:`` first line
    and a blank line, then the body."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HumanActionError(f"--edit {path}: {exc}") from None
    subject = default_subject
    first, sep, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        subject = first.split(":", 1)[1].strip()
        text = rest.lstrip("\n") if sep else ""
    if not text.strip():
        raise HumanActionError(f"--edit {path}: the message body is empty")
    if not subject:
        raise HumanActionError(f"--edit {path}: the Subject line is empty")
    return Edit(subject, text.rstrip() + "\n")


def answer(
    runtime: Runtime,
    approval_id: int,
    *,
    verdict: str,
    by: str,
    reason: str | None = None,
    edit: Edit | None = None,
) -> dict[str, Any]:
    """Resume the thread waiting on approval ``approval_id``; returns its final state."""
    deps = runtime.deps
    row = approvals.by_id(deps.engine, approval_id)
    if row is None:
        raise HumanActionError(f"no approval {approval_id}")
    if row.status != "pending":
        who = f" by {row.decided_by}" if row.decided_by else ""
        note = f" ({row.note})" if row.note else ""
        raise HumanActionError(f"approval {approval_id} is {row.status}{who}{note}")
    config = {"configurable": {"thread_id": thread_id(row.account_id)}}
    state = runtime.chase_graph.get_state(config)
    waiting = [
        i
        for i in state.interrupts
        if isinstance(i.value, dict) and i.value.get("approval") == row.key
    ]
    if not waiting:  # its thread moved on or was pruned: decide the account afresh
        now = deps.clock.now()
        with deps.engine.begin() as conn:
            why = "superseded: its chase thread no longer waits on it"
            supersede_approvals(conn, row.account_id, why, now)
            conn.execute(
                sa.update(Account)
                .where(Account.id == row.account_id, Account.next_review_at.is_(None))  # type: ignore[union-attr]
                .values(next_review_at=to_utc(now))
            )
        raise HumanActionError(
            f"approval {approval_id} no longer waits (superseded); the account is decided "
            "afresh at the next pass"
        )
    if edit is not None:
        snapshot = deps.snapshot(row.account_id, fresh=True)
        decision = decision_from_state(state.values["decision"])
        edited = Draft(
            subject=edit.subject,
            body=edit.body,
            language=row.language,
            template="edited",
            invoices=tuple(row.invoices),
        )
        problems = verify_draft(edited, snapshot, decision, deps.local_now(snapshot).date())
        deps.forget(row.account_id)
        if problems:
            raise HumanActionError(
                "the edited draft fails verification, nothing was sent (the draft still "
                "waits): " + "; ".join(problems)
            )
    resume = {
        "verdict": verdict,
        "by": by,
        "reason": reason,
        "edit": None if edit is None else {"subject": edit.subject, "body": edit.body},
    }
    return runtime.chase_graph.invoke(
        Command(resume=resume), config=config, context=deps, durability="exit"
    )
