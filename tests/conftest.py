"""Shared fixtures: a migrated SQLite ledger in a temp dir, settings pointing at it
with the Maildir outbox, and a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
