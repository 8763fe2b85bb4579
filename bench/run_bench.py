"""``make bench``: the chase pass on a big ledger, offline engine, Maildir outbox.

Seeds 20,000 accounts (about 100,000 invoices) into a SQLite file, then measures
in fresh processes, three times from the same seeded ledger (these machines are
noisy: the median is the figure): an idle pass (nothing due), and a pass where
about 5% of the accounts are due, reporting accounts per second and peak memory.
Targets (printed, not asserted): idle under 1 s, at least 200 due accounts per
second, peak memory under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

AS_OF = date(2026, 3, 10)  # a Tuesday


def settings_for(workdir: Path):
    from agent.config import load_settings

    return load_settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        outbox_dir=workdir / "outbox",
        smtp_host=None,
    )


def peak_mb() -> float:
    """The largest resident set of this process or of any worker process it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024


def step_seed(workdir: Path, accounts: int) -> dict:
    from agent.clock import DayClock
    from agent.runtime import open_engine
    from tools.seed import seed_ledger

    engine = open_engine(settings_for(workdir))
    started = time.perf_counter()
    report = seed_ledger(engine, accounts=accounts, seed=1, as_of=AS_OF, now=DayClock(AS_OF).now())
    return {
        "seconds": time.perf_counter() - started,
        "accounts": report.accounts,
        "invoices": report.invoices,
        "peak_mb": peak_mb(),
    }


def step_mark_due(workdir: Path, fraction: float) -> dict:
    """Nothing due, except ``fraction`` of the accounts, chosen at random."""
    from sqlmodel import Session, col, select, update

    from agent.runtime import open_engine
    from tools.tables import Account

    engine = open_engine(settings_for(workdir))
    with Session(engine) as session:
        ids = list(session.exec(select(Account.id)).all())
        due = random.Random(2).sample(ids, int(len(ids) * fraction))
        session.exec(update(Account).values(next_review_at=datetime(2099, 1, 1, tzinfo=UTC)))
        for start in range(0, len(due), 500):
            session.exec(
                update(Account)
                .where(col(Account.id).in_(due[start : start + 500]))
                .values(next_review_at=datetime(2026, 1, 1, tzinfo=UTC))
            )
        session.commit()
    return {"due": len(due)}


def step_pass(workdir: Path) -> dict:
    from agent.clock import DayClock
    from agent.runtime import open_runtime

    settings = settings_for(workdir)
    with open_runtime(settings, clock=DayClock(AS_OF)) as runtime:
        started = time.perf_counter()
        summary = runtime.run_pass(keep_decisions=False)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": peak_mb(), **summary.counts()}


STEPS = {"seed": step_seed, "mark-due": step_mark_due, "pass": step_pass}


def child(step: str, workdir: Path, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--step", step, str(workdir), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--due-fraction", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3, help="passes measured (median)")
    parser.add_argument("--step", nargs="+")
    args = parser.parse_args()
    if args.step:
        name, workdir, *rest = args.step
        func = STEPS[name]
        if name == "seed":
            result = func(Path(workdir), int(rest[0]))
        elif name == "mark-due":
            result = func(Path(workdir), float(rest[0]))
        else:
            result = func(Path(workdir))
        print(json.dumps(result, default=str))
        return

    with tempfile.TemporaryDirectory(prefix="dunning-bench-") as tmp:
        seeded_dir, workdir = Path(tmp) / "seeded", Path(tmp) / "run"
        seeded_dir.mkdir()
        seeded = child("seed", seeded_dir, str(args.accounts))
        print(
            f"seed: {seeded['accounts']:,} accounts, {seeded['invoices']:,} invoices in "
            f"{seeded['seconds']:.1f} s (peak {seeded['peak_mb']:.0f} MB)"
        )
        idles, dues = [], []
        for _ in range(args.repeats):
            # every repeat starts from the same seeded ledger, in fresh processes
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.copytree(seeded_dir, workdir)
            child("mark-due", workdir, "0")
            idles.append(child("pass", workdir))
            marked = child("mark-due", workdir, str(args.due_fraction))
            dues.append(child("pass", workdir))
        idle_ms = sorted(run["seconds"] * 1000 for run in idles)
        print(
            f"idle pass (nothing due): median {statistics.median(idle_ms):.1f} ms "
            f"(runs: {', '.join(f'{ms:.1f}' for ms in idle_ms)})   [target < 1 s]"
        )
        rates = sorted(run["accounts_looked_at"] / run["seconds"] for run in dues)
        due = dues[0]
        print(
            f"due pass: {due['accounts_looked_at']:,} of {seeded['accounts']:,} accounts due "
            f"({marked['due']:,} marked; sent {due['sent']}, waited {due['waited']}, "
            f"held {due['held']}, escalated {due['escalated']}, {due['workers']} workers): "
            f"median {statistics.median(rates):.0f} accounts/s "
            f"(runs: {', '.join(f'{rate:.0f}' for rate in rates)})   [target >= 200/s]"
        )
        peak = max(run["peak_mb"] for run in idles + dues)
        print(f"peak memory of a pass process: {peak:.0f} MB   [target < 500 MB]")


if __name__ == "__main__":
    main()
