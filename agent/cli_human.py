"""The human loop on the command line: ``dunning flag``/``unflag`` take an account out
of the automation and give it back, ``dunning escalations``/``resolve`` work through
what was handed to a person, and ``dunning approvals``/``approve``/``reject`` decide
the drafts waiting for approval. Every action is logged with who (``--by``, else
``DUNNING_OPERATOR``, else the login name) and when."""

from __future__ import annotations

import json
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
        closed = resolve_escalation(engine, escalation_id, note, operator(by), _now(as_of))
    except HumanActionError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"escalation {escalation_id} ({closed.account_id}) resolved; the account is "
        "decided afresh at the next pass",
        highlight=False,
    )
