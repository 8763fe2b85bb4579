"""``make bench`` (replies): 1,000 customer replies in a real Dovecot, read through IMAP,
stored, matched, classified and acted on with the offline engine; then an empty re-poll.

Prints messages per second (target: at least 100) and the time of an empty re-poll
(target: under 100 ms), the median of three runs each, from a fresh ledger and a
freshly filled mailbox. Figures are printed, never asserted.
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dovecot_server import DovecotServer  # noqa: E402

from agent.clock import DayClock  # noqa: E402
from agent.config import load_settings  # noqa: E402
from agent.runtime import open_engine, open_runtime  # noqa: E402
from tools.outbox import message_key  # noqa: E402
from tools.tables import Account, Contact, Invoice, Message  # noqa: E402

REPLIES = 1_000
ACCOUNTS = 500
RUNS = 3
TODAY = date(2026, 3, 17)
BODIES = [
    "Sorry for the delay, we will pay on Friday.",
    "Payment goes out in next week's run.",
    "We already paid this last week, remittance attached.",
    "Could you resend a copy of the invoice please?",
    "The amount is wrong: we were quoted less. Please send a credit note.",
    "Can we pay this in three instalments? Cash is tight this quarter.",
    "Please remove me from this mailing list.",
    "Thanks, noted.",
    "Wir zahlen bis Ende der Woche.",
    "Die Rechnung wurde bereits überwiesen.",
]


def seed(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """Accounts with an overdue invoice and a sent reminder: (account, invoice, msg-id)."""
    now = datetime(2026, 3, 10, 10, tzinfo=UTC)
    accounts, contacts, invoices, messages, found = [], [], [], [], []
    for n in range(ACCOUNTS):
        account = f"C-{n:04d}"
        number = f"INV-{n:05d}"
        key = message_key(account, "first_overdue", (number,), date(2026, 3, 10))
        msgid = f"<dunning.{key}@vendor.example>"
        accounts.append(
            {"id": account, "name": f"Customer {n}", "created_at": now, "updated_at": now}
        )
        contacts.append({"account_id": account, "email": f"ap@customer{n}.example"})
        invoices.append(
            {
                "number": number,
                "account_id": account,
                "currency": "USD",
                "amount": Decimal("1250.00"),
                "balance": Decimal("1250.00"),
                "issue_date": date(2026, 2, 1),
                "due_date": date(2026, 3, 3),
            }
        )
        messages.append(
            {
                "key": key,
                "message_id": msgid,
                "account_id": account,
                "stage": "first_overdue",
                "tone": "neutral",
                "invoices": [number],
                "local_day": date(2026, 3, 10),
                "to_addrs": [f"ap@customer{n}.example"],
                "subject": f"Payment overdue: invoice {number}",
                "body": "...",
                "state": "sent",
                "created_at": now,
                "sent_at": now,
            }
        )
        found.append((account, number, msgid))
    with engine.begin() as conn:
        conn.execute(sa.insert(Account), accounts)
        conn.execute(sa.insert(Contact), contacts)
        conn.execute(sa.insert(Invoice), invoices)
        conn.execute(sa.insert(Message), messages)
    return found


def replies(sent: list[tuple[str, str, str]], rng: random.Random) -> list[bytes]:
    out = []
    for i in range(REPLIES):
        account, number, msgid = sent[i % len(sent)]
        n = int(account[2:])
        email = EmailMessage()
        email["From"] = f"AP <ap@customer{n}.example>"
        email["To"] = "ar@vendor.example"
        email["Subject"] = f"Re: Payment overdue: invoice {number}"
        email["Date"] = format_datetime(datetime(2026, 3, 16, 9, tzinfo=UTC) + timedelta(minutes=i))
        email["Message-ID"] = f"<bench-{i}@customer{n}.example>"
        if i % 5 < 3:  # most replies keep the thread; others are found by number or sender
            email["In-Reply-To"] = msgid
            email["References"] = msgid
        body = rng.choice(BODIES)
        quoted = f"> Invoice {number}\n> Open balance: $1,250.00\n> This is a FINAL NOTICE.\n"
        email.set_content(f"{body}\n\nBest regards,\nAP team\n\nOn Tue, we wrote:\n{quoted}")
        out.append(email.as_bytes())
    return out


def one_run(server: DovecotServer, work: Path, run: int) -> tuple[float, float, int]:
    directory = work / f"run{run}"
    directory.mkdir()
    server.reset("ar")
    settings = load_settings(
        database_url=f"sqlite:///{directory / 'ledger.db'}",
        outbox_dir=directory / "outbox",
        from_address="ar@vendor.example",
        imap_host=server.host,
        imap_port=server.port,
        imap_user="ar",
        imap_password=server.users["ar"],
        imap_tls="none",
    )
    engine = open_engine(settings)
    sent = seed(engine)
    server.append_many("ar", "INBOX", replies(sent, random.Random(run)))
    with open_runtime(settings, clock=DayClock(TODAY), engine=engine) as runtime:
        inbox = runtime.open_inbox()
        try:
            started = time.perf_counter()
            outcomes = runtime.poll_inbox(inbox)
            elapsed = time.perf_counter() - started
            repolls = []
            for _ in range(5):
                started = time.perf_counter()
                assert runtime.poll_inbox(inbox) == []
                repolls.append(time.perf_counter() - started)
        finally:
            inbox.close()
    engine.dispose()
    return len(outcomes) / elapsed, statistics.median(repolls) * 1000, len(outcomes)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dunning-inbox-bench-"))
    try:
        with DovecotServer() as server:
            results = [one_run(server, work, run) for run in range(RUNS)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rates = [r[0] for r in results]
    repolls = [r[1] for r in results]
    print(
        f"replies: {results[0][2]:,} replies in Dovecot read, stored, matched, classified and "
        f"acted on (offline engine): median {statistics.median(rates):.0f} messages/s "
        f"(runs: {', '.join(f'{r:.0f}' for r in rates)})   [target >= 100/s]"
    )
    print(
        f"empty re-poll: median {statistics.median(repolls):.1f} ms "
        f"(runs: {', '.join(f'{r:.1f}' for r in repolls)})   [target < 100 ms]"
    )


if __name__ == "__main__":
    main()
