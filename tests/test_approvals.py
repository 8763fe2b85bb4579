"""Approval before sending, as a controller uses it: drafts that match a rule wait
(a LangGraph interrupt on the account's thread, so the wait survives restarts), and
``dunning approve``/``reject`` decide them; a reply or a flag supersedes a waiting draft."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from builders import add_account, add_invoice

runner = CliRunner()
AS_OF = "2026-03-10"


@pytest.fixture
def env(settings, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("DUNNING_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DUNNING_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("DUNNING_FROM_ADDRESS", "ar@vendor.example")
    monkeypatch.setenv("DUNNING_COMPANY_NAME", "Vendor Ltd")
    monkeypatch.setenv("DUNNING_APPROVE_STAGES", '["first_overdue"]')
    monkeypatch.setenv("DUNNING_OPERATOR", "dana")
    return tmp_path / "outbox"


@pytest.fixture
def waiting(env, session) -> dict:
    """One first overdue notice drafted and waiting for approval."""
    add_account(session, "C-1", name="Acme Ltd")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    summary = json.loads(invoke("run", "--as-of", AS_OF, "--json").stdout)
    assert (summary["sent"], summary["awaiting_approval"]) == (0, 1)
    assert summary["decisions"][0]["delivery"] == "awaiting_approval"
    assert "INV-1" in summary["decisions"][0]["subject"]  # what waits, at a glance
    [draft] = json.loads(invoke("approvals", "--json").stdout)
    return draft


def invoke(*args: str):
    return runner.invoke(app, list(args))


def sent(outbox: Path) -> list[Path]:
    return sorted((outbox / "new").glob("*")) if (outbox / "new").exists() else []


def log() -> list[dict]:
    return [json.loads(line) for line in invoke("log", "--json").stdout.splitlines()]


def test_a_draft_that_matches_a_rule_waits_and_is_sent_once_approved(waiting, env):
    assert waiting["stage"] == "first_overdue" and "approve_stages" in waiting["why"]
    assert "INV-1" in waiting["subject"] and "$1,250.00" in waiting["body"]
    assert sent(env) == []
    listing = invoke("approvals").stdout
    assert "why it waits" in listing and waiting["subject"] in listing

    # a later run of the pass does not draft it twice: the account waits
    again = json.loads(invoke("run", "--as-of", AS_OF, "--json").stdout)
    assert again["accounts_looked_at"] == 0

    # a new process (as after a restart) finds the thread waiting and resumes it
    result = invoke("approve", str(waiting["id"]), "--by", "sam", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert len(sent(env)) == 1
    assert json.loads(invoke("approvals", "--json").stdout) == []
    entries = log()
    assert [e["action"] for e in entries] == ["hold", "approve", "send"]
    assert "waits for a person's approval" in entries[0]["reason"]
    assert entries[1]["actor"] == "sam" and entries[1]["kind"] == "human"
    assert "approved by sam" in entries[2]["reason"]
    assert invoke("approve", str(waiting["id"])).exit_code == 1  # not twice


def test_an_edited_draft_is_verified_before_it_goes_out(waiting, env, tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("Subject: INV-1\n\nPlease pay $12,500.00 for INV-1 today.\n")
    refused = invoke("approve", str(waiting["id"]), "--edit", str(wrong), "--as-of", AS_OF)
    assert refused.exit_code == 1
    assert "fails verification" in refused.stderr and "12,500.00" in refused.stderr
    assert sent(env) == []
    assert len(json.loads(invoke("approvals", "--json").stdout)) == 1  # still waiting

    good = tmp_path / "good.txt"
    good.write_text(
        "Subject: INV-1 is overdue\n\nHello, INV-1 ($1,250.00), due March 5, 2026, is now "
        "5 days overdue. Pay at https://pay.example.com/invoice/INV-1 - Thank you!\n"
    )
    approved = invoke("approve", str(waiting["id"]), "--edit", str(good), "--as-of", AS_OF)
    assert approved.exit_code == 0, approved.output
    [mail] = sent(env)
    text = mail.read_text()
    assert "Subject: INV-1 is overdue" in text and "Thank you!" in text


def test_a_rejected_draft_is_not_sent_and_the_account_waits(waiting, env):
    result = invoke(
        "reject", str(waiting["id"]), "--reason", "they called, paying today", "--as-of", AS_OF
    )
    assert result.exit_code == 0, result.output
    assert sent(env) == []
    entries = log()
    assert [e["action"] for e in entries] == ["hold", "reject", "hold"]
    assert entries[1]["actor"] == "dana" and "paying today" in entries[1]["reason"]
    shown = invoke("show", "C-1").stdout
    assert "rejected by dana" in shown
    # the next week's pass drafts again
    later = json.loads(invoke("run", "--as-of", "2026-03-17", "--json").stdout)
    assert later["awaiting_approval"] == 1


def test_a_draft_approved_after_the_account_moved_on_is_not_sent(waiting, env):
    # approved six weeks late: the first overdue notice is no longer what the policy sends
    late = invoke("approve", str(waiting["id"]), "--as-of", "2026-04-20")
    assert late.exit_code == 1 and "changed meanwhile" in late.stdout
    assert sent(env) == []
    # the next pass drafts what is due now
    again = json.loads(invoke("run", "--as-of", "2026-04-20", "--json").stdout)
    assert again["awaiting_approval"] + again["sent"] == 1


def test_a_reply_supersedes_a_waiting_draft(waiting, env, tmp_path):
    reply = tmp_path / "reply.eml"
    reply.write_text(
        "From: AP <ap@acme.example>\nTo: ar@vendor.example\nSubject: INV-1\n"
        "Date: Tue, 10 Mar 2026 11:00:00 +0000\nMessage-ID: <r1@acme.example>\n\n"
        "We will pay INV-1 on Friday.\n"
    )
    assert invoke("inbox", "--file", str(reply), "--as-of", AS_OF).exit_code == 0
    assert json.loads(invoke("approvals", "--json").stdout) == []
    late = invoke("approve", str(waiting["id"]))
    assert late.exit_code == 1 and "superseded" in late.stderr
    assert sent(env) == []


def test_a_flag_supersedes_a_waiting_draft(waiting, env):
    assert invoke("flag", "C-1", "--reason", "CFO handles it").exit_code == 0
    late = invoke("approve", str(waiting["id"]))
    assert late.exit_code == 1 and "superseded" in late.stderr
    assert sent(env) == []


def test_only_messages_over_the_amount_wait(env, session, monkeypatch):
    monkeypatch.delenv("DUNNING_APPROVE_STAGES")
    monkeypatch.setenv("DUNNING_APPROVE_AMOUNT_OVER", "1000")
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5), amount="1250.00")
    add_account(session, "C-2")
    add_invoice(session, "C-2", "INV-2", due=date(2026, 3, 5), amount="80.00")
    summary = json.loads(invoke("run", "--as-of", AS_OF, "--json").stdout)
    assert (summary["sent"], summary["awaiting_approval"]) == (1, 1)
    [draft] = json.loads(invoke("approvals", "--json").stdout)
    assert draft["account"] == "C-1" and "1250.00 USD" in draft["why"]


def test_pruning_keeps_the_threads_that_wait_for_a_person(env, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))  # first overdue: waits
    add_account(session, "C-2")
    add_invoice(session, "C-2", "INV-2", due=date(2026, 3, 12))  # a reminder: goes out
    summary = json.loads(invoke("run", "--as-of", AS_OF, "--json").stdout)
    assert (summary["sent"], summary["awaiting_approval"]) == (1, 1)

    assert invoke("prune-checkpoints").stdout.strip() == "pruned 1 chase thread(s)"
    [draft] = json.loads(invoke("approvals", "--json").stdout)
    assert invoke("approve", str(draft["id"]), "--as-of", AS_OF).exit_code == 0
    assert len(sent(env)) == 2
    assert invoke("prune-checkpoints").stdout.strip() == "pruned 1 chase thread(s)"


def test_a_draft_whose_thread_is_gone_is_drafted_afresh(waiting, env, settings):
    from tools.checkpoints import open_checkpointer

    with open_checkpointer(settings) as saver:  # lost, as if pruned by an older version
        saver.delete_thread("chase:C-1")
    late = invoke("approve", str(waiting["id"]), "--as-of", AS_OF)
    assert late.exit_code == 1 and "decided afresh" in late.stderr
    again = json.loads(invoke("run", "--as-of", AS_OF, "--json").stdout)
    assert again["awaiting_approval"] == 1  # not stuck: the draft waits again...
    [draft] = json.loads(invoke("approvals", "--json").stdout)  # ...where a person sees it
    assert invoke("approve", str(draft["id"]), "--as-of", AS_OF).exit_code == 0
    assert len(sent(env)) == 1
