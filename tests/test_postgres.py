"""On a real PostgreSQL: the ledger, the chase pass with LangGraph's Postgres
checkpointer, and several daemon workers sharing one ledger through leases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from agent.chase_pass import due_accounts
from agent.cli import app
from agent.clock import parse_as_of
from agent.runtime import open_runtime
from tools.db import make_engine, migrate
from tools.seed import seed_ledger
from tools.tables import Account

DUNNING = str(Path(sys.executable).with_name("dunning"))
AS_OF = "2026-03-10"
SEEDED = datetime(2026, 3, 9, tzinfo=UTC)
runner = CliRunner()


def env_for(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    env.update(
        DUNNING_DATABASE_URL=settings.database_url,
        DUNNING_OUTBOX_DIR=str(settings.outbox_dir),
        DUNNING_INBOX_DIR=str(settings.inbox_dir),
        DUNNING_COMPANY_NAME="Vendor Ltd",
        DUNNING_FROM_ADDRESS="ar@vendor.example",
    )
    return env


def test_a_pass_on_postgresql_sends_once_and_keeps_money_exact(pg_settings, monkeypatch):
    for key, value in env_for(pg_settings).items():
        monkeypatch.setenv(key, value)
    engine = make_engine(pg_settings.database_url)
    migrate(engine)
    seed_ledger(
        engine, accounts=30, seed=3, as_of=date(2026, 3, 10), now=datetime(2026, 3, 9, tzinfo=UTC)
    )

    first = runner.invoke(app, ["run", "--as-of", AS_OF, "--json"])
    assert first.exit_code == 0, first.output
    sent = json.loads(first.stdout)["sent"]
    assert sent > 0
    again = json.loads(runner.invoke(app, ["run", "--as-of", AS_OF, "--json"]).stdout)
    assert again["sent"] == 0  # the same day twice sends nothing twice

    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'invoices' AND column_name IN ('amount', 'balance')"
                )
            ).all()
        )
        assert kinds == {"amount": "numeric", "balance": "numeric"}
        amount = conn.execute(sa.text("SELECT amount FROM invoices LIMIT 1")).scalar()
        assert isinstance(amount, Decimal)
        threads = conn.execute(sa.text("SELECT count(DISTINCT thread_id) FROM checkpoints"))
        assert threads.scalar() >= sent  # the chase threads live in PostgreSQL
    assert len(list((pg_settings.outbox_dir / "new").iterdir())) == sent


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_on_one_database_decide_each_due_account_exactly_once(pg_settings, workers):
    engine = make_engine(pg_settings.database_url)
    migrate(engine)
    seed_ledger(
        engine, accounts=300, seed=11, as_of=date(2026, 3, 10), now=datetime(2026, 3, 9, tzinfo=UTC)
    )
    with open_runtime(pg_settings, clock=parse_as_of(AS_OF), engine=engine) as runtime:
        due = set(due_accounts(runtime.deps))
    assert len(due) > 100

    env = env_for(pg_settings)
    processes = [
        subprocess.Popen(
            [DUNNING, "daemon", "--until-idle", "--no-inbox", "--as-of", AS_OF, "--every", "0"],
            env={**env, "DUNNING_WORKER_ID": f"w{n}"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    logs = [p.communicate(timeout=600)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * workers, logs

    with engine.connect() as conn:
        decided = Counter(
            conn.execute(sa.text("SELECT account_id FROM decisions WHERE kind = 'chase'")).scalars()
        )
        messages = conn.execute(
            sa.text("SELECT account_id, local_day, count(*) FROM messages GROUP BY 1, 2")
        ).all()
        leased = conn.execute(
            sa.text("SELECT count(*) FROM accounts WHERE lease_owner IS NOT NULL")
        ).scalar()
    assert set(decided) == due  # nothing missed
    assert max(decided.values()) == 1  # nothing decided twice
    assert all(count == 1 for _account, _day, count in messages)  # nothing sent twice
    today = [m for m in messages if m[1] == date(2026, 3, 10)]  # the rest is seeded history
    assert len(list((pg_settings.outbox_dir / "new").iterdir())) == len(today) > 0
    assert leased == 0
    # the work was shared
    passes = [
        json.loads(line)
        for log in logs
        for line in log.splitlines()
        if line.startswith("{") and '"pass done"' in line
    ]
    assert sum(p["accounts_looked_at"] for p in passes) == len(due)
    assert len({p["worker"] for p in passes if p["accounts_looked_at"]}) >= 2


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_dead_workers_accounts_go_to_another_after_the_lease_times_out(
    database, settings, pg_settings
):
    import time

    from tools import leases

    chosen = settings if database == "sqlite" else pg_settings
    engine = make_engine(chosen.database_url)
    migrate(engine)
    seed_ledger(engine, accounts=5, seed=2, as_of=date(2026, 3, 10), now=SEEDED)
    with engine.connect() as conn:  # as the pass lists them
        listed = [tuple(r) for r in conn.execute(sa.select(Account.id, Account.next_review_at))]

    assert sorted(leases.claim(engine, "a", listed, lease_seconds=1.0)) == sorted(
        a for a, _ in listed
    )
    # worker a dies holding them: b gets nothing while the lease runs
    assert leases.claim(engine, "b", listed, lease_seconds=30) == []
    time.sleep(1.2)
    assert len(leases.claim(engine, "b", listed, lease_seconds=30)) == len(listed)
    # an account decided since it was listed is not redone
    leases.release(engine, "b", [a for a, _ in listed])
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE accounts SET next_review_at = NULL WHERE id = :a"), {"a": listed[0][0]}
        )
    assert listed[0][0] not in leases.claim(engine, "c", listed, lease_seconds=30)
