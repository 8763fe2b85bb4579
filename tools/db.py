"""Database engine, sessions and schema migrations.

The schema is versioned (``schema_version``). A new database is created from the
current tables and stamped with ``SCHEMA_VERSION``; an older one is brought up
step by step by ``MIGRATIONS`` so an upgrade keeps the data; a newer one is
refused.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from tools import tables  # noqa: F401  (registers the tables)

SCHEMA_VERSION = 4

Migration = Callable[[Connection], None]
SCHEMA_LOCK = 0x64756E6E
"""PostgreSQL advisory lock key held while the schema is made or upgraded."""
CHECKPOINT_LOCK = 0x64756E6F
"""... and while LangGraph's checkpoint tables are."""


def _v1_to_v2(conn: Connection) -> None:
    """Replies: the inbound messages, the IMAP cursors, the reply-token key, and the
    decision log's kind, intent and inbound message."""
    for table in (tables.InboundMessage, tables.InboxCursor, tables.Instance):
        table.__table__.create(conn)  # type: ignore[attr-defined]
    conn.execute(sa.text("ALTER TABLE decisions ADD COLUMN kind VARCHAR DEFAULT 'chase' NOT NULL"))
    conn.execute(sa.text("ALTER TABLE decisions ADD COLUMN inbound_id INTEGER"))
    conn.execute(sa.text("ALTER TABLE decisions ADD COLUMN intent VARCHAR"))


def _v2_to_v3(conn: Connection) -> None:
    """The LLM engine: which model and prompt made a decision, and what it cost."""
    for column, kind in (
        ("model", "VARCHAR"),
        ("prompt_version", "VARCHAR"),
        ("llm_calls", "INTEGER DEFAULT 0 NOT NULL"),
        ("prompt_tokens", "INTEGER DEFAULT 0 NOT NULL"),
        ("completion_tokens", "INTEGER DEFAULT 0 NOT NULL"),
    ):
        conn.execute(sa.text(f"ALTER TABLE decisions ADD COLUMN {column} {kind}"))


def _v3_to_v4(conn: Connection) -> None:
    """The daemon and the human loop: approvals, worker leases, who made a human decision."""
    tables.ApprovalRow.__table__.create(conn)  # type: ignore[attr-defined]
    conn.execute(sa.text("ALTER TABLE accounts ADD COLUMN lease_owner VARCHAR"))
    stamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(sa.text(f"ALTER TABLE accounts ADD COLUMN lease_until {stamp}"))
    conn.execute(sa.text("ALTER TABLE decisions ADD COLUMN actor VARCHAR"))


MIGRATIONS: dict[int, Migration] = {
    # version N -> N+1
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}


class SchemaError(Exception):
    pass


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache
            cursor.execute("PRAGMA mmap_size=268435456")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def current_version(conn: Connection) -> int | None:
    if not sa.inspect(conn).has_table("schema_version"):
        return None
    row = conn.execute(sa.text("SELECT version FROM schema_version WHERE id = 1")).first()
    return None if row is None else int(row[0])


def migrate(engine: Engine, target: int | None = None) -> int:
    """Create or upgrade the schema; returns the version now in place."""
    target = SCHEMA_VERSION if target is None else target
    if engine.dialect.name == "postgresql":  # workers starting together migrate one by one
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
            take_lock(lambda: bool(lock.execute(_TRY_LOCK, {"k": SCHEMA_LOCK}).scalar()))
            try:
                return _migrate(engine, target)
            finally:
                lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEMA_LOCK})
    return _migrate(engine, target)


_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:k)")


def take_lock(attempt: Callable[[], bool], timeout: float = 300.0) -> None:
    """Poll a PostgreSQL advisory lock rather than wait on it in a statement: a session
    blocked inside a statement would hold up another worker's ``CREATE INDEX
    CONCURRENTLY`` (LangGraph's checkpoint setup), which waits for every open statement."""
    deadline = time.monotonic() + timeout
    while not attempt():
        if time.monotonic() > deadline:
            raise SchemaError("another process has held the schema lock for 5 minutes")
        time.sleep(0.05)


def _migrate(engine: Engine, target: int) -> int:
    with engine.begin() as conn:
        version = current_version(conn)
        if version is None:
            SQLModel.metadata.create_all(conn)
            conn.execute(
                sa.text("INSERT INTO schema_version (id, version) VALUES (1, :v)"), {"v": target}
            )
            _ensure_instance(conn)
            return target
        if version > target:
            raise SchemaError(
                f"the database schema is version {version}, newer than this program's {target}"
            )
        while version < target:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": version})
        if version >= 2:
            _ensure_instance(conn)
        return version


def _ensure_instance(conn: Connection) -> None:
    """Make this installation's reply-token key once."""
    if conn.execute(sa.text("SELECT 1 FROM instance WHERE id = 1")).first() is None:
        conn.execute(sa.insert(tables.Instance), {"id": 1, "reply_secret": secrets.token_hex(32)})


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
