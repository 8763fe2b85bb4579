"""``dunning eval``: load and validate every case first, then run them (in worker
processes when that is faster) and collect the results in the order loaded."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.util import Finalize
from pathlib import Path

from agent.config import Settings
from evals.cases import DecisionCase, ReplyCase, load_cases
from evals.harness import Bench, Result

PARALLEL_FROM = 40
"""Below this many cases, worker processes cost more than they save."""
_bench: Bench | None = None


def _start(
    settings: Settings | None, engine: str, record: Path | None, replay: Path | None
) -> None:
    global _bench
    _bench = Bench(settings, engine, record, replay)
    Finalize(None, _bench.close, exitpriority=10)


def _run_chunk(chunk: list[tuple[Path, ReplyCase | DecisionCase]]) -> list[Result]:
    assert _bench is not None
    return [_bench.run(path, case) for path, case in chunk]


def run_cases(
    paths: Iterable[str | Path],
    settings: Settings | None = None,
    workers: int | None = None,
    engine: str = "offline",
    record: Path | None = None,
    replay: Path | None = None,
) -> list[Result]:
    """Every case under ``paths`` through the graphs; raises ``CaseError`` before running
    anything when a case is invalid."""
    cases = load_cases(paths)
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(cases) < PARALLEL_FROM:
        bench = Bench(settings, engine, record, replay)
        try:
            return [bench.run(path, case) for path, case in cases]
        finally:
            bench.close()
    size = max(1, len(cases) // (workers * 4))
    chunks = [cases[start : start + size] for start in range(0, len(cases), size)]
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start,
        initargs=(settings, engine, record, replay),
    ) as pool:
        return [result for part in pool.map(_run_chunk, chunks) for result in part]
