"""What a graph run needs from the outside world, passed as LangGraph's runtime
``context`` (never stored in checkpoints): the database, the clock, the settings,
the mail transport, and whether this is a dry run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.clock import Clock
from agent.config import Settings
from agent.snapshot import AccountSnapshot
from tools.db import session_scope
from tools.ledger import load_snapshot
from tools.transports import Transport


@dataclass
class Deps:
    engine: Engine
    clock: Clock
    settings: Settings
    transport: Transport
    dry_run: bool = False
    engine_name: str = "offline"
    _snapshots: dict[str, AccountSnapshot] = field(default_factory=dict, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def snapshot(self, account_id: str, *, fresh: bool = False) -> AccountSnapshot:
        """The account's snapshot for this run (loaded once, reloaded on ``fresh``)."""
        if fresh or account_id not in self._snapshots:
            with self.engine.connect() as conn:
                self._snapshots[account_id] = load_snapshot(
                    conn, account_id, self.settings.payment_link_template
                )
        return self._snapshots[account_id]

    def forget(self, account_id: str) -> None:
        self._snapshots.pop(account_id, None)

    def local_now(self, snapshot: AccountSnapshot) -> datetime:
        return self.clock.now(ZoneInfo(snapshot.timezone))
