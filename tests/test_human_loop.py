"""A person's hand on the automation, as a user runs it: flag and unflag an account,
list and resolve escalations; each action in the log with who and when."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from builders import add_account, add_invoice
from tools.tables import DisputeRow, EscalationRow, Message

runner = CliRunner()


@pytest.fixture
def env(settings, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("DUNNING_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DUNNING_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("DUNNING_OPERATOR", "dana")
    return tmp_path / "outbox"


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    return result


def sent_files(outbox: Path) -> list[Path]:
    return sorted((outbox / "new").glob("*")) if (outbox / "new").exists() else []


def human_log() -> list[dict]:
    lines = [json.loads(line) for line in invoke("log", "--json").stdout.splitlines()]
    return [line for line in lines if line["kind"] == "human"]


def test_a_flagged_account_gets_nothing_until_a_person_unflags_it(env, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    assert (
        invoke("flag", "C-1", "--reason", "CFO calls them", "--as-of", "2026-03-09").exit_code == 0
    )

    result = invoke("run", "--as-of", "2026-03-10", "--json")
    assert json.loads(result.stdout)["sent"] == 0
    assert sent_files(env) == []

    assert invoke("unflag", "C-1", "--by", "sam", "--as-of", "2026-03-11").exit_code == 0
    summary = json.loads(invoke("run", "--as-of", "2026-03-11", "--json").stdout)
    assert summary["sent"] == 1
    assert len(sent_files(env)) == 1

    flagged, unflagged = human_log()
    assert (flagged["action"], flagged["actor"]) == ("flag", "dana")
    assert "CFO calls them" in flagged["reason"]
    assert flagged["at"].startswith("2026-03-09")
    assert (unflagged["action"], unflagged["actor"]) == ("unflag", "sam")


def test_a_flag_stops_a_message_already_queued(env, session, engine):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    # a message the mail server could not take yet: queued for the next try
    from tools.outbox import Outgoing, deliver
    from tools.transports import MaildirTransport

    queued = Message(
        key="k-queued",
        message_id="<queued@vendor.example>",
        account_id="C-1",
        stage="overdue_1",
        tone="neutral",
        invoices=["INV-1"],
        local_day=date(2026, 3, 10),
        to_addrs=["ap@acme.example"],
        subject="Overdue",
        body="INV-1 is overdue",
        state="queued",
        created_at=datetime(2026, 3, 10, 9, tzinfo=UTC),
    )
    session.add(queued)
    session.commit()

    assert invoke("flag", "C-1", "--reason", "legal review").exit_code == 0
    session.refresh(queued)
    assert queued.state == "cancelled" and "legal review" in (queued.error or "")

    # whoever tries to send it now, the outbox refuses to start
    now = datetime(2026, 3, 10, 10, tzinfo=UTC)
    outgoing = Outgoing(
        key="k-queued",
        account_id="C-1",
        stage="overdue_1",
        tone="neutral",
        language="en",
        invoices=("INV-1",),
        to=["ap@acme.example"],
        subject="Overdue",
        body="INV-1 is overdue",
        reply_to="ar@vendor.example",
        headers={},
    )
    delivery = deliver(
        engine,
        outgoing,
        from_addr="ar@vendor.example",
        from_name="Vendor",
        sender_domain="vendor.example",
        transport=MaildirTransport(env),
        now=now,
        created_at=now,
    )
    assert delivery.outcome == "blocked"
    assert sent_files(env) == []


def test_flagging_an_unknown_account_names_it(env):
    result = invoke("flag", "C-404", "--reason", "x")
    assert result.exit_code == 1
    assert "C-404" in result.stderr


def test_resolving_a_dispute_escalation_resumes_the_chase(env, session):
    add_account(session, "C-1", name="Acme Ltd")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    opened = datetime(2026, 3, 6, 9, tzinfo=UTC)
    session.add(DisputeRow(account_id="C-1", opened_on=date(2026, 3, 6), invoices=["INV-1"]))
    session.add(
        EscalationRow(
            account_id="C-1",
            opened_on=date(2026, 3, 6),
            opened_at=opened,
            reason="the customer disputes INV-1: wrong quantity",
            invoices=["INV-1"],
        )
    )
    session.commit()

    held = json.loads(invoke("run", "--as-of", "2026-03-10", "--json").stdout)
    assert held["sent"] == 0

    listed = json.loads(invoke("escalations", "--json").stdout)
    assert [(e["account"], e["invoices"]) for e in listed] == [("C-1", ["INV-1"])]
    assert "wrong quantity" in listed[0]["reason"]
    table = invoke("escalations").stdout
    assert "Acme Ltd" in table and "wrong quantity" in table

    escalation = str(listed[0]["id"])
    result = invoke("resolve", escalation, "--note", "credit note issued", "--as-of", "2026-03-11")
    assert result.exit_code == 0, result.output
    assert json.loads(invoke("escalations", "--json").stdout) == []
    again = invoke("resolve", escalation, "--note", "twice")
    assert again.exit_code == 1 and "resolved by dana" in again.stderr

    resumed = json.loads(invoke("run", "--as-of", "2026-03-11", "--json").stdout)
    assert resumed["sent"] == 1
    (resolved,) = human_log()
    assert resolved["action"] == "resolve" and "credit note issued" in resolved["reason"]
    assert "closed 1 dispute" in resolved["reason"]


def test_the_log_table_shows_who_acted(env, session):
    add_account(session, "C-1")
    invoke("flag", "C-1", "--reason", "legal review", "--by", "Robin Ortega")
    table = runner.invoke(app, ["log"], env={"COLUMNS": "160"}).stdout
    assert "by Robin Ortega" in table
