"""Tests of ``tools.seed``: the synthetic ledger is deterministic, realistic, consistent
with the default policy, and gives a pass on ``as_of`` work of every kind."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from agent.clock import DayClock
from agent.policy import decide
from agent.policy_config import PolicyConfig
from agent.snapshot import STAGES, stage_rank
from tools.db import make_engine, migrate
from tools.ledger import load_snapshot
from tools.outbox import message_key
from tools.seed import SeedReport, seed_ledger
from tools.tables import (
    Account,
    Contact,
    DisputeRow,
    EscalationRow,
    HoldRow,
    Invoice,
    Message,
    Payment,
    PromiseRow,
)

AS_OF = date(2026, 3, 11)  # a Wednesday
NOW = datetime(2026, 3, 11, 5, 30, tzinfo=UTC)
POLICY = PolicyConfig()
TABLES: tuple[Any, ...] = (
    Account,
    Contact,
    Invoice,
    Payment,
    Message,
    PromiseRow,
    HoldRow,
    DisputeRow,
    EscalationRow,
)


def fresh_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every seeded row of every table, in primary-key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for model in TABLES:
            table = model.__table__
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(row) for row in rows]
    return out


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(model.__table__)
        for clause in where:
            query = query.where(clause)
        return int(conn.execute(query).scalar_one())


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, SeedReport]:
    engine = fresh_engine(tmp_path_factory.mktemp("seed") / "ledger.db")
    report = seed_ledger(engine, accounts=200, seed=11, as_of=AS_OF, now=NOW)
    return engine, report


def test_same_seed_gives_the_same_ledger_and_another_seed_another(tmp_path: Path) -> None:
    ledgers = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        engine = fresh_engine(tmp_path / f"{name}.db")
        seed_ledger(engine, accounts=40, seed=seed, as_of=AS_OF, now=NOW)
        ledgers.append(dump(engine))
    assert ledgers[0] == ledgers[1]
    assert ledgers[0]["accounts"]  # not trivially equal
    assert ledgers[0]["invoices"] != ledgers[2]["invoices"]
    assert ledgers[0]["accounts"] != ledgers[2]["accounts"]


def test_report_matches_the_tables(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    assert report.accounts == count(engine, Account) == 200
    assert count(engine, Contact) == 200
    assert report.invoices == count(engine, Invoice)
    assert report.open_invoices == count(engine, Invoice, Invoice.__table__.c.status == "open")
    assert report.payments == count(engine, Payment)
    assert report.messages == count(engine, Message, Message.__table__.c.state == "sent")
    assert report.promises == count(engine, PromiseRow)
    assert report.disputes == count(engine, DisputeRow)
    assert report.holds == count(engine, HoldRow)
    assert report.escalations == count(engine, EscalationRow)
    assert report.flagged == count(engine, Account, Account.__table__.c.human_flagged)
    assert 4.5 <= report.invoices / report.accounts <= 5.5
    assert report.accounts <= report.open_invoices <= 3 * report.accounts
    # every situation is there, on a small share of the accounts
    assert 1 <= report.flagged <= 10
    assert 1 <= count(engine, Account, Account.__table__.c.opted_out) <= 10
    assert 1 <= report.disputes <= 10
    assert 2 <= report.promises <= 20  # active and broken
    assert 2 <= report.holds <= 20  # paid claims and absences
    assert 1 <= report.escalations <= 10


def test_every_account_is_due_for_the_first_pass(seeded: tuple[Engine, SeedReport]) -> None:
    engine, report = seeded
    with Session(engine) as session:
        reviews = session.scalars(select(Account.next_review_at)).all()
        assert len(reviews) == report.accounts and set(reviews) == {NOW}


def test_money_names_and_dates_look_real(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    with Session(engine) as session:
        accounts = {a.id: a for a in session.exec(select_rows(Account)).all()}
        contacts = session.exec(select_rows(Contact)).all()
        invoices = session.exec(select_rows(Invoice)).all()
        payments = session.exec(select_rows(Payment)).all()
    paid_on: dict[int, list[Payment]] = defaultdict(list)
    for payment in payments:
        assert isinstance(payment.amount, Decimal)
        assert payment.amount > 0 and payment.amount.as_tuple().exponent == -2
        assert payment.paid_date < AS_OF
        paid_on[payment.invoice_id].append(payment)
    assert len({p.key for p in payments}) == len(payments)
    for invoice in invoices:
        account = accounts[invoice.account_id]
        assert isinstance(invoice.amount, Decimal) and isinstance(invoice.balance, Decimal)
        assert invoice.amount.as_tuple().exponent == -2
        assert Decimal("100") <= invoice.amount <= Decimal("100000")
        assert invoice.issue_date < invoice.due_date and invoice.issue_date <= AS_OF
        assert invoice.currency in {"USD", "EUR", "GBP", "AUD"}
        if account.language == "de":
            assert invoice.currency == "EUR"
        received = sum((p.amount for p in paid_on[invoice.id]), Decimal(0))
        assert invoice.amount - received == invoice.balance
        if invoice.status == "paid":
            assert invoice.balance == 0 and invoice.paid_date is not None
            assert invoice.paid_date < AS_OF
        else:
            assert invoice.status == "open" and 0 < invoice.balance <= invoice.amount
            assert AS_OF - timedelta(days=81) <= invoice.due_date <= AS_OF + timedelta(days=25)
    currencies = Counter(invoice.currency for invoice in invoices)
    assert currencies["USD"] + currencies["EUR"] + currencies["GBP"] > 0.8 * len(invoices)
    assert {a.language for a in accounts.values()} == {"en", "de"}
    assert len({a.timezone for a in accounts.values()}) >= 5
    assert all(ZoneInfo(a.timezone) for a in accounts.values())
    assert len({a.name for a in accounts.values()}) > 150
    emails = [c.email for c in contacts]
    assert len(set(emails)) == len(emails)
    assert all(e.endswith(".example") and "@" in e for e in emails)
    assert all(a.flag_reason for a in accounts.values() if a.human_flagged)


def test_sent_messages_follow_the_policy(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    with Session(engine) as session:
        messages = session.exec(select_rows(Message).order_by(col(Message.local_day))).all()
    assert messages
    by_account: dict[str, list[Message]] = defaultdict(list)
    by_invoice: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        assert message.state == "sent" and message.sent_at is not None
        assert message.local_day < AS_OF and message.local_day.weekday() < 5
        key = message_key(
            message.account_id, message.stage, tuple(message.invoices), message.local_day
        )
        assert message.key == key
        assert message.message_id == f"<dunning.{key}@seed.example>"
        assert message.to_addrs and message.subject and message.body
        by_account[message.account_id].append(message)
        for number in message.invoices:
            by_invoice[number].append(message)
    for sent in by_account.values():
        days = [m.local_day for m in sent]
        assert all(
            (b - a).days >= POLICY.min_gap_days for a, b in zip(days, days[1:], strict=False)
        )
    for number, sent in by_invoice.items():
        stages = [m.stage for m in sent]
        assert len(set(stages)) == len(stages), f"{number} got a stage twice: {stages}"
        assert [stage_rank(s) for s in stages] == sorted(stage_rank(s) for s in stages)

    def overdue_notice_before(number: str, day: date) -> bool:
        cutoff = day - timedelta(days=POLICY.final_notice_prior_days)
        return any(
            m.stage in ("first_overdue", "escalation") and m.local_day <= cutoff
            for m in by_invoice[number]
        )

    # a final notice is earned by (at least) one invoice it names; the others ride along
    # in the account's one message of the day, as the policy groups them
    for message in messages:
        if message.stage == "final_notice":
            assert any(overdue_notice_before(n, message.local_day) for n in message.invoices)
    assert {m.stage for m in messages} == set(STAGES)


def test_a_pass_on_as_of_has_work_of_every_kind(seeded: tuple[Engine, SeedReport]) -> None:
    engine, _ = seeded
    clock = DayClock(AS_OF)
    actions: Counter[str] = Counter()
    send_stages: Counter[str] = Counter()
    with Session(engine) as session:
        for account in session.exec(select_rows(Account)).all():
            snapshot = load_snapshot(session, account.id, "https://pay.example/{invoice_number}")
            decision = decide(snapshot, clock.now(ZoneInfo(account.timezone)), POLICY)
            actions[decision.action] += 1
            if decision.action == "send":
                send_stages[str(decision.stage)] += 1
    assert set(actions) == {"send", "wait", "hold", "escalate"}
    assert len(send_stages) >= 2


def test_refuses_ids_that_exist_and_writes_nothing(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path / "t.db")
    seed_ledger(engine, accounts=25, as_of=AS_OF, now=NOW)
    before = dump(engine)
    with pytest.raises(ValueError, match="already exists"):
        seed_ledger(engine, accounts=30, seed=8, as_of=AS_OF, now=NOW)
    assert dump(engine) == before
    report = seed_ledger(engine, accounts=25, as_of=AS_OF, now=NOW, id_prefix="D")
    assert count(engine, Account) == 50 and report.accounts == 25
    emails = [row[2] for row in dump(engine)["contacts"]]
    assert len(set(emails)) == len(emails)
