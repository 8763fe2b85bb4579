"""The ``dunning`` command as a user runs it: run, log, show, config, import."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from builders import add_account, add_invoice

runner = CliRunner()
LOG_FIELDS = {
    "at",
    "account",
    "invoices",
    "action",
    "stage",
    "tone",
    "reason",
    "policy_version",
    "engine",
    "kind",
    "intent",
    "actor",
}


@pytest.fixture
def env(settings, monkeypatch, tmp_path) -> dict[str, str]:
    values = {
        "DUNNING_DATABASE_URL": settings.database_url,
        "DUNNING_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DUNNING_COMPANY_NAME": "Vendor Ltd",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def ledger(env, session):
    add_account(session, "C-1", name="Acme Ltd")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    add_account(session, "C-2", name="Borealis GmbH", human_flagged=True)
    add_invoice(session, "C-2", "INV-2", due=date(2026, 2, 1))
    return session


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_run_json_prints_the_pass_summary(ledger):
    result = invoke("run", "--once", "--as-of", "2026-03-10", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["accounts_looked_at"] == 2
    assert (summary["sent"], summary["waited"], summary["held"], summary["escalated"]) == (
        1,
        0,
        1,
        0,
    )
    assert {d["account"]: d["action"] for d in summary["decisions"]} == {
        "C-1": "send",
        "C-2": "hold",
    }


def test_log_json_prints_one_object_per_decision_with_its_fields(ledger):
    invoke("run", "--as-of", "2026-03-10")
    result = invoke("log", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert all(set(line) == LOG_FIELDS for line in lines)
    sent = next(line for line in lines if line["action"] == "send")
    assert sent["account"] == "C-1" and sent["invoices"] == ["INV-1"]
    assert (sent["stage"], sent["tone"]) == ("first_overdue", "neutral")
    assert sent["engine"] == "offline" and sent["policy_version"] == "default-1"


def test_log_filters_by_account_action_and_date(ledger):
    invoke("run", "--as-of", "2026-03-10")
    by_account = invoke("log", "--json", "--account", "C-2").stdout.splitlines()
    assert [json.loads(line)["action"] for line in by_account] == ["hold"]
    by_action = invoke("log", "--json", "--action", "send").stdout.splitlines()
    assert [json.loads(line)["account"] for line in by_action] == ["C-1"]
    assert invoke("log", "--json", "--since", "2026-03-11").stdout == ""
    assert len(invoke("log", "--json", "--since", "2026-03-10").stdout.splitlines()) == 2


def test_log_table_shows_reasons_a_person_can_read(ledger):
    invoke("run", "--as-of", "2026-03-10")
    result = runner.invoke(app, ["log"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "flagged" in result.stdout and "first_overdue" in result.stdout
    assert "2 decisions" in result.stdout


def test_log_rejects_an_unknown_action(ledger):
    result = invoke("log", "--action", "shout")
    assert result.exit_code == 2 and "shout" in result.output


def test_show_prints_the_account_timeline(ledger):
    invoke("run", "--as-of", "2026-03-10")
    result = runner.invoke(app, ["show", "C-1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Acme Ltd" in result.stdout and "INV-1" in result.stdout
    assert "message sent" in result.stdout and "decision send" in result.stdout


def test_dry_run_sends_and_records_nothing(ledger, env):
    result = invoke("run", "--as-of", "2026-03-10", "--dry-run", "--json")
    assert json.loads(result.stdout)["sent"] == 1
    assert invoke("log", "--json").stdout == ""
    assert not Path(env["DUNNING_OUTBOX_DIR"]).exists() or not any(
        Path(env["DUNNING_OUTBOX_DIR"], "new").iterdir()
    )


def test_config_show_masks_secrets(env, monkeypatch):
    monkeypatch.setenv("DUNNING_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("DUNNING_DATABASE_URL", "postgresql+psycopg://ar:s3cret@db/dunning")
    result = invoke("config", "show", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout
    assert shown["smtp_password"] == "********"
    assert shown["policy"]["min_gap_days"] == 5


def test_config_reads_toml_and_environment_wins(env, monkeypatch, tmp_path):
    toml = tmp_path / "dunning.toml"
    toml.write_text('company_name = "From Toml"\n[policy]\nmin_gap_days = 9\n')
    monkeypatch.setenv("DUNNING_POLICY__MIN_GAP_DAYS", "6")
    result = invoke("--config", str(toml), "config", "show", "--json")
    shown = json.loads(result.stdout)
    assert shown["policy"]["min_gap_days"] == 6
    monkeypatch.delenv("DUNNING_COMPANY_NAME")
    shown = json.loads(invoke("--config", str(toml), "config", "show", "--json").stdout)
    assert shown["company_name"] == "From Toml"


def test_a_bad_setting_is_an_error_naming_it(env, monkeypatch):
    monkeypatch.setenv("DUNNING_SMTP_TLS", "maybe")
    result = invoke("config", "show")
    assert result.exit_code == 2
    assert "DUNNING_SMTP_TLS" in result.output


def test_import_failure_names_file_row_and_column_and_writes_nothing(env, tmp_path):
    bad = tmp_path / "invoices.csv"
    bad.write_text(
        "customer_id,customer_name,email,invoice_number,issue_date,due_date,amount,currency,balance\n"
        "C-9,Nine Ltd,ap@nine.example,INV-9,2026-02-01,2026-03-01,100.00,USD,100.00\n"
        "C-9,Nine Ltd,ap@nine.example,INV-10,2026-02-01,2026-13-01,100.00,USD,100.00\n"
    )
    result = runner.invoke(app, ["import", "invoices", str(bad)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "invoices.csv" in result.output and "row 3" in result.output
    assert "due_date" in result.output and "nothing was written" in result.output
    assert invoke("show", "C-9").exit_code == 1


def test_a_date_as_of_runs_inside_a_configured_sending_window(ledger, monkeypatch):
    # a window that does not contain 10:00: a date alone still means "inside the window"
    monkeypatch.setenv("DUNNING_POLICY__SEND_WINDOW_START", "13:00")
    monkeypatch.setenv("DUNNING_POLICY__SEND_WINDOW_END", "17:00")
    result = invoke("run", "--as-of", "2026-03-10", "--json")
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["deferred"]) == (1, 0)


def test_seed_as_of_a_past_date_leaves_work_for_a_pass_on_that_date(env):
    assert invoke("seed", "--accounts", "30", "--as-of", "2026-03-10").exit_code == 0
    summary = json.loads(invoke("run", "--as-of", "2026-03-10", "--json").stdout)
    assert summary["accounts_looked_at"] == 30
    assert summary["sent"] > 0 and summary["held"] > 0
