"""``make bench`` (evals): the run time of ``dunning eval`` over ``evals/cases`` with the
offline engine, and the simulator's simulated days per second at 1,000 accounts (the
agent strategy, which runs the real graphs; and the fixed cadence for comparison).
Figures are printed, never asserted."""

from __future__ import annotations

import time
from pathlib import Path

from evals.report import summarize
from evals.run import run_cases
from evals.simulate import World

ROOT = Path(__file__).resolve().parents[1]
SIM_ACCOUNTS = 1_000
SIM_DAYS = 20


def main() -> None:
    started = time.perf_counter()
    results = run_cases([ROOT / "evals" / "cases"])
    seconds = time.perf_counter() - started
    summary = summarize(results)
    print(
        f"eval: {summary['cases']} cases (offline engine) in {seconds:.1f} s, "
        f"pass rate {summary['pass_rate'] * 100:.1f}%, critical violations "
        f"{summary['critical_violations']}   [target: a few hundred cases in seconds]"
    )
    for strategy in ("agent", "fixed"):
        started = time.perf_counter()
        World(strategy, SIM_ACCOUNTS, SIM_DAYS, seed=1).run()
        rate = SIM_DAYS / (time.perf_counter() - started)
        print(
            f"simulate: {SIM_ACCOUNTS:,} accounts, {SIM_DAYS} days, strategy {strategy}: "
            f"{rate:.2f} simulated days/s"
        )


if __name__ == "__main__":
    main()
