"""The chase pass sending through a real SMTP server (aiosmtpd): headers, the fixed
Message-ID, no double send on a re-run, retry on 4xx, failure and escalation on 5xx."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from agent.clock import DayClock, FixedClock
from agent.runtime import open_runtime
from builders import add_account, add_invoice
from tools.db import session_scope
from tools.ledger import decisions
from tools.outbox import message_key
from tools.tables import Account, EscalationRow, Message
from tools.transports import SmtpTransport

TODAY = date(2026, 3, 10)


@pytest.fixture
def smtp(smtp_server):
    smtp_server.reset()
    return smtp_server


def run_pass(settings, engine, smtp, clock=None):
    transport = SmtpTransport(
        smtp.host, smtp.port, tls="none", attempts=3, backoff_initial=0.01, backoff_max=0.02
    )
    with open_runtime(
        settings, clock=clock or DayClock(TODAY), engine=engine, transport=transport
    ) as runtime:
        return runtime.run_pass()


def test_sends_with_fixed_message_id_and_headers(settings, engine, session, smtp):
    add_account(session, "C-1", name="Acme Ltd", email="ap@acme.example")
    add_invoice(session, "C-1", "INV-1042", due=date(2026, 3, 5))

    assert run_pass(settings, engine, smtp).sent == 1

    [received] = smtp.messages
    mail = received.message
    key = message_key("C-1", "first_overdue", ("INV-1042",), TODAY)
    assert mail["Message-ID"] == f"<dunning.{key}@vendor.example>"
    assert received.rcpt_tos == ["ap@acme.example"]
    assert "ar@vendor.example" in mail["From"] and "Vendor Ltd" in mail["From"]
    assert "INV-1042" in mail["Subject"]
    assert mail["Auto-Submitted"] is None
    assert "$1,250.00" in mail.get_content()


def test_rerun_on_the_same_day_sends_nothing_twice(settings, engine, session, smtp):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    run_pass(settings, engine, smtp)
    with session_scope(engine) as s:
        s.get(Account, "C-1").next_review_at = datetime(2026, 1, 1, tzinfo=UTC)
    again = run_pass(settings, engine, smtp)
    assert again.accounts_looked_at == 1 and again.sent == 0
    assert len(smtp.messages) == 1


def test_transient_4xx_is_retried_and_delivered_once(settings, engine, session, smtp):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    smtp.fail_next(451, "4.3.0 try again later")

    assert run_pass(settings, engine, smtp).sent == 1

    assert len(smtp.messages) == 1
    assert [a.code for a in smtp.data_attempts] == [451, 250]
    assert session.exec(select(Message)).one().state == "sent"


def test_permanent_5xx_marks_failed_and_escalates(settings, engine, session, smtp):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    smtp.fail_next(550, "5.1.1 mailbox unavailable")

    summary = run_pass(settings, engine, smtp)

    assert (summary.sent, summary.escalated) == (0, 1)
    assert smtp.messages == [] and len(smtp.data_attempts) == 1
    message = session.exec(select(Message)).one()
    assert message.state == "failed" and "550" in message.error
    [logged] = decisions(session)
    assert logged.action == "escalate" and "refused" in logged.reason
    assert session.exec(select(EscalationRow)).one().account_id == "C-1"


def test_server_down_for_every_attempt_waits_and_the_next_pass_sends_once(
    settings, engine, session, smtp
):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    smtp.fail_next(421, "4.7.0 try again later", times=3)
    first_at = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)

    def pass_at(at):
        return run_pass(settings, engine, smtp, FixedClock(at))

    first = pass_at(first_at)
    assert (first.sent, first.waited, first.deferred) == (0, 1, 1)
    assert smtp.messages == [] and session.exec(select(Message)).one().state == "queued"

    assert pass_at(first_at + timedelta(minutes=5)).accounts_looked_at == 0  # retried later
    second = pass_at(first_at + timedelta(minutes=20))
    assert second.sent == 1 and len(smtp.messages) == 1
    session.expire_all()
    message = session.exec(select(Message)).one()
    assert (message.state, message.attempts) == ("sent", 2)
