"""What a graph run needs from the outside world, passed as LangGraph's runtime
``context`` (never stored in checkpoints): the database, the clock, the settings,
the mail transport, and whether this is a dry run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.approval_policy import ApprovalRules
from agent.classification import Classification, ReplyText
from agent.clock import Clock
from agent.config import Settings
from agent.snapshot import AccountSnapshot
from tools.db import session_scope
from tools.ledger import load_snapshot, load_snapshots
from tools.outbox import Delivery, OnSent, Outgoing, deliver
from tools.reply_token import load_secret, make_token, reply_address
from tools.transports import Transport

if TYPE_CHECKING:
    from agent.llm_engine import LlmEngine


@dataclass
class Deps:
    engine: Engine
    clock: Clock
    settings: Settings
    transport: Transport
    dry_run: bool = False
    engine_name: str = "offline"
    classifier: Callable[[ReplyText], Classification] | None = None
    """Reads a reply; ``None``: the offline rules (or the LLM engine's, when one is set)."""
    llm: LlmEngine | None = None
    """The LLM engine when an endpoint is configured; ``None``: offline rules and templates."""
    approvals: ApprovalRules = field(default_factory=ApprovalRules)
    """Which drafts wait for a person (from the ``approve_*`` settings)."""
    _snapshots: dict[str, AccountSnapshot] = field(default_factory=dict, repr=False)
    _prefetched: set[str] = field(default_factory=set, repr=False)
    _reply_secret: str | None = field(default=None, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def prefetch(self, account_ids: list[str]) -> None:
        """Read the snapshots of the accounts a pass is about to decide, in one round of
        queries; each serves as that account's ``fresh`` snapshot once."""
        with self.engine.connect() as conn:
            found = load_snapshots(conn, account_ids, self.settings.payment_link_template)
        self._snapshots.update(found)
        self._prefetched.update(found)

    def snapshot(self, account_id: str, *, fresh: bool = False) -> AccountSnapshot:
        """The account's snapshot for this run (loaded once, reloaded on ``fresh`` unless
        it was just prefetched for this run)."""
        if fresh and account_id in self._prefetched:
            self._prefetched.discard(account_id)
            return self._snapshots[account_id]
        if fresh or account_id not in self._snapshots:
            with self.engine.connect() as conn:
                self._snapshots[account_id] = load_snapshot(
                    conn, account_id, self.settings.payment_link_template
                )
        return self._snapshots[account_id]

    def classify(self, reply: ReplyText) -> Classification:
        if self.classifier is None and self.llm is not None:
            self.classifier = self.llm.classify
        if self.classifier is None:
            from agent.offline_classifier import classify_offline

            self.classifier = classify_offline
        return self.classifier(reply)

    def reply_secret(self) -> str:
        """The key that signs reply tokens (configured, or the database's own)."""
        if self._reply_secret is None:
            configured = self.settings.reply_token_secret
            with self.engine.connect() as conn:
                self._reply_secret = load_secret(
                    conn, configured.get_secret_value() if configured else None
                )
        return self._reply_secret

    def reply_to(self, message_key: str) -> str:
        """The signed Reply-To plus address of the message with this key."""
        base = self.settings.reply_to or self.settings.from_address
        return reply_address(base, make_token(message_key, self.reply_secret()))

    def deliver(self, message: Outgoing, now: datetime, on_sent: OnSent | None = None) -> Delivery:
        """Send ``message`` once through the outbox, from the configured sender;
        ``on_sent`` runs in the transaction that marks it sent."""
        settings = self.settings
        return deliver(
            self.engine,
            message,
            from_addr=settings.from_address,
            from_name=settings.from_name or settings.company_name,
            sender_domain=settings.sender_domain,
            transport=self.transport,
            now=now,
            created_at=self.clock.now(),
            on_sent=on_sent,
        )

    def forget(self, account_id: str) -> None:
        self._snapshots.pop(account_id, None)
        self._prefetched.discard(account_id)

    def local_now(self, snapshot: AccountSnapshot) -> datetime:
        return self.clock.now(ZoneInfo(snapshot.timezone))
