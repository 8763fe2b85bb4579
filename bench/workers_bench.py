"""``make bench``: due accounts per second for daemon workers sharing one ledger through
leases: one, two and four workers on PostgreSQL, one on SQLite.

One ledger is seeded (every account due on the as-of date, about 5 invoices each), then
copied for each run (``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a file copy on
SQLite), so each run starts from the same state. Each worker is a real ``dunning daemon
--until-idle --no-inbox`` process; the figure is the accounts decided divided by the time
from the first worker's start to the last worker's end of its pass (read from their JSON
logs, so process start-up is not counted). Figures are printed, not asserted; this
machine has 2 cores, so four workers share two.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from postgres_server import PostgresServer  # noqa: E402

from tools.db import make_engine, migrate  # noqa: E402
from tools.seed import seed_ledger  # noqa: E402

ACCOUNTS = 2_000
AS_OF = "2026-03-10"
DUNNING = str(Path(sys.executable).with_name("dunning"))


def seed(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    seed_ledger(
        engine,
        accounts=ACCOUNTS,
        seed=1,
        as_of=date.fromisoformat(AS_OF),
        now=datetime(2026, 3, 9, tzinfo=UTC),
    )
    engine.dispose()


def run_workers(url: str, workers: int, outbox: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    env.update(
        DUNNING_DATABASE_URL=url,
        DUNNING_OUTBOX_DIR=str(outbox),
        DUNNING_FROM_ADDRESS="ar@vendor.example",
        DUNNING_COMPANY_NAME="Vendor Ltd",
    )
    command = [DUNNING, "daemon", "--until-idle", "--no-inbox", "--as-of", AS_OF, "--every", "0"]
    processes = [
        subprocess.Popen(
            command,
            env={**env, "DUNNING_WORKER_ID": f"bench-{n}"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    outputs = [p.communicate()[1] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        if process.returncode:
            raise SystemExit(f"a worker failed ({process.returncode}):\n{output[-3000:]}")
    logs = [json.loads(line) for out in outputs for line in out.splitlines() if line[:1] == "{"]
    starts = [datetime.fromisoformat(e["ts"]) for e in logs if e["msg"] == "daemon started"]
    passes = [e for e in logs if e["msg"] == "pass done" and e["accounts_looked_at"]]
    ends = [datetime.fromisoformat(e["ts"]) for e in passes]
    decided = sum(e["accounts_looked_at"] for e in passes)
    seconds = (max(ends) - min(starts)).total_seconds()
    return {"workers": workers, "accounts": decided, "seconds": seconds, "per_s": decided / seconds}


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # SQLite, one worker
        seeded = work / "seeded.db"
        seed(f"sqlite:///{seeded}")
        copy = work / "run.db"
        shutil.copy(seeded, copy)
        result = run_workers(f"sqlite:///{copy}", 1, work / "outbox-sqlite")
        results.append(("SQLite", result))
        with PostgresServer() as server:
            seed(server.create_database("seeded"))
            import psycopg

            for workers in (1, 2, 4):
                name = f"run{workers}"
                with psycopg.connect(server._libpq(), autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "seeded"')
                result = run_workers(server.url(name), workers, work / f"outbox-{name}")
                results.append(("PostgreSQL", result))
    print(f"[workers] {ACCOUNTS} accounts due; daemon workers sharing the ledger by leases:")
    for database, r in results:
        print(
            f"[workers]   {database:<10} {r['workers']} worker(s): {r['accounts']} accounts "
            f"in {r['seconds']:.1f} s = {r['per_s']:.0f} accounts/s"
        )


if __name__ == "__main__":
    main()
