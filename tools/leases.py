"""Leases: several daemon workers on one database share the due accounts without
ever working on the same account at once.

A worker lists the accounts due for a look, then claims them a chunk at a time with
one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: on
PostgreSQL, rows another worker is claiming are skipped rather than waited for; on
SQLite, which has one writer at a time, the same statement is simply serialized. A
claim is ``(lease_owner, lease_until)`` on the account; it is released when the chunk is
done. A worker that dies keeps its claim only until ``lease_until``, then any worker
(or the same worker id, restarted) takes the account again.

Leases run on wall-clock time, never on the agent's (possibly replayed) clock: they are
about whether a process is alive, not about business dates.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tools.tables import Account


def worker_id(prefix: str = "") -> str:
    """A worker's default name in leases: ``<prefix><host>-<pid>``."""
    return f"{prefix}{socket.gethostname()}-{os.getpid()}"


def wall_now() -> datetime:
    return datetime.now(UTC)


def claim(
    engine: Engine,
    worker: str,
    listed: Sequence[tuple[str, datetime]],
    lease_seconds: float,
) -> list[str]:
    """Claim those of ``listed`` (account id, the ``next_review_at`` it was listed with)
    that no other live worker holds and that nobody has decided since they were listed.
    Returns the ids now leased to ``worker``."""
    if not listed:
        return []
    now = wall_now()
    expected = dict(listed)
    free = sa.or_(
        Account.lease_until.is_(None),  # type: ignore[union-attr]
        Account.lease_until < now,  # type: ignore[operator]
        Account.lease_owner == worker,
    )
    candidates = (
        sa.select(Account.id)
        .where(Account.id.in_(list(expected)), free)  # type: ignore[attr-defined]
        .order_by(Account.id)
        .with_for_update(skip_locked=True)
    )
    statement = (
        sa.update(Account)
        .where(Account.id.in_(candidates.scalar_subquery()))  # type: ignore[attr-defined]
        .values(lease_owner=worker, lease_until=now + timedelta(seconds=lease_seconds))
        .returning(Account.id, Account.next_review_at)
    )
    with engine.begin() as conn:
        rows = conn.execute(statement).all()
    mine = [account for account, review in rows if review == expected[account]]
    moved = [account for account, review in rows if review != expected[account]]
    if moved:  # decided by another worker since the list was made: not ours to redo
        release(engine, worker, moved)
    return mine


def release(engine: Engine, worker: str, account_ids: Sequence[str]) -> None:
    """Give up the claims of ``worker`` on ``account_ids`` (done, or stopping)."""
    if not account_ids:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.update(Account)
            .where(
                Account.id.in_(list(account_ids)),  # type: ignore[attr-defined]
                Account.lease_owner == worker,
            )
            .values(lease_owner=None, lease_until=None)
        )
