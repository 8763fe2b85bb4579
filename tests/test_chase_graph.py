"""The chase graph end to end on SQLite with the Maildir outbox: what gets sent,
what gets logged, and what never happens twice."""

from __future__ import annotations

import mailbox
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from agent.clock import DayClock, FixedClock
from agent.runtime import open_runtime
from builders import add_account, add_invoice, add_sent
from tools.db import session_scope
from tools.ledger import decisions
from tools.tables import Account, EscalationRow, Message

TODAY = date(2026, 3, 10)  # a Tuesday


def outbox_messages(settings) -> list[mailbox.MaildirMessage]:
    if not settings.outbox_dir.exists():
        return []
    return list(mailbox.Maildir(settings.outbox_dir, create=False))


def run(settings, engine, clock=None, **kwargs):
    with open_runtime(settings, clock=clock or DayClock(TODAY), engine=engine, **kwargs) as rt:
        return rt.run_pass()


def test_due_account_gets_one_message_naming_its_invoices(settings, engine, session):
    add_account(session, "C-1", name="Acme Ltd")
    add_invoice(session, "C-1", "INV-1042", due=date(2026, 3, 5))
    add_invoice(session, "C-1", "INV-1043", due=date(2026, 3, 9), amount="80.00")

    summary = run(settings, engine)

    assert (summary.accounts_looked_at, summary.sent) == (1, 1)
    [mail] = outbox_messages(settings)
    assert "INV-1042" in mail["Subject"] and "INV-1043" in mail["Subject"]
    body = mail.get_payload(decode=True).decode()
    assert "$1,250.00" in body and "$80.00" in body
    assert "https://pay.example.com/invoice/INV-1042" in body
    [logged] = decisions(session, account_id="C-1")
    assert (logged.action, logged.stage, logged.tone) == ("send", "first_overdue", "neutral")
    assert sorted(logged.invoices) == ["INV-1042", "INV-1043"]
    assert logged.policy_version == "default-1" and logged.engine == "offline"
    row = session.exec(select(Message)).one()
    assert row.state == "sent" and mail["Message-ID"] == row.message_id
    session.expire_all()
    account = session.get(Account, "C-1")
    # the 5-day gap, local midnight
    assert account.next_review_at == datetime(2026, 3, 15, tzinfo=UTC)


def test_running_the_same_day_twice_sends_nothing_twice(settings, engine, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    run(settings, engine)
    # force the account to be looked at again on the same day
    with session_scope(engine) as s:
        s.get(Account, "C-1").next_review_at = datetime(2026, 1, 1, tzinfo=UTC)
    second = run(settings, engine)

    assert second.accounts_looked_at == 1 and second.sent == 0
    assert len(outbox_messages(settings)) == 1
    assert len(session.exec(select(Message)).all()) == 1


def _left_in_sending(session, day: date = TODAY) -> Message:
    """A crash between "sending" and "sent": the row is there, the mail may be out."""
    from tools.mail import make_message_id

    stuck = add_sent(session, "C-1", "first_overdue", ["INV-1"], day)
    stuck.state = "sending"
    stuck.message_id = make_message_id(stuck.key, "vendor.example")  # as the outbox makes it
    session.add(stuck)
    session.commit()
    return stuck


def test_a_message_left_in_sending_over_smtp_goes_to_a_person(
    settings, engine, session, smtp_server
):
    from tools.transports import SmtpTransport

    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    _left_in_sending(session)
    smtp_server.reset()

    transport = SmtpTransport(smtp_server.host, smtp_server.port, tls="none")
    summary = run(settings, engine, transport=transport)

    assert (summary.sent, summary.escalated) == (0, 1)
    assert smtp_server.messages == []  # SMTP cannot tell whether it left: not re-sent
    [logged] = decisions(session)
    assert logged.action == "escalate" and "not re-sent" in logged.reason


def test_a_message_left_in_doubt_on_an_earlier_day_stops_the_next_one(
    settings, engine, session, smtp_server
):
    from tools.transports import SmtpTransport

    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    _left_in_sending(session, day=TODAY - timedelta(days=1))  # the daemon was down overnight
    smtp_server.reset()

    transport = SmtpTransport(smtp_server.host, smtp_server.port, tls="none")
    summary = run(settings, engine, transport=transport)

    assert (summary.sent, summary.escalated) == (0, 1)
    assert smtp_server.messages == []
    [logged] = decisions(session)
    assert "before a person checks" in logged.reason


def test_a_message_left_in_sending_on_an_earlier_day_that_never_left_gives_way(
    settings, engine, session
):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    stuck = _left_in_sending(session, day=TODAY - timedelta(days=1))

    summary = run(settings, engine)

    assert summary.sent == 1
    session.refresh(stuck)
    assert stuck.state == "cancelled"  # never reached the Maildir
    assert len(outbox_messages(settings)) == 1


def test_a_message_left_in_sending_that_never_reached_the_maildir_is_sent_once(
    settings, engine, session
):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    stuck = _left_in_sending(session)

    summary = run(settings, engine)

    assert (summary.sent, summary.escalated) == (1, 0)
    [mail] = outbox_messages(settings)
    assert mail["Message-ID"] == stuck.message_id
    session.refresh(stuck)
    assert (stuck.state, stuck.attempts) == ("sent", 1)


def test_a_message_left_in_sending_that_reached_the_maildir_is_not_written_again(
    settings, engine, session
):
    from email.message import EmailMessage

    from tools.transports import MaildirTransport

    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    stuck = _left_in_sending(session)
    earlier = EmailMessage()
    earlier["Message-ID"] = stuck.message_id
    earlier["Subject"] = "the copy that went out before the crash"
    earlier.set_content("x")
    MaildirTransport(settings.outbox_dir).send(earlier)

    summary = run(settings, engine)

    assert (summary.sent, summary.escalated) == (1, 0)
    [mail] = outbox_messages(settings)
    assert mail["Subject"] == "the copy that went out before the crash"
    session.refresh(stuck)
    assert stuck.state == "sent"
    [logged] = decisions(session)
    assert logged.action == "send" and logged.message_key == stuck.key


def test_dry_run_decides_and_drafts_but_writes_nothing(settings, engine, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    summary = run(settings, engine, dry_run=True)
    assert summary.sent == 1 and summary.decisions[0]["subject"]
    assert outbox_messages(settings) == []
    assert session.exec(select(Message)).all() == []
    assert decisions(session) == []


def test_flagged_account_is_held_and_logged(settings, engine, session):
    add_account(session, "C-1", human_flagged=True)
    add_invoice(session, "C-1", "INV-1", due=date(2026, 2, 1))
    summary = run(settings, engine)
    assert (summary.held, summary.sent) == (1, 0)
    [logged] = decisions(session)
    assert logged.action == "hold" and "flagged" in logged.reason
    assert session.get(Account, "C-1").next_review_at is None


def test_final_notice_ten_days_old_goes_to_a_person_once(settings, engine, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 1, 1))
    add_sent(session, "C-1", "escalation", ["INV-1"], date(2026, 1, 20))
    add_sent(session, "C-1", "final_notice", ["INV-1"], date(2026, 2, 28))

    first = run(settings, engine)
    assert first.escalated == 1
    [escalation] = session.exec(select(EscalationRow)).all()
    assert escalation.invoices == ["INV-1"] and "final notice" in escalation.reason
    with session_scope(engine) as s:
        s.get(Account, "C-1").next_review_at = datetime(2026, 1, 1, tzinfo=UTC)
    second = run(settings, engine, clock=DayClock(date(2026, 3, 11)))
    assert (second.held, second.escalated) == (1, 0)


def test_saturday_send_is_deferred_to_monday_morning_local(settings, engine, session):
    add_account(session, "C-1", timezone="Europe/Berlin")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    summary = run(settings, engine, clock=DayClock(date(2026, 3, 14)))  # Saturday
    assert (summary.sent, summary.deferred) == (0, 1)
    session.expire_all()
    review = session.get(Account, "C-1").next_review_at
    assert review.astimezone(ZoneInfo("Europe/Berlin")) == datetime(
        2026, 3, 16, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")
    )
    # Monday 08:00 Berlin is 07:00 UTC: a pass at 07:30 UTC sends it
    monday = run(settings, engine, clock=FixedClock(datetime(2026, 3, 16, 7, 30, tzinfo=UTC)))
    assert monday.sent == 1


def test_a_draft_that_fails_verification_is_not_sent(settings, engine, session, monkeypatch):
    import agent.chase_graph as chase_graph

    real = chase_graph.draft_message

    def tampered(*args, **kwargs):
        draft = real(*args, **kwargs)
        return replace(draft, body=draft.body.replace("1,250.00", "1,520.00"))

    monkeypatch.setattr(chase_graph, "draft_message", tampered)
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    summary = run(settings, engine)
    assert (summary.sent, summary.escalated) == (0, 1)
    assert outbox_messages(settings) == []
    [logged] = decisions(session)
    assert logged.action == "escalate" and "verification" in logged.reason


def test_an_idle_pass_looks_at_nobody(settings, engine, session):
    add_account(session, "C-1", review_at=datetime(2026, 4, 1, tzinfo=UTC))
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    summary = run(settings, engine)
    assert summary.accounts_looked_at == 0
    assert decisions(session) == []


@pytest.mark.parametrize("language, money", [("en", "$1,250.00"), ("de", "1.250,00 $")])
def test_message_language_follows_the_account(settings, engine, session, language, money):
    add_account(session, "C-1", language=language)
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    run(settings, engine)
    [mail] = outbox_messages(settings)
    assert money in mail.get_payload(decode=True).decode()


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Honolulu", "Pacific/Kiritimati"])
def test_a_date_as_of_does_all_the_work_due_that_day(settings, engine, session, zone):
    # imported in the late afternoon (local), then `dunning run --as-of` that date
    review = datetime(2026, 3, 10, 17, 30, tzinfo=ZoneInfo(zone))
    add_account(session, "C-1", timezone=zone, review_at=review)
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    add_account(session, "C-2", timezone=zone, review_at=review + timedelta(days=1))
    add_invoice(session, "C-2", "INV-2", due=date(2026, 3, 5))
    summary = run(settings, engine)
    assert [d["account"] for d in summary.decisions] == ["C-1"]
    assert summary.sent == 1
