"""``dunning eval`` as a user runs it on case files it has never seen: validation that
names file and case, scoring through the real graphs, critical violations, the JSON
shape of ``shared/eval-cases.md``, the Markdown report and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()

REPLY = """
- id: promise-friday-01
  kind: reply
  tags: [relative-date]
  today: 2026-03-10
  account: {id: C-100, name: Acme Ltd, email: ap@acme.example}
  invoices:
    - {number: INV-1042, amount: 1250.00, currency: USD,
       issue_date: 2026-02-03, due_date: 2026-03-05, balance: 1250.00}
  email:
    from: "Dana Ruiz <ap@acme.example>"
    to: "ar@vendor.example"
    subject: "Re: Invoice INV-1042 is 5 days overdue"
    date: 2026-03-10T09:12:00+00:00
    body: |
      Hi, sorry about that, we'll pay it on Friday.

      > FINAL NOTICE: Invoice INV-1042 is overdue.
  expect:
    intent: promise_to_pay
    action: pause
    promise_date: 2026-03-13
    invoices: [INV-1042]
- id: copy-please
  kind: reply
  account: {id: C-101, name: Borealis GmbH, email: billing@borealis.example}
  invoices:
    - {number: INV-2001, amount: 99.00, currency: EUR,
       issue_date: 2026-02-01, due_date: 2026-03-03, balance: 99.00}
  email:
    from: billing@borealis.example
    subject: "AW: Rechnung INV-2001"
    date: 2026-03-10T08:00:00+01:00
    body: "Bitte senden Sie uns eine Kopie der Rechnung."
  expect: {intent: question, action: respond}
"""

DECISION = """
- id: final-notice-blocked-by-promise
  kind: decision
  today: 2026-05-01
  account:
    id: C-7
    name: Borealis GmbH
    email: billing@borealis.example
    timezone: Europe/Berlin
    history:
      - {number: INV-0901, amount: 800.00, due_date: 2025-11-30, paid_date: 2025-12-02}
  invoices:
    - {number: INV-0950, amount: 1200.00, currency: EUR,
       issue_date: 2026-01-30, due_date: 2026-03-01, balance: 1200.00}
  events:
    - {date: 2026-03-04, type: sent, stage: first_overdue, invoices: [INV-0950]}
    - {date: 2026-03-18, type: sent, stage: escalation, invoices: [INV-0950]}
    - {date: 2026-04-28, type: reply, intent: promise_to_pay, promise_date: 2026-05-05}
  expect: {action: hold, forbid: [send]}
- id: final-notice-after-escalation
  kind: decision
  tags: [final-notice]
  today: 2026-04-20
  account: {id: C-8, name: Cobalt Inc, email: ap@cobalt.example}
  invoices:
    - {number: INV-0960, amount: 500.00, currency: USD,
       issue_date: 2026-02-04, due_date: 2026-03-06, balance: 500.00}
  events:
    - {date: 2026-03-10, type: sent, stage: first_overdue, invoices: [INV-0960]}
    - {date: 2026-03-23, type: sent, stage: escalation, invoices: [INV-0960]}
  expect: {action: send, stage: final_notice, tone: final, invoices: [INV-0960]}
- id: saturday-counts-as-send
  kind: decision
  note: the sending window defers it to Monday; the labels' policy has no window
  today: 2026-03-14
  account: {id: C-9, name: Dune LLC, email: ap@dune.example}
  invoices:
    - {number: INV-0970, amount: 75.00, currency: USD,
       issue_date: 2026-02-08, due_date: 2026-03-10, balance: 75.00}
  expect: {action: send, stage: first_overdue, tone: neutral, invoices: [INV-0970]}
"""

WRONG = """
- id: wrongly-labelled
  kind: decision
  today: 2026-04-20
  account: {id: C-8, name: Cobalt Inc, email: ap@cobalt.example}
  invoices:
    - {number: INV-0960, amount: 500.00, currency: USD,
       issue_date: 2026-02-04, due_date: 2026-03-06, balance: 500.00}
  events:
    - {date: 2026-03-10, type: sent, stage: first_overdue, invoices: [INV-0960]}
    - {date: 2026-03-23, type: sent, stage: escalation, invoices: [INV-0960]}
  expect: {action: wait, forbid: [final_notice]}
"""


@pytest.fixture
def cases(tmp_path: Path, settings, monkeypatch) -> Path:
    monkeypatch.setenv("DUNNING_DATABASE_URL", settings.database_url)
    folder = tmp_path / "cases"
    (folder / "nested").mkdir(parents=True)
    (folder / "replies.yaml").write_text(REPLY)
    (folder / "nested" / "decisions.yml").write_text(DECISION)
    return folder


def test_eval_runs_cases_it_has_never_seen_and_prints_the_agreed_json(cases):
    result = runner.invoke(app, ["eval", str(cases), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    summary = data["summary"]
    assert (summary["cases"], summary["passed"], summary["pass_rate"]) == (5, 5, 1.0)
    assert summary["critical_violations"] == 0
    assert summary["accuracy"]["intent"] == 1.0 and summary["accuracy"]["action"] == 1.0
    assert summary["per_intent"]["promise_to_pay"]["f1"] == 1.0
    assert summary["per_tag"]["relative-date"]["passed"] == 1
    first = next(case for case in data["cases"] if case["id"] == "promise-friday-01")
    assert set(first) >= {"id", "passed", "expected", "got", "critical", "reason"}
    assert first["got"]["promise_date"] == "2026-03-13"
    assert "promised to pay" in first["reason"]


def test_a_wrong_decision_is_reported_with_expected_got_and_reason_and_fails_the_run(
    cases, tmp_path
):
    (cases / "wrong.yaml").write_text(WRONG)
    report = tmp_path / "report.md"

    result = runner.invoke(app, ["eval", str(cases), "--report", str(report)])

    assert result.exit_code == 1  # a critical violation: the forbidden final notice
    assert "CRITICAL" in result.stdout and "wrongly-labelled" in result.stdout
    assert "expected wait, got send" in result.stdout
    assert "forbidden stage final_notice" in result.stdout
    text = report.read_text()
    assert "# Eval report" in text and "### CRITICAL: wrongly-labelled" in text
    assert "| promise_to_pay |" in text


def test_min_pass_rate_sets_the_exit_status(cases):
    (cases / "replies.yaml").write_text(
        REPLY.replace("promise_date: 2026-03-13", "promise_date: 2026-03-20")
    )
    ok = runner.invoke(app, ["eval", str(cases), "--json", "--min-pass-rate", "0.8"])
    strict = runner.invoke(app, ["eval", str(cases), "--json", "--min-pass-rate", "0.9"])
    assert json.loads(ok.stdout)["summary"]["passed"] == 4
    assert (ok.exit_code, strict.exit_code) == (0, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (REPLY.replace("intent: question", "intent: curious"), "'copy-please': expect.intent"),
        (
            REPLY.replace(
                "kind: reply\n  account: {id: C-101",
                "kind: reply\n  colour: red\n  account: {id: C-101",
            ),
            "'copy-please': colour: Extra inputs",
        ),
        (
            REPLY.replace("  email:\n    from: billing", "  mail:\n    from: billing"),
            "'copy-please': email: Field required",
        ),
        (
            REPLY
            + REPLY.split("- id: copy-please")[0].replace(
                "- id: promise-friday-01", "- id: copy-please"
            ),
            "'copy-please': duplicate id",
        ),
        ("- id: x\n  kind: decision\n  today: 2026-13-01\n", "month must be in 1..12"),
        ("{not a list", "not readable YAML"),
    ],
)
def test_a_bad_case_stops_the_run_before_anything_is_scored_naming_file_and_id(
    cases, text, message
):
    bad = cases / "bad.yaml"
    bad.write_text(text)
    result = runner.invoke(app, ["eval", str(cases), "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert str(bad) in result.stderr or "bad.yaml" in result.stderr
    assert message in " ".join(result.stderr.split())
