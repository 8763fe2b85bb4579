"""Snapshot reads: several accounts read together give each account exactly what it
gets alone (the pass reads the due accounts a chunk at a time)."""

from __future__ import annotations

from datetime import date, timedelta

from builders import add_account, add_invoice, add_sent
from tools.ledger import HISTORY_LIMIT, load_snapshot, load_snapshots


def test_snapshots_read_together_equal_those_read_alone(engine, session):
    add_account(session, "C-1")
    add_account(session, "C-2", email="billing@two.example")
    add_account(session, "C-3", email=None)
    for n in range(HISTORY_LIMIT + 5):  # more history than the tone rule reads
        due = date(2024, 1, 1) + timedelta(days=30 * n)
        add_invoice(session, "C-1", f"H1-{n}", due=due, paid_date=due + timedelta(days=n % 9))
    add_invoice(session, "C-1", "INV-1", due=date(2026, 3, 5))
    add_invoice(session, "C-2", "INV-2", due=date(2026, 3, 1), amount="80.00")
    add_invoice(session, "C-2", "INV-3", due=date(2026, 2, 1))
    add_sent(session, "C-2", "first_overdue", ["INV-3"], date(2026, 2, 5))

    with engine.connect() as conn:
        together = load_snapshots(conn, ["C-1", "C-2", "C-3", "C-404"], "{invoice_number}")
        alone = {a: load_snapshot(conn, a, "{invoice_number}") for a in ("C-1", "C-2", "C-3")}

    assert together == alone  # and an unknown account is simply absent
    assert len(together["C-1"].history) == HISTORY_LIMIT
    assert together["C-1"].history[0].number == f"H1-{HISTORY_LIMIT + 4}"  # newest first
    assert [inv.number for inv in together["C-2"].open_invoices] == ["INV-3", "INV-2"]
    assert together["C-3"].emails == ()
