"""The daemon killed with SIGKILL at random points, again and again, in the middle of a
pass over a few hundred due accounts, and restarted each time. At the end every due
message was delivered exactly once (counted by a real SMTP server) or waits for a
person, none was delivered twice, and the decision log agrees with the outbox."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from agent.chase_pass import due_accounts
from agent.clock import parse_as_of
from agent.runtime import open_runtime
from smtp_server import SmtpTestServer
from tools.seed import seed_ledger

DUNNING = str(Path(sys.executable).with_name("dunning"))
AS_OF = "2026-03-10"
KILLS = 15


def test_killing_the_daemon_mid_pass_never_sends_twice(settings, engine, tmp_path):
    seed_ledger(
        engine, accounts=300, seed=5, as_of=date(2026, 3, 10), now=datetime(2026, 3, 9, tzinfo=UTC)
    )
    with open_runtime(settings, clock=parse_as_of(AS_OF), engine=engine) as runtime:
        due = set(due_accounts(runtime.deps))
    assert len(due) > 100
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT max(id) FROM messages")).scalar() or 0

    with SmtpTestServer() as smtp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
        env.update(
            DUNNING_DATABASE_URL=settings.database_url,
            DUNNING_SMTP_HOST=smtp.host,
            DUNNING_SMTP_PORT=str(smtp.port),
            DUNNING_SMTP_TLS="none",
            DUNNING_FROM_ADDRESS="ar@vendor.example",
            DUNNING_COMPANY_NAME="Vendor Ltd",
            DUNNING_WORKER_ID="crashy",  # restarted, it takes its own leases back at once
        )
        command = [DUNNING, "daemon", "--until-idle", "--no-inbox", "--as-of", AS_OF]
        chance = random.Random(20261204)
        kills = 0
        for _ in range(KILLS):
            process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
            assert process.stderr is not None
            for line in process.stderr:  # wait until it works, then kill it at a random point
                if '"daemon started"' in line:
                    break
            time.sleep(chance.uniform(0.05, 0.5))
            if process.poll() is not None:
                break  # it finished the whole pass before the kill
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stderr.close()
            kills += 1
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert final.returncode == 0, final.stderr[-2000:]
        delivered = Counter(str(m.message["Message-ID"]) for m in smtp.messages)

    assert kills >= 5  # the test killed it mid-pass, many times
    assert max(delivered.values()) == 1  # nothing was delivered twice

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT key, message_id, account_id, state FROM messages WHERE id > :b"),
            {"b": before},
        ).all()
        sends = Counter(
            conn.execute(
                sa.text("SELECT message_key FROM decisions WHERE action = 'send' AND kind='chase'")
            ).scalars()
        )
        escalated = set(
            conn.execute(
                sa.text("SELECT account_id FROM escalations WHERE resolved_at IS NULL")
            ).scalars()
        )
        decided = set(conn.execute(sa.text("SELECT DISTINCT account_id FROM decisions")).scalars())

    assert decided >= due  # every due account was decided (a dead worker's leases lapsed)
    assert rows, "the pass sent nothing"
    for key, message_id, account_id, state in rows:
        if state == "sent":  # delivered exactly once, and logged as one send decision
            assert delivered[message_id] == 1, message_id
            assert sends[key] == 1, key
        else:  # cut off mid-send: a person decides, nothing was re-sent blindly
            assert state == "sending", (key, state)
            assert account_id in escalated, account_id
            assert delivered[message_id] <= 1
    # no delivery the outbox does not know of
    assert set(delivered) <= {message_id for _k, message_id, _a, _s in rows}
