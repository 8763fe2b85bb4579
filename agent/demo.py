"""``dunning demo``: a sample ledger chased through simulated days, no server, no key.

It seeds a SQLite ledger under ``--dir``, then for each simulated day lets the
sample customers pay and answer (``agent.demo_replies``: small, documented
stand-ins for the simulator of the eval issue), imports the day's new invoices from
a CSV export (as ``dunning import invoices`` does), reads the customers' emails from
the local Maildir inbox through the reply graph (as ``dunning inbox`` does), and
runs the same chase pass as ``dunning run --as-of DAY``. Sent messages land in the
Maildir outbox under ``--dir``. It prints what the agent did each day and why, and
a summary at the end. Re-running starts fresh.
"""

from __future__ import annotations

import csv
import hashlib
import random
import shutil
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col, func, select

from agent.clock import DayClock
from agent.config import Settings, load_settings
from agent.demo_replies import Replies, when_paid
from agent.inbox_pass import ReplyOutcome
from agent.policy import payer_profile
from agent.policy_config import PolicyConfig
from agent.runtime import open_engine, open_runtime
from tools.importer import apply_payment, import_invoices
from tools.ledger import load_snapshot
from tools.seed import seed_ledger
from tools.tables import Account, Contact, EscalationRow, Invoice, Message

DAILY_PAY_CHANCE = {"prompt": 0.12, "usual": 0.03, "late": 0.012}
"""Demo customers: the chance a customer pays an open, due invoice on a given day."""
REMINDER_LIFT = 3.0
"""...multiplied in the five days after a message that named the invoice."""


def demo_settings(directory: Path) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{directory / 'dunning.db'}",
        outbox_dir=directory / "outbox",
        inbox_dir=directory / "inbox",
        smtp_host=None,
        company_name="Northwind Supplies Ltd",
        from_address="ar@northwind.example",
        reply_to="ar@northwind.example",
    )


def _customers_pay(
    session: Session,
    day: date,
    rng: random.Random,
    collected: dict[str, Decimal],
    policy: PolicyConfig,
    promised: list[str],
) -> list[str]:
    """The sample customers' payments for ``day`` (``promised``: invoices a customer said
    it would pay today and does); returns lines to print."""
    lines = []
    recent = day - timedelta(days=5)
    nudged: set[str] = set()
    for invoices in session.exec(
        select(Message.invoices).where(Message.state == "sent", Message.local_day >= recent)
    ).all():
        nudged.update(invoices)
    profiles: dict[str, str] = {}
    open_invoices = session.exec(
        select(Invoice).where(Invoice.status == "open").order_by(col(Invoice.number))
    ).all()
    for invoice in open_invoices:
        if invoice.due_date - day > timedelta(days=3):
            continue
        if invoice.account_id not in profiles:
            snapshot = load_snapshot(session, invoice.account_id, "{invoice_number}")
            profiles[invoice.account_id] = payer_profile(snapshot.history, policy)
        chance = DAILY_PAY_CHANCE[profiles[invoice.account_id]]
        if invoice.number in nudged:
            chance *= REMINDER_LIFT
        if invoice.number in promised:
            chance = 1.0
        if rng.random() >= chance:
            continue
        amount = invoice.balance
        if rng.random() < 0.15 and amount > 100:
            amount = (amount / 2).quantize(Decimal("0.01"))
        now = datetime.combine(day, time(9, 0), tzinfo=UTC)
        apply_payment(session, invoice, amount, day, f"demo-{day}", now)
        collected[invoice.currency] = collected.get(invoice.currency, Decimal(0)) + amount
        lines.append(f"{invoice.account_id} paid {amount} {invoice.currency} on {invoice.number}")
    session.commit()
    return lines


BILLING_CYCLE_DAYS = 30
"""Demo customers are billed every 30 days (net 30), each on its own day of the cycle."""


def _bill(session: Session, day: date, exports: Path, rng: random.Random) -> list[str]:
    """Write the day's invoice export, as an accounting system would, and import it."""
    rows = []
    for account in session.exec(select(Account).order_by(col(Account.id))).all():
        digest = hashlib.sha256(account.id.encode()).digest()
        if (day.toordinal() - digest[0]) % BILLING_CYCLE_DAYS:
            continue
        contact = session.exec(select(Contact).where(Contact.account_id == account.id)).first()
        last = session.exec(
            select(Invoice)
            .where(Invoice.account_id == account.id)
            .order_by(col(Invoice.issue_date).desc())
        ).first()
        if contact is None or last is None:
            continue
        amount = Decimal(rng.randrange(20_000, 900_000)) / 100
        rows.append(
            {
                "customer_id": account.id,
                "customer_name": account.name,
                "email": contact.email,
                "invoice_number": f"INV-{account.id}-{day:%y%m%d}",
                "issue_date": day.isoformat(),
                "due_date": (day + timedelta(days=30)).isoformat(),
                "amount": f"{amount:.2f}",
                "currency": last.currency,
                "balance": f"{amount:.2f}",
                "timezone": account.timezone,
                "language": account.language,
            }
        )
    if not rows:
        return []
    exports.mkdir(parents=True, exist_ok=True)
    path = exports / f"invoices-{day}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import_invoices(session, path, now=datetime.combine(day, time(7, 0), tzinfo=UTC))
    session.commit()
    return [
        f"{row['customer_id']} billed {row['amount']} {row['currency']}"
        f" ({row['invoice_number']}, due {row['due_date']})"
        for row in rows
    ]


def run_demo(
    *, directory: Path, days: int, accounts: int, seed: int, start: date, console: Console
) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    settings = demo_settings(directory)
    engine = open_engine(settings)
    report = seed_ledger(
        engine, accounts=accounts, seed=seed, as_of=start, now=DayClock(start).now()
    )
    console.print(
        f"[bold]dunning demo[/bold]: {report.accounts} accounts, {report.open_invoices} open "
        f"invoices, {days} simulated days from {start}; outbox: {settings.outbox_dir}/new"
    )
    with Session(engine) as session:
        opening = _open_balances(session)
    rng = random.Random(seed)
    collected: dict[str, Decimal] = {}
    totals: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    customers = Replies(settings.inbox_dir, random.Random(seed + 1))
    intents: Counter[str] = Counter()
    with open_runtime(settings, engine=engine) as runtime:
        inbox = runtime.open_inbox()
        for offset in range(days):
            day = start + timedelta(days=offset)
            with Session(engine) as session:
                billed = _bill(session, day, directory / "exports", rng)
                paid = _customers_pay(
                    session, day, rng, collected, settings.policy, when_paid(customers, day)
                )
                written = customers.write(session, day)
            runtime.deps.clock = DayClock(day, settings.policy.time_in_window)
            read = runtime.poll_inbox(inbox)
            intents.update(outcome.intent or outcome.status for outcome in read)
            summary = runtime.run_pass()
            totals.update(
                summary.counts()
                | {"payments": len(paid), "invoices": len(billed), "replies": len(read)}
            )
            shown = [d for d in summary.decisions if d["action"] != "wait" or d.get("stage")]
            if not (billed or paid or shown or read):
                continue
            console.rule(f"{day:%a %Y-%m-%d}  (day {offset + 1})", style="dim")
            for line in billed:
                console.print(f"  [blue]invoice[/blue]  {line}", highlight=False)
            for line in paid:
                console.print(f"  [green]payment[/green]  {line}", highlight=False)
            for line in written:
                console.print(f"  [magenta]email[/magenta]    {line}", highlight=False)
            for outcome in read:
                console.print("  " + _describe_reply(outcome), highlight=False)
            for item in shown:
                if item["action"] == "send":
                    stages[item["stage"]] += 1
                console.print("  " + _describe(item), highlight=False)
            quiet = summary.waited - sum(1 for d in shown if d["action"] == "wait")
            if quiet:
                noun = "account" if quiet == 1 else "accounts"
                console.print(f"  [dim]{quiet} more {noun} looked at, nothing due[/dim]")
    with Session(engine) as session:
        closing = _open_balances(session)
        escalations = session.exec(
            select(func.count())
            .select_from(EscalationRow)
            .where(col(EscalationRow.resolved_at).is_(None))
        ).one()
        flagged = session.exec(
            select(func.count()).select_from(Account).where(col(Account.human_flagged))
        ).one()
    _summary(
        console,
        totals,
        stages,
        intents,
        (opening, closing, collected),
        escalations,
        flagged,
        settings,
    )


COLOURS = {
    "send": "cyan",
    "hold": "yellow",
    "escalate": "red",
    "wait": "dim",
    "pause": "yellow",
    "respond": "cyan",
    "none": "dim",
    "quarantine": "red",
}


def _describe_reply(outcome: ReplyOutcome) -> str:
    action = outcome.action or "none"
    colour = COLOURS.get(action, "white")
    who = outcome.account or "unmatched"
    return (
        f"[{colour}]read     [/{colour}] {who} {outcome.intent or ''} -> {action} "
        f"\u2014 {outcome.reason}"
    )


def _describe(item: dict) -> str:
    action = item["action"]
    head = f"[{COLOURS[action]}]{action:<8}[/{COLOURS[action]}] {item['account']}"
    if action == "send":
        head += f" {item['stage']} ({item['tone']}) \u201c{item['subject']}\u201d"
    return f"{head} \u2014 {item['reason']}"


def _open_balances(session: Session) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for currency, balance in session.exec(
        select(Invoice.currency, Invoice.balance).where(Invoice.status == "open")
    ).all():
        totals[currency] = totals.get(currency, Decimal(0)) + balance
    return totals


def _summary(
    console: Console,
    totals: Counter[str],
    stages: Counter[str],
    intents: Counter[str],
    money: tuple[dict[str, Decimal], dict[str, Decimal], dict[str, Decimal]],
    escalations: int,
    flagged: int,
    settings: Settings,
) -> None:
    table = Table(title="what the agent did", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("account looks (passes x due accounts)", str(totals["accounts_looked_at"]))
    table.add_row("messages sent", str(totals["sent"]))
    for stage in ("reminder", "first_overdue", "escalation", "final_notice"):
        table.add_row(f"  {stage}", str(stages[stage]))
    table.add_row("sends deferred to the sending window", str(totals["deferred"]))
    table.add_row("holds (promise, dispute, flag, absence...)", str(totals["held"]))
    table.add_row("escalated to a person", str(totals["escalated"]))
    table.add_row("escalations open at the end", str(escalations))
    table.add_row("accounts flagged by a person", str(flagged))
    table.add_row("customer emails read", str(totals["replies"]))
    for intent, count in sorted(intents.items()):
        table.add_row(f"  {intent}", str(count))
    table.add_row("new invoices imported", str(totals["invoices"]))
    table.add_row("customer payments", str(totals["payments"]))
    opening, closing, collected = money
    zero = Decimal(0)
    for currency in sorted(set(opening) | set(closing)):
        before, after = opening.get(currency, zero), closing.get(currency, zero)
        table.add_row(f"{currency} collected", f"{collected.get(currency, zero):,.2f}")
        table.add_row(f"{currency} open: start \u2192 end", f"{before:,.2f} \u2192 {after:,.2f}")
    console.print(table)
    command = Path(sys.argv[0])
    shown = command.name if command.is_absolute() or command.name != "dunning" else command
    console.print(
        f"Every decision is in the log: [bold]DUNNING_DATABASE_URL={settings.database_url} "
        f"{shown} log[/bold] (or [bold]show ACCOUNT[/bold]); each sent message is a file "
        f"in [bold]{settings.outbox_dir}/new[/bold].",
        highlight=False,
    )
