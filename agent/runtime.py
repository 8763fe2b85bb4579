"""Wiring: settings -> database (migrated), mail transport, checkpointer, chase graph.

The CLI, the demo, the tests and the benchmarks all open the agent through
``open_runtime``, so they run the same graph and the same policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from agent.chase_graph import build_chase_graph
from agent.chase_pass import PassSummary, run_pass
from agent.clock import Clock, SystemClock
from agent.config import Settings
from agent.deps import Deps
from tools.checkpoints import open_checkpointer
from tools.db import make_engine, migrate
from tools.transports import Transport, transport_from_settings


def open_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine


@dataclass
class Runtime:
    deps: Deps
    chase_graph: Any

    def run_pass(self, keep_decisions: bool = True) -> PassSummary:
        return run_pass(self.deps, self.chase_graph, keep_decisions=keep_decisions)


@contextmanager
def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dry_run: bool = False,
    transport: Transport | None = None,
    engine: Engine | None = None,
) -> Iterator[Runtime]:
    engine = engine or open_engine(settings)
    with open_checkpointer(settings, in_memory=dry_run) as saver:
        deps = Deps(
            engine=engine,
            clock=clock or SystemClock(),
            settings=settings,
            transport=transport or transport_from_settings(settings),
            dry_run=dry_run,
            engine_name=settings.engine,
        )
        yield Runtime(deps=deps, chase_graph=build_chase_graph(saver))
