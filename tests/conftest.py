"""Shared fixtures: a migrated SQLite ledger in a temp dir, settings pointing at it
with the Maildir outbox, and a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.config import Settings, load_settings
from smtp_server import SmtpTestServer
from tools.db import make_engine, migrate


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(__import__("os").environ):
        if name.startswith("DUNNING_"):
            monkeypatch.delenv(name)
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        outbox_dir=tmp_path / "outbox",
        inbox_dir=tmp_path / "inbox",
        from_address="ar@vendor.example",
        company_name="Vendor Ltd",
    )


@pytest.fixture
def engine(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="module")  # its thread is gone before tests that fork workers
def smtp_server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def _real_server(make: Callable[[], Any], not_installed: type[Exception]) -> Iterator[Any]:
    """Start a real server for a fixture; when it is not installed, fail (do not skip)
    with the message that says how to install it."""
    try:
        server = make()
    except not_installed as exc:
        missing = str(exc)
    else:
        with server:
            yield server
        return
    pytest.fail(missing, pytrace=False)  # outside the except: one clear message


@pytest.fixture(scope="session")
def dovecot() -> Iterator[object]:
    """A real Dovecot IMAP server (``dovecot_server.DovecotServer``) for the whole session.

    Users ``ar``/``secret`` and ``other``/``secret2``. It is a separate process, so tests
    that fork workers do not mind it; it starts in about 0.1 s. Tests share it: call
    ``dovecot.reset(user)`` first. Fails (does not skip) when Dovecot is not installed.
    """
    from dovecot_server import DovecotNotInstalled, DovecotServer

    yield from _real_server(DovecotServer, DovecotNotInstalled)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[object]:
    """A real llama.cpp OpenAI-compatible server with SmolLM2-135M (``evals/local_model.py``).
    Fails (does not skip) when the dev dependencies are missing."""
    from evals.local_model import LlamaNotInstalled, LlamaServer

    yield from _real_server(LlamaServer, LlamaNotInstalled)


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A real PostgreSQL server (``postgres_server.PostgresServer``) for the whole session;
    each test makes its own database with ``postgres.create_database(name)``. Fails (does
    not skip) when the server binaries are missing."""
    from postgres_server import PostgresNotInstalled, PostgresServer

    yield from _real_server(PostgresServer, PostgresNotInstalled)


@pytest.fixture
def pg_settings(postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request) -> Settings:
    """Settings like ``settings``, on a fresh PostgreSQL database of its own."""
    for name in list(__import__("os").environ):
        if name.startswith("DUNNING_"):
            monkeypatch.delenv(name)
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return load_settings(
        database_url=postgres.create_database(name),
        outbox_dir=tmp_path / "outbox",
        inbox_dir=tmp_path / "inbox",
        from_address="ar@vendor.example",
        company_name="Vendor Ltd",
    )
