"""The AR inbox on a real Dovecot, read through the reply graph: replies appended,
polled and acted on; a second poll does no work; a recreated folder (new UIDVALIDITY)
processes nothing twice; a server restart mid-poll recovers; malformed mail is
quarantined without stopping the rest; a big batch shared by worker processes
handles every email exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlmodel import select

from agent.clock import DayClock
from agent.config import load_settings
from agent.inbox_pass import poll_once, process_pending
from agent.runtime import open_runtime
from builders import add_account, add_invoice
from tools.tables import DecisionRow, InboundMessage, PromiseRow

TODAY = date(2026, 3, 17)


@pytest.fixture
def imap_settings(settings, dovecot):
    dovecot.reset("ar")
    return load_settings(
        **settings.model_dump(exclude={"policy"})
        | {
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_user": "ar",
            "imap_password": "secret",
            "imap_tls": "none",
            "imap_batch": 5,
            "max_message_bytes": 200_000,
        }
    )


def reply(n: int, text: str = "We will pay INV-{n} on Friday.", **headers: str) -> bytes:
    email = EmailMessage()
    email["From"] = headers.pop("From", f"ap@customer{n}.example")
    email["To"] = "ar@vendor.example"
    email["Subject"] = f"Re: Payment overdue: invoice INV-{n}"
    email["Date"] = format_datetime(datetime(2026, 3, 17, 9, n % 60, tzinfo=UTC))
    email["Message-ID"] = headers.pop("Message_ID", f"<reply-{n}@customer{n}.example>")
    email.set_content(text.format(n=n))
    return email.as_bytes()


def ledger(session, accounts: int) -> None:
    for n in range(accounts):
        add_account(session, f"C-{n}", email=f"ap@customer{n}.example")
        add_invoice(session, f"C-{n}", f"INV-{n}", due=date(2026, 3, 5))


MALFORMED = {
    "bad charset": (
        b"From: ap@customer1.example\r\nSubject: hello\r\nMessage-ID: <bad-charset@x>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        b"\xe4\xf6\xfc we will pay\r\n"
    ),
    "broken MIME": (
        b"From: ap@customer1.example\r\nSubject: hello\r\nMessage-ID: <broken-mime@x>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="nothere"\r\n\r\n'
        b"no boundary ever starts here\r\n"
    ),
    "no headers": b"\r\n\r\njust some bytes \x00\x01\x02 that are not an email\r\n",
    "huge attachment": reply(
        1, "We will pay Friday." + "\n" + "A" * 300_000, Message_ID="<huge@customer1.example>"
    ),
}


def test_replies_in_dovecot_are_read_once_and_malformed_ones_quarantined(
    imap_settings, engine, session, dovecot
):
    ledger(session, 8)
    dovecot.append_many("ar", "INBOX", [reply(n) for n in range(8)] + list(MALFORMED.values()))

    with open_runtime(imap_settings, clock=DayClock(TODAY), engine=engine) as runtime:
        inbox = runtime.open_inbox()
        try:
            first = runtime.poll_inbox(inbox)
            again = runtime.poll_inbox(inbox)
        finally:
            inbox.close()

    assert again == []
    by_status: dict[str, list] = {}
    for outcome in first:
        by_status.setdefault(outcome.status, []).append(outcome)
    assert len(by_status["processed"]) == 8
    assert {o.intent for o in by_status["processed"]} == {"promise_to_pay"}
    assert len(by_status["quarantined"]) == len(MALFORMED)
    assert all(o.action == "quarantine" and o.reason for o in by_status["quarantined"])
    stored = session.exec(select(InboundMessage)).all()
    assert len(stored) == 8 + len(MALFORMED) and all(row.raw for row in stored)
    assert len(session.exec(select(PromiseRow)).all()) == 8
    # nothing was marked read for the people who share the inbox
    assert not any(b"\\Seen" in flags for flags in dovecot.flags("ar").values())


def test_a_recreated_folder_processes_nothing_twice(imap_settings, engine, session, dovecot):
    ledger(session, 4)
    dovecot.append_many("ar", "INBOX", [reply(n) for n in range(3)])
    with open_runtime(imap_settings, clock=DayClock(TODAY), engine=engine) as runtime:
        inbox = runtime.open_inbox()
        try:
            assert len(runtime.poll_inbox(inbox)) == 3
            before = dovecot.uidvalidity("ar")
            dovecot.recreate_folder("ar", "INBOX")
            assert dovecot.uidvalidity("ar") != before
            dovecot.append_many("ar", "INBOX", [reply(n) for n in range(4)])  # 3 seen + 1 new
            inbox.close()  # the next session (a restart, a reconnect) sees the new UIDVALIDITY
            second = runtime.poll_inbox(inbox)
        finally:
            inbox.close()
    assert [o.message_id for o in second] == ["<reply-3@customer3.example>"]
    replies = session.exec(select(DecisionRow).where(DecisionRow.kind == "reply")).all()
    assert len(replies) == 4


def test_a_server_restart_in_the_middle_of_a_poll_recovers(imap_settings, engine, session, dovecot):
    ledger(session, 12)
    dovecot.append_many("ar", "INBOX", [reply(n) for n in range(12)])  # 3 batches of 5
    with open_runtime(imap_settings, clock=DayClock(TODAY), engine=engine) as runtime:
        inbox = runtime.open_inbox()
        batches = []

        def run(pending):
            batches.append(len(pending))
            if len(batches) == 1:
                dovecot.restart()  # the connection drops between two batches
            return process_pending(runtime.deps, runtime.reply_graph, pending)

        try:
            outcomes = poll_once(runtime.deps, inbox, run)
            outcomes += runtime.poll_inbox(inbox)
        finally:
            inbox.close()
    assert sorted(int(o.account[2:]) for o in outcomes) == list(range(12))
    assert len(session.exec(select(InboundMessage)).all()) == 12


def test_a_big_batch_shared_by_workers_handles_each_email_once(
    imap_settings, engine, session, dovecot
):
    ledger(session, 30)
    # two emails from each sender: they stay in order on the same worker
    emails = [reply(n) for n in range(30)]
    emails += [
        reply(n, "Sorry, correction: we will pay on the 27th.", Message_ID=f"<again-{n}@x>")
        for n in range(30)
    ]
    dovecot.append_many("ar", "INBOX", emails)
    settings = load_settings(**imap_settings.model_dump() | {"imap_batch": 200, "workers": 2})
    with open_runtime(settings, clock=DayClock(TODAY), engine=engine) as runtime:
        inbox = runtime.open_inbox()
        try:
            outcomes = runtime.poll_inbox(inbox)
        finally:
            inbox.close()
    assert len(outcomes) == 60
    assert len({o.message_id for o in outcomes}) == 60
    rows = session.exec(select(InboundMessage)).all()
    assert {row.status for row in rows} == {"processed"}
    promises = session.exec(select(PromiseRow).order_by(PromiseRow.id)).all()
    assert len(promises) == 60
    latest = {}
    for promise in promises:  # the later email of each sender was recorded later
        latest[promise.account_id] = promise.promise_date
    assert set(latest.values()) == {date(2026, 3, 27)}
