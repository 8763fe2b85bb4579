"""Where the chase graph's checkpoints live: a SQLite file beside the ledger by
default (``DUNNING_CHECKPOINT_DB`` to choose another), the ledger's own database on
PostgreSQL (LangGraph's Postgres checkpointer, so several workers share the threads and
a pending approval survives any worker), in memory for dry runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.config import Settings
from tools.db import CHECKPOINT_LOCK, take_lock


def checkpoint_path(settings: Settings) -> Path:
    if settings.checkpoint_db:
        return Path(settings.checkpoint_db)
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        ledger = Path(url.removeprefix("sqlite:///"))
        return ledger.with_name(ledger.stem + "-checkpoints.db")
    return Path("dunning-checkpoints.db")


@contextmanager
def open_checkpointer(
    settings: Settings, *, in_memory: bool = False
) -> Iterator[BaseCheckpointSaver]:
    if in_memory:
        yield InMemorySaver()
        return
    if settings.database_url.startswith("postgresql"):
        with _postgres_saver(settings.database_url, settings.llm_concurrency) as saver:
            yield saver
        return
    path = checkpoint_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def psycopg_url(url: str) -> str:
    """The SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


@contextmanager
def _postgres_saver(url: str, threads: int) -> Iterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        psycopg_url(url),
        min_size=1,
        max_size=max(2, threads),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
    )
    try:
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
        with pool.connection() as conn:  # workers starting together set up one by one

            def attempt() -> bool:
                row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (CHECKPOINT_LOCK,))
                return bool(row.fetchone()["ok"])  # type: ignore[index]

            take_lock(attempt)
            try:
                saver.setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_LOCK,))
        yield saver
    finally:
        pool.close()


def thread_ids(saver: BaseCheckpointSaver) -> list[str]:
    """Every thread with a checkpoint."""
    query = "SELECT DISTINCT thread_id FROM checkpoints"
    if isinstance(saver, SqliteSaver):
        with saver.cursor(transaction=False) as cur:
            cur.execute(query)
            return [row[0] for row in cur.fetchall()]
    if isinstance(saver, InMemorySaver):
        return list(saver.storage)
    with saver.conn.connection() as conn:  # type: ignore[attr-defined]  # PostgresSaver's pool
        return [row["thread_id"] for row in conn.execute(query).fetchall()]


def prune(saver: BaseCheckpointSaver, keep: set[str]) -> int:
    """Delete every thread but those in ``keep``; returns how many went.

    A chase thread carries nothing from one run to the next (``decide`` resets its
    state), so only a thread waiting on an interrupt (an approval) or running now needs
    its checkpoints; the rest only make the checkpoint store grow."""
    gone = 0
    for thread in thread_ids(saver):
        if thread not in keep:
            saver.delete_thread(thread)
            gone += 1
    return gone
