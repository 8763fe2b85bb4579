"""``dunning daemon`` as a service manager runs it: a real process, JSON logs, the
health and metrics endpoint, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from builders import add_account, add_invoice

DUNNING = str(Path(sys.executable).with_name("dunning"))


@pytest.fixture
def daemon_env(settings, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    env.update(
        DUNNING_DATABASE_URL=settings.database_url,
        DUNNING_OUTBOX_DIR=str(tmp_path / "outbox"),
        DUNNING_INBOX_DIR=str(tmp_path / "inbox"),
        DUNNING_COMPANY_NAME="Vendor Ltd",
        DUNNING_FROM_ADDRESS="ar@vendor.example",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_until_idle_chases_what_is_due_and_logs_json(daemon_env, session, tmp_path):
    for n in range(3):
        add_account(session, f"C-{n}")
        add_invoice(session, f"C-{n}", f"INV-{n}", due=date(2026, 3, 5))
    done = subprocess.run(
        [DUNNING, "daemon", "--until-idle", "--as-of", "2026-03-10", "--every", "0.1"],
        env=daemon_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = log_lines(done.stderr)
    passes = [line for line in lines if line["msg"] == "pass done"]
    assert passes[0]["sent"] == 3 and passes[-1]["accounts_looked_at"] == 0
    assert {line["level"] for line in lines} <= {"info", "warning"}
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 3


def test_sigterm_stops_it_cleanly_and_the_endpoint_reports(daemon_env, session, tmp_path):
    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    port = free_port()
    process = subprocess.Popen(
        [DUNNING, "daemon", "--as-of", "2026-03-10", "--http", f"127.0.0.1:{port}"],
        env=daemon_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    health = json.loads(r.read())
                if health["last_pass_at"]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert health is not None and health["status"] == "ok" and health["last_pass_at"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert "dunning_passes_total 1.0" in metrics
        assert 'dunning_messages_sent_total{stage="first_overdue"} 1.0' in metrics
        assert "dunning_escalations_open 0.0" in metrics

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)  # it is waiting for mail now: it stops at once
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert time.monotonic() - started < 10
    stopped = [line for line in log_lines(err) if line["msg"] == "daemon stopped"]
    assert stopped and stopped[0]["signal"] == "SIGTERM"


def test_sigterm_during_a_pass_finishes_the_account_in_hand(daemon_env, settings, engine):
    import sqlalchemy as sa

    from tools.seed import seed_ledger

    seed_ledger(
        engine,
        accounts=400,
        seed=9,
        as_of=date(2026, 3, 10),
        now=datetime(2026, 3, 9, tzinfo=UTC),
    )
    process = subprocess.Popen(
        [DUNNING, "daemon", "--as-of", "2026-03-10", "--no-inbox"],
        env=daemon_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if '"daemon started"' in line:
            break
    time.sleep(0.8)  # well inside the pass over 400 accounts
    process.send_signal(signal.SIGTERM)
    err = process.stderr.read()
    assert process.wait(timeout=60) == 0
    lines = log_lines(err)
    [done] = [line for line in lines if line["msg"] == "pass done"]
    assert 0 < done["accounts_looked_at"] < 400  # it stopped early...
    with engine.connect() as conn:
        states = dict(
            conn.execute(sa.text("SELECT state, count(*) FROM messages GROUP BY state")).all()
        )
        leased = conn.execute(
            sa.text("SELECT count(*) FROM accounts WHERE lease_owner IS NOT NULL")
        ).scalar()
    assert "sending" not in states  # ...and nothing was left half-sent
    assert leased == 0  # and it gave its unfinished accounts back at once


def test_sigterm_while_waiting_in_imap_idle_stops_at_once(daemon_env, dovecot):
    dovecot.reset("ar")
    env = {
        **daemon_env,
        "DUNNING_IMAP_HOST": dovecot.host,
        "DUNNING_IMAP_PORT": str(dovecot.port),
        "DUNNING_IMAP_USER": "ar",
        "DUNNING_IMAP_PASSWORD": "secret",
        "DUNNING_IMAP_TLS": "none",
    }
    process = subprocess.Popen(
        [DUNNING, "daemon", "--every", "3600"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    for line in process.stderr:
        if '"pass done"' in line:
            break
    time.sleep(1.5)  # polled the inbox, now in IDLE
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    err = process.stderr.read()
    assert process.wait(timeout=30) == 0, err
    assert time.monotonic() - started < 5
    assert any(line["msg"] == "daemon stopped" for line in log_lines(err))
    assert not any(line["level"] == "error" for line in log_lines(err))


def test_dunning_inbox_stops_cleanly_on_sigterm(daemon_env):
    process = subprocess.Popen(
        [DUNNING, "inbox"],
        env=daemon_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "nothing new" in process.stdout.readline()  # polled; now waiting for mail
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 5


def test_a_failing_pass_is_logged_and_the_daemon_carries_on(daemon_env, session, engine):
    import sqlalchemy as sa

    add_account(session, "C-1")
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    with engine.begin() as conn:  # the ledger is broken when the daemon starts
        conn.execute(sa.text("ALTER TABLE invoices RENAME TO invoices_away"))
    process = subprocess.Popen(
        [DUNNING, "daemon", "--as-of", "2026-03-10", "--every", "0.5", "--no-inbox"],
        env=daemon_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if '"the chase pass failed' in line:
                break
        with engine.begin() as conn:  # ...and mended while it runs
            conn.execute(sa.text("ALTER TABLE invoices_away RENAME TO invoices"))
        for line in process.stderr:
            if '"pass done"' in line and json.loads(line)["sent"] == 1:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
