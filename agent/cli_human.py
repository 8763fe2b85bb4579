"""The human loop on the command line: ``dunning flag``/``unflag`` take an account out
of the automation and give it back, ``dunning escalations``/``resolve`` work through
what was handed to a person, and ``dunning approvals``/``approve``/``reject`` decide
the drafts waiting for approval. Every action is logged with who (``--by``, else
``DUNNING_OPERATOR``, else the login name) and when."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agent.cli import app, clock_from, console, engine_for, fail, settings
from tools.human_ledger import (
    HumanActionError,
    flag_account,
    open_escalations,
    operator,
    resolve_escalation,
    unflag_account,
)

By = Annotated[
    str | None, typer.Option("--by", help="Who acts (default: DUNNING_OPERATOR or your login).")
]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Act as of this date or timestamp.")]


def _now(as_of: str | None):  # type: ignore[no-untyped-def]
    return clock_from(as_of, settings()).now()


@app.command()
def flag(
    account: str,
    reason: Annotated[str, typer.Option("--reason", help="Why a person takes it over.")],
    by: By = None,
    as_of: AsOf = None,
) -> None:
    """Take an account out of the automation at once (queued messages included)."""
    engine = engine_for(settings())
    try:
        stopped = flag_account(engine, account, reason, operator(by), _now(as_of))
    except HumanActionError as exc:
        raise fail(str(exc)) from None
    extra = f"; {stopped} queued message(s) or draft(s) stopped" if stopped else ""
    console.print(f"{account}: flagged, no automated message goes out{extra}", highlight=False)


@app.command()
def unflag(account: str, by: By = None, as_of: AsOf = None) -> None:
    """Give a flagged account back to the automation (decided afresh at the next pass)."""
    engine = engine_for(settings())
    try:
        unflag_account(engine, account, operator(by), _now(as_of))
    except HumanActionError as exc:
        raise fail(str(exc)) from None
    console.print(f"{account}: back in the automation", highlight=False)


@app.command()
def escalations(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """The accounts handed to a person, and why."""
    rows = open_escalations(engine_for(settings()))
    if as_json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
        return
    table = Table("id", "opened (UTC)", "account", "invoices", "reason")
    for row in rows:
        name = f"{row.account_id} {row.account_name}" + (" [flagged]" if row.flagged else "")
        table.add_row(
            str(row.id),
            f"{row.opened_at:%Y-%m-%d %H:%M}",
            name,
            "\n".join(row.invoices),
            row.reason,
        )
    console.print(table)
    console.print(f"{len(rows)} open escalation(s)")


@app.command()
def resolve(
    escalation_id: Annotated[int, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option("--note", help="What was done.")],
    by: By = None,
    as_of: AsOf = None,
) -> None:
    """Close an escalation (and the disputes on its invoices): the chase resumes."""
    engine = engine_for(settings())
    try:
        account = resolve_escalation(engine, escalation_id, note, operator(by), _now(as_of))
    except HumanActionError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"escalation {escalation_id} ({account}) resolved; the account is "
        "decided afresh at the next pass",
        highlight=False,
    )


@app.command()
def approvals(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """The drafts waiting for a person's approval, with the reason they wait."""
    from tools.approvals import pending, to_json

    rows = pending(engine_for(settings()))
    if as_json:
        print(json.dumps([to_json(row) for row in rows], indent=2))
        return
    for row in rows:
        console.rule(f"approval {row.id} · {row.account_id} · {row.stage} ({row.tone})")
        console.print(f"why it waits: {row.why}", highlight=False)
        console.print(f"to: {', '.join(row.to_addrs)}", highlight=False)
        console.print(f"Subject: {row.subject}\n\n{row.body}", highlight=False, markup=False)
    console.print(f"{len(rows)} draft(s) waiting for approval")


def _answer(approval_id: int, as_of: str | None, **kwargs: object) -> dict:
    from agent.approval_answers import answer
    from agent.runtime import open_runtime

    current = settings()
    engine = engine_for(current)
    with open_runtime(current, clock=clock_from(as_of, current), engine=engine) as runtime:
        try:
            return answer(runtime, approval_id, **kwargs)  # type: ignore[arg-type]
        except HumanActionError as exc:
            raise fail(str(exc)) from None


@app.command()
def approve(
    approval_id: Annotated[int, typer.Argument(metavar="ID")],
    edit: Annotated[
        Path | None,
        typer.Option("--edit", help="Send this text instead (optional 'Subject:' first line)."),
    ] = None,
    by: By = None,
    as_of: AsOf = None,
) -> None:
    """Send a waiting draft (an edited one is verified like any other first)."""
    from agent.approval_answers import read_edit
    from tools.approvals import by_id

    edited = None
    if edit is not None:
        row = by_id(engine_for(settings()), approval_id)
        try:
            edited = read_edit(edit, row.subject if row else "")
        except HumanActionError as exc:
            raise fail(str(exc), 2) from None
    final = _answer(approval_id, as_of, verdict="approve", by=operator(by), edit=edited)
    decision = final.get("decision") or {}
    delivery = (final.get("outcome") or {}).get("delivery")
    if decision.get("action") == "send" and delivery in ("sent", "already_sent"):
        console.print(f"approval {approval_id}: sent", highlight=False)
        return
    console.print(f"approval {approval_id}: not sent — {decision.get('reason')}", highlight=False)
    raise typer.Exit(1)


@app.command()
def reject(
    approval_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why it must not go out.")],
    by: By = None,
    as_of: AsOf = None,
) -> None:
    """Drop a waiting draft; the account is decided again after reject_hold_days."""
    if not reason.strip():
        raise fail("a rejection needs a reason (--reason)", 2)
    _answer(approval_id, as_of, verdict="reject", by=operator(by), reason=reason)
    console.print(f"approval {approval_id}: rejected, nothing sent", highlight=False)
