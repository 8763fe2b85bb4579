"""Schema versioning: an upgrade keeps the data, a newer database is refused."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from builders import add_account, add_invoice
from tools import db


def test_migrate_twice_keeps_data(engine, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    assert db.migrate(engine) == db.SCHEMA_VERSION
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invoices")).scalar() == 1


def test_an_upgrade_runs_each_step_and_keeps_the_data(engine, session, monkeypatch):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    current = db.SCHEMA_VERSION

    def add_region(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE accounts ADD COLUMN region TEXT DEFAULT 'emea'"))

    monkeypatch.setitem(db.MIGRATIONS, current, add_region)
    assert db.migrate(engine, target=current + 1) == current + 1

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT region FROM accounts")).scalar() == "emea"
        assert conn.execute(sa.text("SELECT number FROM invoices")).scalar() == "INV-1"
        assert db.current_version(conn) == current + 1


def test_a_database_newer_than_the_program_is_refused(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 999"))
    with pytest.raises(db.SchemaError, match="999"):
        db.migrate(engine)


def test_a_version_1_ledger_upgrades_step_by_step_and_keeps_its_log(engine, session):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    with engine.begin() as conn:  # turn the fresh database back into schema version 1
        for table in ("inbound_messages", "inbox_cursors", "instance", "approvals"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
        for table, column in (("accounts", "lease_owner"), ("accounts", "lease_until")):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        for column in (
            "kind",
            "inbound_id",
            "intent",
            "model",
            "prompt_version",
            "llm_calls",
            "prompt_tokens",
            "completion_tokens",
            "actor",
        ):
            conn.execute(sa.text(f"ALTER TABLE decisions DROP COLUMN {column}"))
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
        conn.execute(
            sa.text(
                "INSERT INTO decisions (at, account_id, invoices, action, reason, "
                "policy_version, engine, dry_run) VALUES ('2026-03-01 10:00:00', 'C-1', '[]', "
                "'wait', 'nothing due', 'default-1', 'offline', 0)"
            )
        )

    assert db.migrate(engine) == db.SCHEMA_VERSION == 4

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT kind, reason, llm_calls FROM decisions")).one() == (
            "chase",
            "nothing due",
            0,
        )
        assert conn.execute(sa.text("SELECT count(*) FROM inbound_messages")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM approvals")).scalar() == 0
        assert conn.execute(sa.text("SELECT lease_owner FROM accounts")).scalar() is None
        secret = conn.execute(sa.text("SELECT reply_secret FROM instance")).scalar()
        assert secret and len(secret) == 64
        assert conn.execute(sa.text("SELECT number FROM invoices")).scalar() == "INV-1"
