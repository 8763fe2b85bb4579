"""The ``dunning`` command line: configuration, imports, seeding, a chase pass, the
decision log, an account's timeline and the demo. Thin: every command opens the
agent through ``agent.runtime`` and calls the same code the daemon will."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, func, select

from agent.clock import SystemClock, parse_as_of, to_utc
from agent.config import ConfigError, Settings, load_settings
from agent.inbox_pass import ReplyOutcome
from agent.runtime import open_engine, open_runtime
from tools.db import SchemaError, session_scope
from tools.inbox import InboxError
from tools.ledger import decisions as query_decisions
from tools.tables import Account, Contact, DecisionRow, Invoice, Message

PIPED_WIDTH = 140
HUMAN_ACTIONS = ("flag", "unflag", "resolve", "approve", "reject")

app = typer.Typer(
    help="dunning-agent: chases open invoices and logs every decision it makes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
import_app = typer.Typer(help="Import invoices or payments from CSV.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(import_app, name="import")

# piped into a file or a pager, tables get room instead of the 80 columns of a dumb terminal
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH)
err = Console(
    stderr=True, width=None if sys.stderr.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH
)


class State:
    config_path: str | None = None


def settings() -> Settings:
    try:
        return load_settings(State.config_path)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def clock_from(as_of: str | None, current: Settings) -> Any:
    try:
        return parse_as_of(as_of, current.policy.time_in_window)
    except ValueError as exc:
        raise fail(str(exc), 2) from None


def engine_for(current: Settings) -> Any:
    try:
        return open_engine(current)
    except SchemaError as exc:
        raise fail(str(exc)) from None


@app.callback()
def main(
    config: Annotated[
        str | None,
        typer.Option("--config", help="TOML configuration file (or DUNNING_CONFIG)."),
    ] = None,
) -> None:
    State.config_path = config


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective configuration, secrets masked."""
    shown = settings().shown()
    if as_json:
        print(json.dumps(shown, indent=2, default=str))
        return
    table = Table("setting", "value", title="effective configuration")
    for key, value in shown.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                table.add_row(f"{key}.{sub}", str(subvalue))
        else:
            table.add_row(key, "" if value is None else str(value))
    console.print(table)


MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", help="canonical=Column in your file; repeat for each column."),
]
DateFormat = Annotated[
    str | None, typer.Option("--date-format", help="strptime format of the dates, e.g. %d/%m/%Y")
]


def _import(kind: str, file: Path, mapping: list[str] | None, date_format: str | None) -> None:
    from tools.importer import ImportFailed, import_invoices, import_payments, parse_mapping

    current = settings()
    engine = engine_for(current)
    try:
        parsed = parse_mapping(mapping or [], kind=kind)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    now = SystemClock().now()
    try:
        with session_scope(engine) as session:
            if kind == "invoices":
                report = import_invoices(
                    session,
                    file,
                    mapping=parsed,
                    now=now,
                    default_timezone=current.default_timezone,
                    default_language=current.default_language,
                    date_format=date_format,
                )
            else:
                report = import_payments(
                    session, file, mapping=parsed, now=now, date_format=date_format
                )
    except ImportFailed as exc:
        err.print(f"[red]import failed, nothing was written:[/red]\n{exc}")
        raise typer.Exit(1) from None
    console.print(str(report), highlight=False)


@import_app.command("invoices")
def import_invoices_cmd(
    file: Path, mapping: MapOption = None, date_format: DateFormat = None
) -> None:
    """Import open invoices (all-or-nothing; re-importing the same file changes nothing)."""
    _import("invoices", file, mapping, date_format)


@import_app.command("payments")
def import_payments_cmd(
    file: Path, mapping: MapOption = None, date_format: DateFormat = None
) -> None:
    """Import payments: each lowers its invoice's balance and closes it at zero."""
    _import("payments", file, mapping, date_format)


@app.command()
def seed(
    accounts: Annotated[int, typer.Option(help="How many accounts to write.")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same ledger).")] = 7,
    as_of: Annotated[str | None, typer.Option(help="Spread invoices around this date.")] = None,
) -> None:
    """Write a synthetic ledger with work of every kind on the as-of date."""
    from tools.seed import seed_ledger

    day = date.fromisoformat(as_of) if as_of else date.today()
    engine = engine_for(settings())
    # the accounts are due from the start of the as-of day (or now, if that is earlier),
    # so `dunning run --as-of` that day finds work of every kind
    start_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        report = seed_ledger(
            engine,
            accounts=accounts,
            seed=seed,
            as_of=day,
            now=min(SystemClock().now(), start_of_day),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"seeded: {report}")


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="One pass, then exit (every run is one pass).")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Run as of this date or timestamp.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and draft, send and record nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the pass summary as JSON.")
    ] = False,
) -> None:
    """Run one chase pass over the accounts due for a look."""
    current = settings()
    engine = engine_for(current)
    clock = clock_from(as_of, current)
    with open_runtime(current, clock=clock, dry_run=dry_run, engine=engine) as runtime:
        summary = runtime.run_pass()
    if as_json:
        print(json.dumps(summary.counts() | {"decisions": summary.decisions}, default=str))
        return
    for item in summary.decisions:
        line = f"{item['account']}: {item['action']}"
        if item.get("stage"):
            line += f" {item['stage']} ({item['tone']})"
        if item.get("invoices"):
            line += f" [{', '.join(item['invoices'])}]"
        console.print(f"{line} — {item['reason']}", highlight=False)
    counts = summary.counts()
    console.print(
        "pass{}: looked at {accounts_looked_at}, sent {sent}, waited {waited}, held {held}, "
        "escalated {escalated} (deferred {deferred}, errors {errors}{shared})".format(
            " (dry run)" if dry_run else "",
            shared=f"; {summary.workers} worker processes" if summary.workers > 1 else "",
            **counts,
        )
    )
    with session_scope(engine) as session:
        upcoming = session.exec(select(func.min(Account.next_review_at))).one()
    if upcoming is not None:
        console.print(f"next account due for a look: {upcoming:%Y-%m-%d %H:%M} UTC")


@app.command()
def inbox(
    once: Annotated[bool, typer.Option("--once", help="Poll once, then exit.")] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object per processed email."),
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Process as of this date or timestamp.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Process this one email (.eml) instead of the inbox."),
    ] = None,
) -> None:
    """Read the customers' replies (IMAP, or the local Maildir inbox) and act on them."""
    current = settings()
    engine = engine_for(current)
    clock = clock_from(as_of, current)

    def show(outcome: ReplyOutcome) -> None:
        if as_json:
            print(json.dumps(outcome.to_json()), flush=True)
            return
        who = outcome.account or "no account"
        what = f"{outcome.intent or '?'} -> {outcome.action or '?'}"
        console.print(f"{outcome.message_id} [{who}] {what} — {outcome.reason}", highlight=False)

    with open_runtime(current, clock=clock, engine=engine) as runtime:
        if file is not None:
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise fail(f"{file}: {exc.strerror or exc}", 2) from None
            outcome = runtime.process_email(raw, f"file:{file}")
            if outcome is None:
                if not as_json:
                    console.print(f"{file}: already processed (same Message-ID)")
                return
            show(outcome)
            return
        try:
            source = runtime.open_inbox()
        except InboxError as exc:
            raise fail(str(exc)) from None
        from agent.daemon import Shutdown

        shutdown = Shutdown()  # SIGTERM or Ctrl-C: the email in hand is finished first
        shutdown.install()
        try:
            while not shutdown():
                outcomes = runtime.poll_inbox(source, show)
                if not as_json and not outcomes:
                    console.print("inbox: nothing new")
                if once:
                    break
                shutdown.wait(source.wait, current.imap_poll_seconds)
        except InboxError as exc:
            raise fail(str(exc)) from None
        finally:
            if shutdown.cut_short and hasattr(source, "abort"):
                source.abort()  # stopped inside an IMAP IDLE: no LOGOUT
            else:
                source.close()


@app.command("eval")
def eval_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Case files or directories.")],
    engine: Annotated[
        str, typer.Option("--engine", help="offline (rules and templates) or llm.")
    ] = "offline",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    min_pass_rate: Annotated[
        float, typer.Option("--min-pass-rate", help="Fail below this pass rate (0 to 1).")
    ] = 0.0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the report as Markdown.")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="With --engine llm: store the model's answers in DIR."),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option("--replay", help="With --engine llm: answer from DIR, never the network."),
    ] = None,
) -> None:
    """Run labeled cases through the reply and chase graphs and score the decisions."""
    import time

    from evals.cases import CaseError
    from evals.report import markdown, print_report, to_json
    from evals.run import run_cases

    if engine not in ("offline", "llm"):
        raise fail(f"--engine: expected offline or llm, got {engine!r}", 2)
    current = settings()
    if engine == "llm" and not current.llm_model:
        raise fail("--engine llm needs a model: set DUNNING_LLM_MODEL (and the endpoint)", 2)
    if (record or replay) and engine != "llm":
        raise fail("--record and --replay go with --engine llm", 2)
    if record and replay:
        raise fail("--record and --replay: choose one", 2)
    if replay is not None and not replay.is_dir():
        raise fail(f"--replay: {replay} is not a directory of recorded answers", 2)
    started = time.perf_counter()
    try:
        results = run_cases(paths, current, engine=engine, record=record, replay=replay)
    except CaseError as exc:
        raise fail(str(exc), 2) from None
    seconds = time.perf_counter() - started
    data = to_json(results)
    if as_json:
        print(json.dumps(data))
    else:
        print_report(console, results, seconds)
    if report is not None:
        report.write_text(markdown(results, seconds), encoding="utf-8")
    summary = data["summary"]
    if summary["critical_violations"] or summary["pass_rate"] < min_pass_rate:
        raise typer.Exit(1)


@app.command()
def simulate(
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="Simulated customers.")] = 200,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days.")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="First random seed.")] = 1,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Runs per strategy.")] = 3,
    strategy: Annotated[
        list[str] | None,
        typer.Option("--strategy", help="agent, fixed or none (repeat; default: all three)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plot_file: Annotated[
        Path | None, typer.Option("--plot", help="Draw cash collected over time (PNG).")
    ] = None,
) -> None:
    """Compare collection strategies on simulated customers, through the same graphs."""
    from evals.simulate import STRATEGIES, plot
    from evals.simulate import simulate as run_simulation

    chosen = strategy or list(STRATEGIES)
    unknown = [name for name in chosen if name not in STRATEGIES]
    if unknown:
        raise fail(f"--strategy: unknown {', '.join(unknown)} (use agent, fixed, none)", 2)
    data = run_simulation(
        accounts=accounts, days=days, seed=seed, seeds=seeds, strategies=list(dict.fromkeys(chosen))
    )
    if plot_file is not None:
        plot(data, plot_file)
    if as_json:
        print(json.dumps({k: data[k] for k in ("scenario", "strategies", "spread")}))
        return
    table = Table(
        title=f"{accounts} accounts, {days} days, mean of {seeds} seed(s) (± standard deviation)"
    )
    table.add_column("measure")
    for name in data["strategies"]:
        table.add_column(name, justify="right")

    def cell(name: str, key: str, day: str | None = None) -> str:
        mean, spread = data["strategies"][name][key], data["spread"][name][key]
        if day is not None:
            mean, spread = mean.get(day), spread.get(day)
        if mean is None:
            return "-"
        return f"{mean:,.2f} ± {spread:,.2f}" if spread else f"{mean:,.2f}"

    for day in ("30", "60", "90"):
        if any(day in data["strategies"][n]["cash_collected"] for n in data["strategies"]):
            table.add_row(
                f"cash collected by day {day}",
                *[cell(n, "cash_collected", day) for n in data["strategies"]],
            )
    for key, label in (
        ("messages_sent", "messages sent"),
        ("messages_per_1000_collected", "messages per 1,000 collected"),
        ("trust_violations", "trust violations"),
        ("escalations", "escalations to a person"),
        ("dso", "DSO (days)"),
        ("cei", "CEI (%)"),
        ("average_days_delinquent", "average days delinquent"),
    ):
        table.add_row(label, *[cell(n, key) for n in data["strategies"]])
    console.print(table)
    if plot_file is not None:
        console.print(f"plot: {plot_file}")


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--since: {value!r} is not a date (YYYY-MM-DD) or timestamp", 2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def decision_json(row: DecisionRow) -> dict[str, Any]:
    return {
        "at": row.at.isoformat(),
        "account": row.account_id,
        "invoices": row.invoices,
        "action": row.action,
        "stage": row.stage,
        "tone": row.tone,
        "reason": row.reason,
        "policy_version": row.policy_version,
        "engine": row.engine,
        "kind": row.kind,
        "intent": row.intent,
        "actor": row.actor,
    }


@app.command("log")
def log_cmd(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this date on.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only send, wait, hold, escalate, or a person's action."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    stats: Annotated[
        bool,
        typer.Option("--stats", help="Decisions, model calls, tokens and cost per day and engine."),
    ] = False,
) -> None:
    """Show the decision log."""
    actions = ("send", "wait", "hold", "escalate", "pause", "respond", "none", *HUMAN_ACTIONS)
    if action and action not in actions:
        raise fail(f"--action: {action!r} is not one of {', '.join(actions)}", 2)
    current = settings()
    engine = engine_for(current)
    if stats:
        _log_stats(engine, current, _parse_since(since), as_json)
        return
    with session_scope(engine) as session:
        rows = query_decisions(
            session, account_id=account, since=_parse_since(since), action=action, limit=limit
        )
    if as_json:
        for row in rows:
            print(json.dumps(decision_json(row)))
        return
    table = Table()
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("account", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    table.add_column("invoices", overflow="fold")
    table.add_column("reason", ratio=1, min_width=30)
    for row in rows:
        what = row.action
        if row.stage:
            what += f" {row.stage}" + (f" ({row.tone})" if row.tone else "")
        if row.actor:
            what += f"\nby {row.actor}"
        table.add_row(
            f"{row.at:%Y-%m-%d %H:%M}", row.account_id, what, "\n".join(row.invoices), row.reason
        )
    console.print(table)
    console.print(f"{len(rows)} decisions")


def _log_stats(engine: Any, current: Settings, since: datetime | None, as_json: bool) -> None:
    """Per day (UTC) and engine: decisions, model calls, tokens, and their estimated cost."""
    day = func.date(DecisionRow.at)
    query = select(
        day,
        DecisionRow.engine,
        func.count(),
        func.sum(DecisionRow.llm_calls),
        func.sum(DecisionRow.prompt_tokens),
        func.sum(DecisionRow.completion_tokens),
    ).group_by(day, DecisionRow.engine)
    if since is not None:
        query = query.where(DecisionRow.at >= to_utc(since))
    with session_scope(engine) as session:
        rows = session.exec(query.order_by(day, DecisionRow.engine)).all()
    prompt_price = current.llm_price_prompt_per_1k
    completion_price = current.llm_price_completion_per_1k
    lines = []
    for on, engine_name, count, calls, prompt, completion in rows:
        prompt, completion = int(prompt or 0), int(completion or 0)
        cost = (prompt * prompt_price + completion * completion_price) / 1000
        lines.append(
            {
                "day": str(on),
                "engine": engine_name,
                "decisions": count,
                "llm_calls": int(calls or 0),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "estimated_cost": float(round(cost, 6)),
            }
        )
    if as_json:
        for line in lines:
            print(json.dumps(line))
        return
    table = Table(title="decisions and model use per day (UTC) and engine")
    for column in (
        "day",
        "engine",
        "decisions",
        "model calls",
        "prompt tokens",
        "completion tokens",
        "estimated cost",
    ):
        table.add_column(column, justify="left" if column in ("day", "engine") else "right")
    for line in lines:
        table.add_row(
            line["day"],
            line["engine"],
            str(line["decisions"]),
            str(line["llm_calls"]),
            f"{line['prompt_tokens']:,}",
            f"{line['completion_tokens']:,}",
            f"{line['estimated_cost']:.4f}",
        )
    console.print(table)


def _local(at: datetime | None, timezone: str) -> str:
    if at is None:
        return "when something changes"
    return f"{at.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} {timezone}"


@app.command()
def show(account: str) -> None:
    """An account's timeline: invoices, messages, decisions."""
    engine = engine_for(settings())
    with session_scope(engine) as session:
        acct = session.get(Account, account)
        if acct is None:
            raise fail(f"no account {account!r}")
        contacts = session.exec(select(Contact).where(Contact.account_id == account)).all()
        invoices = session.exec(
            select(Invoice).where(Invoice.account_id == account).order_by(col(Invoice.due_date))
        ).all()
        messages = session.exec(
            select(Message).where(Message.account_id == account).order_by(col(Message.created_at))
        ).all()
        logged = query_decisions(session, account_id=account)
    flags = [f for f in ("human_flagged", "opted_out", "credit_hold") if getattr(acct, f)]
    console.print(
        f"[bold]{acct.name}[/bold] ({acct.id}) · {acct.timezone} · {acct.language}"
        f" · flags: {', '.join(flags) or 'none'}"
        f" · next look: {_local(acct.next_review_at, acct.timezone)}"
    )
    console.print("contacts: " + ", ".join(f"{c.email} ({c.role})" for c in contacts))
    inv_table = Table(title="invoices")
    inv_table.add_column("invoice", no_wrap=True)
    inv_table.add_column("issued", no_wrap=True)
    inv_table.add_column("due", no_wrap=True)
    inv_table.add_column("amount", justify="right", no_wrap=True)
    inv_table.add_column("balance", justify="right", no_wrap=True)
    inv_table.add_column("status", no_wrap=True)
    for inv in invoices:
        inv_table.add_row(
            inv.number,
            str(inv.issue_date),
            str(inv.due_date),
            f"{inv.amount:,.2f} {inv.currency}",
            f"{inv.balance:,.2f} {inv.currency}",
            inv.status,
        )
    console.print(inv_table)
    timeline: list[tuple[datetime, str]] = []
    for msg in messages:
        when = msg.sent_at or msg.created_at
        timeline.append(
            (
                when,
                f"message {msg.state}: {msg.stage}/{msg.tone} — {msg.subject} ({msg.message_id})",
            )
        )
    for row in logged:
        what = f"decision {row.action}" + (f" {row.stage}" if row.stage else "")
        timeline.append((row.at, f"{what} — {row.reason}"))
    table = Table(title="timeline")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("event")
    for when, text in sorted(timeline, key=lambda item: item[0]):
        table.add_row(f"{when:%Y-%m-%d %H:%M}", text)
    console.print(table)


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Simulated days.")] = 60,
    accounts: Annotated[int, typer.Option(help="Accounts in the sample ledger.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo ledger and outbox go.")
    ] = Path("dunning-demo"),
    start: Annotated[str | None, typer.Option(help="First simulated day (default: today).")] = None,
) -> None:
    """Seed a sample ledger and chase it day by day: no server, no API key."""
    from agent.demo import run_demo

    first = date.fromisoformat(start) if start else date.today()
    run_demo(
        directory=directory, days=days, accounts=accounts, seed=seed, start=first, console=console
    )


# the human loop and the daemon live in their own modules; importing them registers
# their commands on ``app``
from agent import cli_daemon, cli_human  # noqa: E402, F401
