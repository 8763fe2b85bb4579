"""Running labeled cases through the real graphs, and scoring what they decided.

Each case gets a scratch SQLite ledger (a copy of one migrated template) seeded
from the case, and a clock set to the case's day. A reply case's email goes
through the reply graph exactly as ``dunning inbox --file`` sends it; a decision
case's account goes through the chase graph exactly as ``dunning run`` does, after
its events were written the way the agent itself records them (a reply event
goes through the reply policy). There is no second decision path for evals.

A send the sending window defers (a Saturday ``today``) counts as ``send``: the
labels' policy has no sending window, and the deferred decision keeps its stage,
tone and invoices.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from langgraph.checkpoint.memory import InMemorySaver
from sqlmodel import Session, select

from agent.chase_graph import build_chase_graph
from agent.chase_pass import run_pass
from agent.classification import Classification
from agent.clock import DayClock, to_utc
from agent.config import Settings, load_settings
from agent.deps import Deps
from agent.reply_graph import build_reply_graph
from agent.reply_policy import decide_reply
from agent.runtime import Runtime, open_llm
from evals.cases import CaseAccount, CaseInvoice, DecisionCase, ReplyCase
from tools.db import make_engine, migrate
from tools.importer import apply_payment
from tools.ledger import load_snapshot
from tools.llm_cache import recording_client, replay_client
from tools.mail import make_message_id
from tools.outbox import message_key
from tools.reply_ledger import record_reply
from tools.tables import (
    Account,
    Contact,
    DisputeRow,
    EscalationRow,
    InboundMessage,
    Invoice,
    Message,
)
from tools.transports import MaildirTransport

SENDER = "ar@vendor.example"
OVERDUE_NOTICES = ("first_overdue", "escalation")


@dataclass
class Result:
    id: str
    kind: str
    path: str
    tags: list[str]
    expected: dict[str, Any]
    got: dict[str, Any]
    passed: bool = False
    critical: bool = False
    violations: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    reason: str = ""
    error: str | None = None
    engine: str = ""
    """What decided: ``offline``, ``llm``, ``llm:<model>`` or an offline fallback."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "passed": self.passed,
            "expected": _plain(self.expected),
            "got": _plain(self.got),
            "critical": self.critical,
            "violations": self.violations,
            "reason": self.reason,
            "tags": self.tags,
            "engine": self.engine,
            **({"error": self.error} if self.error else {}),
        }


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, set | tuple):
            value = sorted(value)
        out[key] = value
    return out


class Bench:
    """What running cases needs, made once per process: the settings, a migrated template
    ledger to copy, and the compiled graphs."""

    def __init__(
        self,
        settings: Settings | None = None,
        engine: str = "offline",
        record: Path | None = None,
        replay: Path | None = None,
    ) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="dunning-eval-"))
        self.template = self.workdir / "template.db"
        base = settings or load_settings()
        self.settings = load_settings(
            **base.model_dump()
            | {
                "database_url": f"sqlite:///{self.template}",
                "from_address": SENDER,
                "company_name": base.company_name,
                "smtp_host": None,
                "imap_host": None,
                "outbox_dir": self.workdir / "outbox",
                "inbox_dir": self.workdir / "inbox",
                "reply_token_secret": "eval",
            }
        )
        template = make_engine(self.settings.database_url)
        migrate(template)
        template.dispose()
        http_client = None
        if record is not None:
            http_client = recording_client(record, keep_existing=True)
        elif replay is not None:
            http_client = replay_client(replay)
        self.llm = open_llm(self.settings, http_client) if engine == "llm" else None
        self.chase_graph = build_chase_graph(InMemorySaver())
        self.reply_graph = build_reply_graph()
        self.counter = 0

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def runtime(self, day: date) -> tuple[Runtime, sa.Engine]:
        self.counter += 1
        path = self.workdir / f"case-{self.counter}.db"
        shutil.copyfile(self.template, path)
        engine = make_engine(f"sqlite:///{path}")
        deps = Deps(
            engine=engine,
            clock=DayClock(day, self.settings.policy.time_in_window),
            settings=self.settings,
            transport=MaildirTransport(self.workdir / f"outbox-{self.counter}"),
            engine_name="llm" if self.llm is not None else self.settings.engine,
            llm=self.llm,
        )
        runtime = Runtime(deps=deps, chase_graph=self.chase_graph, transport_from_settings=False)
        runtime._reply_graph = self.reply_graph
        return runtime, engine

    def run(self, path: Path, case: ReplyCase | DecisionCase) -> Result:
        expected = case.expect.model_dump(exclude_none=True, exclude={"forbid"})
        result = Result(case.id, case.kind, str(path), list(case.tags), expected, {})
        try:
            if isinstance(case, ReplyCase):
                result.got, result.reason, result.engine = self._reply(case)
            else:
                result.got, result.reason = self._decision(case)
                result.engine = "llm" if self.llm is not None else "offline"
        except Exception as exc:  # a case that crashes fails; the run goes on
            result.error = f"{type(exc).__name__}: {exc}"
            result.reason = result.error
        score(result, case)
        return result

    # ------------------------------------------------------------------ reply cases

    def _reply(self, case: ReplyCase) -> tuple[dict[str, Any], str, str]:
        sent_at = case.email.date
        day = case.today or (sent_at.date() if sent_at else None) or date.today()
        runtime, engine = self.runtime(day)
        try:
            sender = _address(case.email.from_) if case.email.raw is None else None
            account = case.account or CaseAccount(id="C-EVAL", name="Eval Customer", email=sender)
            with Session(engine) as session:
                _seed_account(session, account, sender)
                _seed_invoices(session, account.id, case.invoices)
                session.commit()
                reminder = _seed_reminder(session, account.id, case.invoices, day, self.settings)
                session.commit()
            raw = _email_bytes(case, reminder, day)
            outcome = runtime.process_email(raw, f"eval:{case.id}")
            with engine.connect() as conn:
                row = conn.execute(
                    sa.select(InboundMessage).order_by(InboundMessage.id.desc()).limit(1)
                ).first()
        finally:
            engine.dispose()
        got: dict[str, Any] = {}
        if row is None or outcome is None:
            return got, "the email was not processed", ""
        found = row.classification or {}
        got["intent"] = row.intent
        got["action"] = row.action
        for name in ("promise_date", "return_date"):
            if found.get(name):
                got[name] = date.fromisoformat(found[name])
        if found.get("promise_amount") is not None:
            got["promise_amount"] = Decimal(str(found["promise_amount"]))
        got["invoices"] = sorted(row.invoices or found.get("invoices") or [])
        return got, row.reason or "", str(found.get("engine") or "")

    # ------------------------------------------------------------------ decision cases

    def _decision(self, case: DecisionCase) -> tuple[dict[str, Any], str]:
        runtime, engine = self.runtime(case.today)
        try:
            with Session(engine) as session:
                _seed_account(session, case.account, case.account.email)
                _seed_invoices(session, case.account.id, case.invoices)
                _seed_history(session, case.account)
                session.commit()
            for event in case.events:
                _apply_event(engine, case, event, self.settings)
            summary = run_pass(runtime.deps, runtime.chase_graph, [case.account.id])
        finally:
            engine.dispose()
        if not summary.decisions:
            return {}, "no decision was made (the pass failed)"
        made = summary.decisions[0]
        action = made["action"]
        if made.get("deferred") and made.get("stage") and action == "wait":
            action = "send"  # deferred by the sending window only
        got: dict[str, Any] = {"action": action}
        if action == "send":
            got.update(stage=made["stage"], tone=made["tone"], invoices=sorted(made["invoices"]))
        elif made.get("stage"):
            got["stage"] = made["stage"]
        return got, made.get("reason") or ""


# ---------------------------------------------------------------------- seeding


def _address(value: str | None) -> str | None:
    if not value:
        return None
    pairs = getaddresses([value])
    return pairs[0][1].lower() if pairs and pairs[0][1] else None


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _seed_account(session: Session, account: CaseAccount, email: str | None) -> None:
    flags = set(account.flags)
    session.add(
        Account(
            id=account.id,
            name=account.name or account.id,
            timezone=account.timezone or "UTC",
            language="en",
            human_flagged="human_flagged" in flags,
            opted_out="opted_out" in flags,
            credit_hold="credit_hold" in flags,
            next_review_at=to_utc(_at(date(2000, 1, 1))),
            created_at=to_utc(_at(date(2000, 1, 1))),
            updated_at=to_utc(_at(date(2000, 1, 1))),
        )
    )
    address = account.email or email
    if address:
        session.add(Contact(account_id=account.id, email=_address(address) or address))


def _seed_invoices(session: Session, account_id: str, invoices: list[CaseInvoice]) -> None:
    for inv in invoices:
        balance = inv.amount if inv.balance is None else inv.balance
        session.add(
            Invoice(
                number=inv.number,
                account_id=account_id,
                currency=inv.currency,
                amount=inv.amount,
                balance=balance,
                issue_date=inv.issue_date or inv.due_date - timedelta(days=30),
                due_date=inv.due_date,
                status="open" if balance > 0 else "paid",
            )
        )


def _seed_history(session: Session, account: CaseAccount) -> None:
    for inv in account.history:
        session.add(
            Invoice(
                number=inv.number,
                account_id=account.id,
                currency=inv.currency or "USD",
                amount=inv.amount,
                balance=Decimal(0),
                issue_date=inv.issue_date or inv.due_date - timedelta(days=30),
                due_date=inv.due_date,
                status="paid",
                paid_date=inv.paid_date,
            )
        )


def _sent(session: Session, account_id: str, stage: str, invoices: list[str], day: date) -> str:
    key = message_key(account_id, stage, tuple(invoices), day)
    message_id = make_message_id(key, SENDER.rpartition("@")[2])
    session.add(
        Message(
            key=key,
            message_id=message_id,
            account_id=account_id,
            stage=stage,
            tone="neutral",
            invoices=list(invoices),
            local_day=day,
            to_addrs=[],
            subject=f"{stage}: {', '.join(invoices)}",
            body="(seeded by the eval harness)",
            state="sent",
            created_at=to_utc(_at(day)),
            sent_at=to_utc(_at(day)),
        )
    )
    return message_id


def _seed_reminder(
    session: Session, account_id: str, invoices: list[CaseInvoice], day: date, settings: Settings
) -> str:
    """The reminder the reply answers, sent the day before (its Message-ID threads it)."""
    numbers = [inv.number for inv in invoices] or ["(none)"]
    return _sent(session, account_id, "reminder", numbers, day - timedelta(days=1))


def _email_bytes(case: ReplyCase, reminder_id: str, day: date) -> bytes:
    mail = case.email
    if mail.raw is not None:
        return mail.raw.encode("utf-8")
    message = EmailMessage()
    message["From"] = mail.from_ or ""
    message["To"] = mail.to or SENDER
    message["Subject"] = mail.subject or "Re: your reminder"
    message["Date"] = format_datetime(mail.date or _at(day, 9))
    message["Message-ID"] = f"<{case.id.replace(' ', '_')}@eval.invalid>"
    names = {name.lower() for name in mail.headers}
    if "in-reply-to" not in names:
        message["In-Reply-To"] = reminder_id
        message["References"] = reminder_id
    for name, value in mail.headers.items():
        if name.lower() in ("message-id", "from", "to", "subject", "date"):
            message.replace_header(name, value)
        else:
            message[name] = value
    message.set_content(mail.body or "")
    return message.as_bytes()


def _apply_event(engine: sa.Engine, case: DecisionCase, event: Any, settings: Settings) -> None:
    """Write one event as the agent itself records it."""
    account_id = case.account.id
    with Session(engine) as session:
        if event.type == "sent":
            _sent(session, account_id, event.stage, list(event.invoices), event.date)
        elif event.type == "payment":
            invoice = session.exec(select(Invoice).where(Invoice.number == event.invoice)).first()
            if invoice is None:
                raise ValueError(f"payment event names unknown invoice {event.invoice}")
            if invoice.status == "paid" and invoice.balance == 0:
                invoice.balance = event.amount  # a case may list it open no more: reopen
                invoice.status = "open"
            apply_payment(session, invoice, event.amount, event.date, None, _at(event.date))
        elif event.type in ("flag", "unflag"):
            account = session.get(Account, account_id)
            assert account is not None
            account.human_flagged = event.type == "flag"
            account.flag_reason = event.reason if event.type == "flag" else None
            session.add(account)
        elif event.type == "resolved":
            when = to_utc(_at(event.date))
            for row in session.exec(
                select(DisputeRow).where(
                    DisputeRow.account_id == account_id,
                    DisputeRow.resolved_at.is_(None),  # type: ignore[union-attr]
                )
            ).all():
                row.resolved_at, row.resolved_by, row.note = when, "eval", event.reason
                session.add(row)
            for row in session.exec(
                select(EscalationRow).where(
                    EscalationRow.account_id == account_id,
                    EscalationRow.resolved_at.is_(None),  # type: ignore[union-attr]
                )
            ).all():
                row.resolved_at, row.resolved_on, row.resolved_by = when, event.date, "eval"
                session.add(row)
        session.commit()
        if event.type == "reply":
            snapshot = load_snapshot(session, account_id, settings.payment_link_template)
            classification = Classification(
                intent=event.intent,
                confidence=1.0,
                promise_date=event.promise_date,
                promise_amount=event.promise_amount,
                return_date=event.return_date,
                invoices=list(event.invoices or []),
                # the event says what was asked only through its action: an answered question
                # (or one whose action is not given) is about the invoice copy
                question_topic="other" if event.action == "escalate" else "invoice_copy",
                engine="eval",
            )
            decision = decide_reply(
                classification,
                snapshot,
                day=event.date,
                policy=settings.policy,
                sender=_address(case.account.email),
            )
            record_reply(
                session.connection(),
                account_id=account_id,
                decision=decision,
                at=_at(event.date),
                today=event.date,
                inbound_id=0,
                source="eval event",
                policy_version=settings.policy.version,
                engine="eval",
            )
            session.commit()


# ---------------------------------------------------------------------- scoring


def score(result: Result, case: ReplyCase | DecisionCase) -> None:
    """Each expected field on its own; a case passes when all match and nothing critical
    happened."""
    for name, want in result.expected.items():
        have = result.got.get(name)
        if name == "invoices":
            same = set(want or []) == set(have or [])
        elif name == "promise_amount":
            same = have is not None and Decimal(str(want)) == Decimal(str(have))
        else:
            same = want == have
        if not same:
            result.mismatched.append(name)
    if isinstance(case, DecisionCase):
        result.violations = violations(case, result.got)
    elif (
        result.got.get("action") == "respond"
        and case.account is not None
        and ("opted_out" in case.account.flags)
    ):
        result.violations = ["an automatic answer to an opted-out contact"]
    result.critical = bool(result.violations)
    result.passed = not result.mismatched and not result.critical and result.error is None


def violations(case: DecisionCase, got: dict[str, Any]) -> list[str]:
    """Critical violations: a forbidden action or stage, or a hard rule broken."""
    found = []
    action, stage = got.get("action"), got.get("stage")
    forbid = set(case.expect.forbid)
    if action in forbid:
        found.append(f"chose the forbidden action {action}")
    if stage in forbid and (action == "send"):
        found.append(f"chose the forbidden stage {stage}")
    if action != "send":
        return found
    grace = timedelta(days=3)
    opted_out = "opted_out" in case.account.flags
    promise_until: date | None = None
    dispute_open = False
    for event in case.events:
        if event.type == "reply" and event.intent == "unsubscribe":
            opted_out = True
        if event.type == "reply" and event.intent == "promise_to_pay" and event.promise_date:
            promise_until = event.promise_date + grace
        if event.type == "reply" and event.intent == "dispute":
            dispute_open = True
        if event.type == "resolved":
            dispute_open = False
    if opted_out:
        found.append("a message to an opted-out contact")
    if promise_until is not None and case.today <= promise_until:
        found.append("a send while a promise holds the account")
    if dispute_open:
        found.append("a send while a dispute holds the account")
    if stage == "final_notice":
        for number in got.get("invoices") or []:
            earlier = [
                e
                for e in case.events
                if e.type == "sent"
                and e.stage in OVERDUE_NOTICES
                and number in (e.invoices or [])
                and e.date < case.today
            ]
            if not earlier:
                found.append(f"a final_notice for {number} without an earlier overdue notice")
    return found
