"""Exactly-once over SMTP with the mailbox's Sent folder (a real Dovecot and a real
aiosmtpd): each message sent is filed in Sent, and a message a crash left in ``sending``
is looked up there by its Message-ID instead of being sent again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from agent.clock import DayClock
from agent.config import load_settings
from agent.runtime import open_runtime
from builders import add_account, add_invoice
from tools.ledger import decisions
from tools.mail import make_message_id
from tools.outbox import message_key
from tools.tables import Account, Message

TODAY = date(2026, 3, 10)


def sent_settings(settings, dovecot, smtp_server):
    return load_settings(
        **{
            **settings.model_dump(exclude={"policy"}),
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_tls": "none",
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_user": "ar",
            "imap_password": "secret",
            "imap_tls": "none",
            "sent_folder": "Sent",
            "sent_folder_append": True,
        }
    )


def run(settings, engine):
    with open_runtime(settings, clock=DayClock(TODAY), engine=engine) as runtime:
        return runtime.run_pass()


def in_sent(dovecot, message_id: str) -> int:
    from imapclient import IMAPClient

    with IMAPClient(dovecot.host, dovecot.port, ssl=False) as client:
        client.login("ar", "secret")
        client.select_folder("Sent", readonly=True)
        return len(client.search(["HEADER", "Message-ID", message_id]))


@pytest.fixture
def current(settings, session, dovecot, smtp_server):
    """Settings for SMTP with a Sent folder, and one account with an overdue invoice."""
    dovecot.reset("ar")
    smtp_server.reset()
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    return sent_settings(settings, dovecot, smtp_server)


def test_a_crash_after_the_send_is_settled_from_the_sent_folder(
    current, engine, session, dovecot, smtp_server
):

    assert run(current, engine).sent == 1
    row = session.exec(select(Message)).one()
    assert len(smtp_server.messages) == 1
    assert in_sent(dovecot, row.message_id) == 1  # filed by the agent after SMTP took it

    # the same run again after a crash between the send and its settling: the row still
    # says "sending", the account is due again
    row.state = "sending"
    session.add(row)
    session.commit()
    account = session.get(Account, "C-1")
    account.next_review_at = account.created_at
    session.add(account)
    session.commit()

    second = run(current, engine)
    assert (second.sent, second.escalated) == (1, 0)
    assert len(smtp_server.messages) == 1  # found in Sent: not sent again
    session.refresh(row)
    assert row.state == "sent"


def test_a_message_missing_from_the_sent_folder_goes_to_a_person(
    current, engine, session, smtp_server
):
    key = message_key("C-1", "first_overdue", ("INV-1",), TODAY)
    session.add(
        Message(
            key=key,
            message_id=make_message_id(key, "vendor.example"),
            account_id="C-1",
            stage="first_overdue",
            tone="neutral",
            invoices=["INV-1"],
            local_day=TODAY,
            to_addrs=["ap@acme.example"],
            subject="x",
            body="x",
            state="sending",
            created_at=datetime(2026, 3, 10, 10, tzinfo=UTC),
        )
    )
    session.commit()

    summary = run(current, engine)
    assert (summary.sent, summary.escalated) == (0, 1)
    assert smtp_server.messages == []
    [logged] = decisions(session)
    assert "cannot tell whether it left" in logged.reason
