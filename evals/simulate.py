"""``dunning simulate``: a synthetic ledger through simulated time, with simulated
customers (``evals.personas``), comparing collection strategies side by side.

- ``agent``: this project. Each simulated day the customers' emails are read from
  the Maildir inbox through the reply graph and the chase pass runs, exactly as
  ``dunning inbox`` and ``dunning run`` do, through the Maildir outbox. A simulated
  AR clerk closes escalations after ``CLERK_DAYS`` (a resolved dispute lets the
  customer pay; a contact who left is replaced by the new one).
- ``fixed``: the classic four-stage cadence, one message per invoice and stage on
  the day the stage starts, sent through the same outbox, ignoring every reply.
- ``none``: no reminders.

The customers read what arrives in the outbox addressed to them and answer with
real emails into the inbox (a promise, a dispute, a request for the invoice copy,
an out-of-office, a bounce or a redirect), and pay by their persona's chances.

Metrics per strategy: cash collected by day 30, 60 and 90; DSO, CEI and average
days delinquent over the run; messages sent, messages per 1,000 collected; trust
violations; escalations to a person. Means over seeds, with standard deviations.
"""

from __future__ import annotations

import mailbox
import random
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from agent.clock import DayClock, to_utc
from agent.config import Settings, load_settings
from agent.demo_replies import delivery_report
from agent.runtime import open_engine, open_runtime
from agent.snapshot import Decision
from evals import personas as P
from tools.drafting import draft_message
from tools.importer import apply_payment
from tools.ledger import load_snapshot
from tools.mail import compose, make_message_id
from tools.outbox import message_key
from tools.tables import Account, Contact, EscalationRow, Invoice
from tools.transports import MaildirTransport

STRATEGIES = ("agent", "fixed", "none")
CLERK_DAYS = 5
"""A person closes an escalation this many days after it opened."""
FIXED_SCHEDULE = (("reminder", -3), ("first_overdue", 3), ("escalation", 15), ("final_notice", 45))
CHECKPOINTS = (30, 60, 90)
START = date(2026, 1, 5)
SENDER = "ar@vendor.example"
_HEADERS = BytesHeaderParser(policy=compat32)


@dataclass
class Customer:
    account_id: str
    persona: P.Persona
    email: str
    goodwill: float = 1.0
    answered: bool = False
    last_nudge: date | None = None
    promise_until: date | None = None
    promise_pay: date | None = None
    disputed: bool = False
    dispute_resolved: bool = False
    copy_on: date | None = None
    away_until: date | None = None
    contact_fixed: bool = False
    violations: int = 0


@dataclass
class RunResult:
    strategy: str
    seed: int
    cash: dict[int, Decimal] = field(default_factory=dict)
    daily_cash: list[float] = field(default_factory=list)
    messages_sent: int = 0
    trust_violations: int = 0
    escalations: int = 0
    dso: float = 0.0
    cei: float = 0.0
    add: float = 0.0
    collected: Decimal = Decimal(0)

    def metrics(self) -> dict[str, Any]:
        per_1000 = float(self.messages_sent / (self.collected / 1000)) if self.collected else None
        return {
            "cash_collected": {str(day): float(value) for day, value in self.cash.items()},
            "messages_sent": self.messages_sent,
            "messages_per_1000_collected": per_1000,
            "trust_violations": self.trust_violations,
            "escalations": self.escalations,
            "dso": round(self.dso, 2),
            "cei": round(self.cei, 2),
            "average_days_delinquent": round(self.add, 2),
        }


class World:
    """One strategy's run: a ledger, the Maildir pair and the customers."""

    def __init__(self, strategy: str, accounts: int, days: int, seed: int) -> None:
        self.strategy, self.days, self.seed = strategy, days, seed
        self.rng = random.Random(seed)  # the same customers and invoices for every strategy
        self.dir = Path(tempfile.mkdtemp(prefix=f"dunning-sim-{strategy}-"))
        self.settings: Settings = load_settings(
            database_url=f"sqlite:///{self.dir / 'ledger.db'}",
            outbox_dir=self.dir / "outbox",
            inbox_dir=self.dir / "inbox",
            smtp_host=None,
            imap_host=None,
            from_address=SENDER,
            company_name="Vendor Supplies Ltd",
            workers=1,
        )
        self.engine = open_engine(self.settings)
        self.customers: dict[str, Customer] = {}
        self.by_email: dict[str, Customer] = {}
        self.outbox = mailbox.Maildir(self.settings.outbox_dir, create=True)
        self.inbox = mailbox.Maildir(self.settings.inbox_dir, create=True)
        self.seen: set[str] = set()
        self.fixed_sent: set[tuple[str, str]] = set()
        self.result = RunResult(strategy, seed)
        self.billed = Decimal(0)
        self.opening = Decimal(0)
        self._seed(accounts)

    # ------------------------------------------------------------------ the ledger

    def _seed(self, count: int) -> None:
        now = to_utc(datetime.combine(START, time(8), tzinfo=UTC))
        with Session(self.engine) as session:
            for n in range(count):
                persona = P.pick_persona(self.rng)
                account_id = f"S-{n:05d}"
                email = f"ap@customer{n}.example"
                customer = Customer(account_id, persona, email)
                self.customers[account_id] = customer
                self.by_email[email] = customer
                session.add(
                    Account(
                        id=account_id,
                        name=f"Customer {n} Ltd",
                        next_review_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                session.add(Contact(account_id=account_id, email=email))
                delay = {"prompt": (0, 3), "non_responder": (20, 45)}.get(persona.name, (2, 20))
                for k in range(4):  # history: the tone rule reads it
                    due = START - timedelta(days=40 + 30 * k)
                    amount = self._amount()
                    session.add(
                        Invoice(
                            number=f"H-{account_id}-{k}",
                            account_id=account_id,
                            currency="USD",
                            amount=amount,
                            balance=Decimal(0),
                            issue_date=due - timedelta(days=30),
                            due_date=due,
                            status="paid",
                            paid_date=due + timedelta(days=self.rng.randint(*delay)),
                        )
                    )
                for k in range(self.rng.choice((1, 1, 2))):
                    due = START + timedelta(days=self.rng.randint(-25, 25))
                    amount = self._amount()
                    self.opening += amount
                    session.add(self._invoice(account_id, f"O{k}", due, amount))
            session.commit()

    def _amount(self) -> Decimal:
        return Decimal(int(self.rng.lognormvariate(7.3, 0.6) * 100)) / 100

    def _invoice(self, account_id: str, suffix: str, due: date, amount: Decimal) -> Invoice:
        return Invoice(
            number=f"INV-{account_id}-{suffix}",
            account_id=account_id,
            currency="USD",
            amount=amount,
            balance=amount,
            issue_date=due - timedelta(days=30),
            due_date=due,
        )

    def _bill(self, session: Session, day: date) -> None:
        for n, account_id in enumerate(self.customers):
            if day == START or (day - START).days % 30 != n % 30:
                continue
            amount = self._amount()
            self.billed += amount
            session.add(
                self._invoice(account_id, f"{day:%y%m%d}", day + timedelta(days=30), amount)
            )
            account = session.get(Account, account_id)
            if account is not None:
                account.next_review_at = to_utc(datetime.combine(day, time(0), tzinfo=UTC))
                session.add(account)
        session.commit()

    # ------------------------------------------------------------------ customers

    def _read_outbox(self, day: date) -> None:
        """Customers read the messages addressed to them and answer some."""
        for key in sorted(set(self.outbox.keys()) - self.seen):
            self.seen.add(key)
            raw = self.outbox.get_bytes(key)
            headers = _HEADERS.parsebytes(raw)
            to = str(headers.get("To") or "").strip().lower()
            customer = self.by_email.get(to)
            if customer is None:
                continue
            stage = str(headers.get("X-Dunning-Stage") or "")
            if stage == "answer":
                customer.copy_on = customer.copy_on or day
                continue
            self._received_chase(customer, day)
            if not customer.answered and customer.persona.replies:
                self._answer(customer, headers, raw, day)

    def _received_chase(self, customer: Customer, day: date) -> None:
        customer.last_nudge = day
        promise_holds = customer.promise_until is not None and day <= customer.promise_until
        dispute_open = customer.disputed and not customer.dispute_resolved
        if promise_holds or dispute_open:
            customer.violations += 1
            self.result.trust_violations += 1
            customer.goodwill = max(P.GOODWILL_FLOOR, customer.goodwill * P.GOODWILL_HIT)

    def _answer(self, customer: Customer, headers: Any, raw: bytes, day: date) -> None:
        customer.answered = True
        kind = customer.persona.replies
        subject = str(headers.get("Subject") or "")
        message_id = str(headers.get("Message-ID") or "")
        reply_to = str(headers.get("Reply-To") or SENDER)
        numbers = ", ".join(_numbers(subject)) or "the invoice"
        when = datetime.combine(day, time(9, 5), tzinfo=UTC)
        if kind == "left" and self.rng.random() < 0.5:
            self.inbox.add(delivery_report(message_id, subject, customer.email, when, message_id))
            return
        email = EmailMessage()
        email["From"] = customer.email
        email["To"] = reply_to
        email["Subject"] = f"Re: {subject}"
        email["Date"] = format_datetime(when)
        email["Message-ID"] = f"<sim.{customer.account_id}.{day:%Y%m%d}@customer.example>"
        email["In-Reply-To"] = message_id
        email["References"] = message_id
        if kind == "promise":
            promised = P.promised_day(self.rng, day)
            customer.promise_until = promised + timedelta(days=3)
            if self.rng.random() < customer.persona.promise_keep:
                customer.promise_pay = promised
            text = P.promise_text(self.rng, numbers, promised, day)
        elif kind == "dispute":
            customer.disputed = True
            text = P.dispute_text(self.rng, numbers)
        elif kind == "copy":
            text = P.copy_text(self.rng, numbers)
        elif kind == "away":
            back = day + timedelta(days=9)
            customer.away_until = back
            email.replace_header("Subject", f"Automatic reply: {subject}")
            email["Auto-Submitted"] = "auto-replied"
            text = P.away_text(self.rng, back)
        else:
            text = P.redirect_text(self.rng, f"finance@customer{customer.account_id[2:]}.example")
        body = raw.split(b"\n\n", 1)[-1].decode("utf-8", "replace").splitlines()[:8]
        quoted = "\n".join(f"> {line}" for line in body)
        email.set_content(f"{text}\nOn {day - timedelta(days=1)}, Vendor wrote:\n{quoted}\n")
        self.inbox.add(email.as_bytes())

    def _chance(self, customer: Customer, invoice: Invoice, day: date) -> float:
        persona = customer.persona
        age = (day - invoice.due_date).days
        if -3 <= age <= 5:
            chance = persona.on_time_chance
        elif age > 5:
            chance = persona.late_chance
        else:
            chance = persona.on_time_chance * 0.05
        since = None if customer.last_nudge is None else (day - customer.last_nudge).days
        if persona.nudge_chance and since is not None and 2 <= since <= 5:
            chance = max(chance, persona.nudge_chance)
        if persona.replies == "dispute" and customer.disputed:
            chance = 0.15 if customer.dispute_resolved else 0.0
        if persona.replies == "copy":
            chance = 0.4 if customer.copy_on and day >= customer.copy_on + timedelta(2) else 0.0
        if persona.replies == "away" and customer.away_until and day < customer.away_until:
            chance = 0.0
        if persona.replies == "left":
            chance = 0.15 if customer.contact_fixed else 0.0
        if since is not None and since <= P.LIFT_DAYS:
            chance *= 1 + P.REMINDER_LIFT
        return chance * customer.goodwill

    def _pay(self, session: Session, day: date) -> None:
        invoices = session.exec(
            select(Invoice).where(Invoice.status == "open").order_by(Invoice.number)
        ).all()
        for invoice in invoices:
            customer = self.customers[invoice.account_id]
            promised = customer.promise_pay is not None and customer.promise_pay == day
            if not promised and self.rng.random() >= self._chance(customer, invoice, day):
                continue
            now = datetime.combine(day, time(7), tzinfo=UTC)
            apply_payment(session, invoice, invoice.balance, day, f"sim-{day}", now)
            self.result.collected += invoice.amount
        session.commit()

    # ------------------------------------------------------------------ strategies

    def _fixed(self, session: Session, day: date) -> None:
        transport = MaildirTransport(self.settings.outbox_dir)
        for invoice in session.exec(select(Invoice).where(Invoice.status == "open")).all():
            age = (day - invoice.due_date).days
            for stage, start in FIXED_SCHEDULE:
                if age < start or (invoice.number, stage) in self.fixed_sent:
                    continue
                self.fixed_sent.add((invoice.number, stage))
                if age > start + 3:
                    continue  # a stage whose day passed before the run started
                snapshot = load_snapshot(session, invoice.account_id, "{invoice_number}")
                tone = {"reminder": "friendly", "first_overdue": "neutral"}.get(stage, "firm")
                tone = "final" if stage == "final_notice" else tone
                draft = draft_message(
                    snapshot,
                    Decision("send", "fixed cadence", stage, tone, (invoice.number,)),  # type: ignore[arg-type]
                    day,
                    self.settings.company_name,
                )
                key = message_key(invoice.account_id, stage, (invoice.number,), day)
                to = self.customers[invoice.account_id].email
                email = compose(
                    message_id=make_message_id(key, "vendor.example"),
                    from_addr=SENDER,
                    from_name="Vendor Supplies Ltd",
                    reply_to=SENDER,
                    to=[to],
                    subject=draft.subject,
                    body=draft.body,
                    date=datetime.combine(day, time(10), tzinfo=UTC),
                    headers={"X-Dunning-Stage": stage},
                )
                transport.send(email)
                self.result.messages_sent += 1

    def _clerk(self, session: Session, day: date) -> None:
        """A person closes escalations after ``CLERK_DAYS``."""
        rows = session.exec(
            select(EscalationRow).where(EscalationRow.resolved_at.is_(None))  # type: ignore[union-attr]
        ).all()
        for row in rows:
            if (day - row.opened_on).days < CLERK_DAYS:
                continue
            row.resolved_at = to_utc(datetime.combine(day, time(16), tzinfo=UTC))
            row.resolved_on = day
            row.resolved_by = "simulated clerk"
            session.add(row)
            customer = self.customers[row.account_id]
            if customer.disputed:
                customer.dispute_resolved = True
                session.execute(
                    sa.text(
                        "UPDATE disputes SET resolved_at = :at, resolved_by = 'simulated clerk' "
                        "WHERE account_id = :a AND resolved_at IS NULL"
                    ),
                    {"at": row.resolved_at, "a": row.account_id},
                )
            if customer.persona.replies == "left" and not customer.contact_fixed:
                customer.contact_fixed = True
                new = f"finance@customer{row.account_id[2:]}.example"
                for contact in session.exec(
                    select(Contact).where(Contact.account_id == row.account_id)
                ).all():
                    contact.email, contact.undeliverable = new, False
                    session.add(contact)
                self.by_email[new] = customer
                customer.email = new
            account = session.get(Account, row.account_id)
            if account is not None:
                account.next_review_at = row.resolved_at
                session.add(account)
        session.commit()

    # ------------------------------------------------------------------ the run

    def run(self) -> RunResult:
        try:
            if self.strategy == "agent":
                with open_runtime(self.settings, engine=self.engine) as runtime:
                    inbox = runtime.open_inbox()
                    self._days(runtime, inbox)
            else:
                self._days(None, None)
            self._finish()
            return self.result
        finally:
            self.engine.dispose()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _days(self, runtime: Any, inbox: Any) -> None:
        for offset in range(self.days):
            day = START + timedelta(days=offset)
            with Session(self.engine) as session:
                self._bill(session, day)
                self._read_outbox(day)
                self._pay(session, day)
            if self.strategy == "agent":
                runtime.deps.clock = DayClock(day, self.settings.policy.time_in_window)
                runtime.poll_inbox(inbox)
                runtime.run_pass(keep_decisions=False)
                with Session(self.engine) as session:
                    self._clerk(session, day)
            elif self.strategy == "fixed":
                with Session(self.engine) as session:
                    self._fixed(session, day)
            self.result.daily_cash.append(float(self.result.collected))
            if offset + 1 in CHECKPOINTS:
                self.result.cash[offset + 1] = self.result.collected

    def _finish(self) -> None:
        end = START + timedelta(days=self.days)
        with Session(self.engine) as session:
            open_rows = session.exec(select(Invoice).where(Invoice.status == "open")).all()
            ending = sum((inv.balance for inv in open_rows), Decimal(0))
            current = sum((inv.balance for inv in open_rows if inv.due_date >= end), Decimal(0))
            self.result.escalations = len(session.exec(select(EscalationRow)).all())
        if self.strategy == "agent":
            self.result.messages_sent = len(self.outbox.keys())
        sales = self.billed or Decimal(1)
        self.result.dso = float(ending / sales * self.days)
        best = float(current / sales * self.days)
        self.result.add = self.result.dso - best
        receivable = self.opening + self.billed
        denominator = receivable - current
        self.result.cei = float((receivable - ending) / denominator * 100) if denominator else 0.0


def _numbers(subject: str) -> list[str]:
    return [word.strip(",:") for word in subject.split() if word.startswith("INV-")]


def simulate(
    *, accounts: int, days: int, seed: int, seeds: int, strategies: list[str]
) -> dict[str, Any]:
    """Means over ``seeds`` runs per strategy, with a ``spread`` of standard deviations."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in strategies}
    curves: dict[str, list[list[float]]] = {name: [] for name in strategies}
    for k in range(seeds):
        for name in strategies:
            result = World(name, accounts, days, seed + k).run()
            runs[name].append(result.metrics())
            curves[name].append(result.daily_cash)
    means: dict[str, Any] = {}
    spread: dict[str, Any] = {}
    for name, items in runs.items():
        means[name], spread[name] = _aggregate(items)
    return {
        "scenario": {"accounts": accounts, "days": days, "seed": seed, "seeds": seeds},
        "strategies": means,
        "spread": spread,
        "runs": runs,
        "curves": {
            name: [statistics.fmean(day) for day in zip(*items, strict=True)]
            for name, items in curves.items()
        },
    }


def plot(data: dict[str, Any], path: Path) -> None:
    """Cash collected over the simulated days, one line per strategy (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name, curve in data["curves"].items():
        axes.plot(range(1, len(curve) + 1), curve, label=name)
    scenario = data["scenario"]
    axes.set_title(
        f"Cash collected: {scenario['accounts']} accounts, mean of {scenario['seeds']} seeds"
    )
    axes.set_xlabel("simulated day")
    axes.set_ylabel("cash collected")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _aggregate(items: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    def stats(values: list[float]) -> tuple[float, float]:
        mean = statistics.fmean(values)
        return round(mean, 2), round(statistics.pstdev(values), 2) if len(values) > 1 else 0.0

    mean: dict[str, Any] = {}
    sd: dict[str, Any] = {}
    for key in items[0]:
        if key == "cash_collected":
            mean[key], sd[key] = {}, {}
            for day in items[0][key]:
                mean[key][day], sd[key][day] = stats([item[key][day] for item in items])
        else:
            values = [item[key] for item in items if item[key] is not None]
            mean[key], sd[key] = stats(values) if values else (None, None)
    return mean, sd
