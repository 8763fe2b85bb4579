"""`dunning demo` (what `make demo` runs) and `dunning seed`, as a new user runs them."""

from __future__ import annotations

import mailbox

from sqlmodel import Session, func, select
from typer.testing import CliRunner

from agent.cli import app
from tools.db import make_engine
from tools.tables import Account, DecisionRow

runner = CliRunner()


def test_demo_chases_a_sample_ledger_and_starts_fresh_each_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["demo", "--days", "8", "--accounts", "20", "--start", "2026-03-02"]

    first = runner.invoke(app, args, env={"COLUMNS": "200"})

    assert first.exit_code == 0, first.output
    assert "Mon 2026-03-02" in first.output and "what the agent did" in first.output
    sent = list(mailbox.Maildir(tmp_path / "dunning-demo" / "outbox", create=False))
    assert sent and all(mail["Message-ID"] for mail in sent)
    engine = make_engine(f"sqlite:///{tmp_path / 'dunning-demo' / 'dunning.db'}")
    with Session(engine) as session:
        decisions = session.exec(select(func.count()).select_from(DecisionRow)).one()
    assert decisions > 20

    again = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert len(list(mailbox.Maildir(tmp_path / "dunning-demo" / "outbox", create=False))) == len(
        sent
    )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(DecisionRow)).one() == decisions


def test_seed_writes_the_ledger_the_settings_point_at(tmp_path, monkeypatch):
    monkeypatch.setenv("DUNNING_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    result = runner.invoke(
        app, ["seed", "--accounts", "12", "--seed", "5", "--as-of", "2026-03-10"]
    )
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Account)).one() == 12
    again = runner.invoke(app, ["seed", "--accounts", "12", "--seed", "5"])
    assert again.exit_code == 1 and "already" in again.output
