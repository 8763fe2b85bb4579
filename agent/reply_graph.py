"""The reply graph: what the agent does with one incoming email.

parse (MIME, quotes, automatic mail, bounces) -> match (which account and invoices)
-> classify (the engine proposes an intent) -> act (the reply policy decides; an
answerable question is drafted, verified and sent in the customer's thread) ->
record (the inbound row, the promise/hold/dispute/escalation, the decision log).
A malformed email goes from parse straight to record and is quarantined; one that
matches no account goes from match to record and waits for a person.

The stored ``inbound_messages`` row is the unit of work and of idempotency (it is
written before the graph runs and marked processed by ``record``), so this graph
needs no checkpointer. It uses the same ledger tools, outbox and verify step as the
chase graph; text in an email is data for the classifier and nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.classification import Classification, ReplyText
from agent.clock import to_utc
from agent.deps import Deps
from agent.reply_policy import ReplyDecision, decide_reply, unmatched
from agent.snapshot import AccountSnapshot, Decision
from agent.verify import verify_draft
from tools import outbox
from tools.drafting import draft_answer
from tools.inbound_parse import MalformedEmail, ParsedEmail, parse_email
from tools.reply_ledger import record_reply, update_inbound
from tools.reply_match import Match, match_email, strip_reply_prefixes

log = logging.getLogger(__name__)


class ReplyState(TypedDict, total=False):
    inbound_id: int
    raw: bytes
    source_ref: str
    parsed: ParsedEmail | None
    error: str | None
    match: Match | None
    classification: Classification | None
    decision: ReplyDecision | None
    answer: dict[str, Any] | None
    """After an answer was sent: ``delivery`` and the outbox ``message_key``."""
    usage: dict[str, Any] | None
    """What the LLM engine spent reading it."""
    outcome: dict[str, Any] | None
    """What ``record`` wrote: status, account, intent, action, reason."""


def parse(state: ReplyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    limit = runtime.context.settings.max_message_bytes
    try:
        return {"parsed": parse_email(state["raw"], max_bytes=limit), "error": None}
    except MalformedEmail as exc:
        return {"parsed": None, "error": str(exc)}


def after_parse(state: ReplyState) -> str:
    return "record" if state.get("parsed") is None else "match"


def match(state: ReplyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    parsed = state["parsed"]
    assert parsed is not None
    with deps.engine.connect() as conn:
        found = match_email(conn, parsed, deps.reply_secret())
    return {"match": found}


def classify(state: ReplyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    parsed, found = state["parsed"], state["match"]
    assert parsed is not None and found is not None
    snapshot = deps.snapshot(found.account_id, fresh=True) if found.account_id else None
    reply = reply_text(parsed, snapshot, deps.clock.now())
    classification = deps.classify(reply)
    usage = deps.llm.take_usage() if deps.llm is not None else None
    return {"classification": classification, "usage": usage}


def after_classify(state: ReplyState) -> str:
    found = state.get("match")
    return "act" if found is not None and found.account_id else "record"


def act(state: ReplyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    parsed, found, classification = state["parsed"], state["match"], state["classification"]
    assert parsed is not None and found is not None and classification is not None
    assert found.account_id is not None
    snapshot = deps.snapshot(found.account_id)
    bounce = parsed.bounce
    concerned = bounce.failed_address if bounce is not None else parsed.from_addr
    decision = decide_reply(
        classification,
        snapshot,
        day=reply_day(parsed, snapshot, deps),
        policy=deps.settings.policy,
        automatic=parsed.automatic is not None,
        sender=concerned,
        replied_to=found.invoices,
        bounce_permanent=True if bounce is None else bounce.permanent,
    )
    return {"decision": decision}


def after_act(state: ReplyState) -> str:
    decision = state.get("decision")
    return "respond" if decision is not None and decision.action == "respond" else "record"


def respond(state: ReplyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Answer the question in the customer's thread: facts from the ledger, verified like
    any chase message, sent once through the outbox (key fixed by the email answered)."""
    deps = runtime.context
    parsed, decision = state["parsed"], state["decision"]
    assert parsed is not None and decision is not None and decision.answer_topic is not None
    snapshot = deps.snapshot(state["match"].account_id)  # type: ignore[union-attr,arg-type]
    now = deps.local_now(snapshot)
    pdfs = _attachable(snapshot, decision) if decision.answer_topic == "invoice_copy" else []
    written = draft_answer(
        snapshot,
        decision.answer_topic,
        decision.invoices,
        now.date(),
        deps.settings.company_name,
        attached=bool(pdfs),
    )
    as_decision = Decision("send", decision.reason, invoices=decision.invoices)
    problems = verify_draft(written, snapshot, as_decision, now.date())
    if problems:
        return {
            "decision": _escalated(
                decision, "the answer failed verification: " + "; ".join(problems)
            )
        }
    to = parsed.from_addr
    if not to:
        return {"decision": _escalated(decision, "the question has no address to answer")}
    key = outbox.message_key(snapshot.account_id, "answer", (parsed.message_id or "",), now.date())
    if deps.dry_run:
        return {"answer": {"delivery": "dry_run", "message_key": key}}
    thread = [*parsed.references, parsed.message_id] if parsed.message_id else []
    original = strip_reply_prefixes(parsed.subject)
    subject = f"Re: {original}"[:200] if original else written.subject
    headers = {}
    if parsed.message_id:
        headers["In-Reply-To"] = parsed.message_id
        headers["References"] = " ".join(thread[-20:])
    delivery = deps.deliver(
        outbox.Outgoing(
            key=key,
            account_id=snapshot.account_id,
            stage="answer",
            tone="neutral",
            language=written.language,
            invoices=decision.invoices,
            to=[to],
            subject=subject,
            body=written.body,
            reply_to=deps.reply_to(key),
            headers=headers,
            attachments=tuple(pdfs),
        ),
        now,
    )
    update: dict[str, Any] = {"answer": {"delivery": delivery.outcome, "message_key": key}}
    if delivery.outcome not in ("sent", "already_sent"):
        update["decision"] = _escalated(decision, f"the answer was not sent: {delivery.detail}")
    return update


def record(state: ReplyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    inbound_id = state["inbound_id"]
    parsed, found = state.get("parsed"), state.get("match")
    classification, decision = state.get("classification"), state.get("decision")
    now = deps.clock.now()
    values: dict[str, Any] = {"processed_at": to_utc(now)}
    if parsed is None:
        error = state.get("error") or "unreadable"
        log.warning("quarantined %s (%s): %s", state.get("source_ref"), inbound_id, error)
        values.update(status="quarantined", error=error, action="quarantine", reason=error)
        with deps.engine.begin() as conn:
            update_inbound(conn, inbound_id, **values)
        return {"outcome": _outcome(values)}
    values.update(
        sent_at=to_utc(parsed.date) if parsed.date else None,
        from_addr=parsed.from_addr,
        subject=parsed.subject[:1000],
        new_text=parsed.new_text[:20000],
        automatic=parsed.automatic,
        attachments=[asdict(a) for a in parsed.attachments],
    )
    if classification is not None:
        values.update(
            intent=classification.intent,
            confidence=classification.confidence,
            classification=classification.model_dump(mode="json"),
        )
    if found is None or found.account_id is None:
        assert classification is not None
        queued = unmatched(classification, found.reason if found else "no match")
        values.update(status="unmatched", action=queued.action, reason=queued.reason, invoices=[])
        with deps.engine.begin() as conn:
            update_inbound(conn, inbound_id, **values)
        return {"decision": queued, "outcome": _outcome(values)}
    assert decision is not None
    snapshot = deps.snapshot(found.account_id)
    local = deps.local_now(snapshot)
    answer = state.get("answer") or {}
    values.update(
        status="processed",
        account_id=found.account_id,
        matched_by=found.matched_by,
        invoices=list(decision.invoices),
        action=decision.action,
    )
    with deps.engine.begin() as conn:
        notes = record_reply(
            conn,
            account_id=found.account_id,
            decision=decision,
            at=now,
            today=local.date(),
            inbound_id=inbound_id,
            source=parsed.message_id or state.get("source_ref", ""),
            policy_version=deps.settings.policy.version,
            engine=classification.engine if classification else deps.engine_name,
            message_key=answer.get("message_key") if decision.action == "respond" else None,
            usage=state.get("usage"),
        )
        values["reason"] = decision.reason + ("; " + "; ".join(notes) if notes else "")
        update_inbound(conn, inbound_id, **values)
    deps.forget(found.account_id)
    return {"outcome": _outcome(values)}


def _outcome(values: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "account_id", "intent", "action", "reason")
    return {key: values.get(key) for key in keys}


def build_reply_graph() -> Any:
    graph = StateGraph(ReplyState, context_schema=Deps)
    graph.add_node("parse", parse)
    graph.add_node("match", match)
    graph.add_node("classify", classify)
    graph.add_node("act", act)
    graph.add_node("respond", respond)
    graph.add_node("record", record)
    graph.add_edge(START, "parse")
    graph.add_conditional_edges("parse", after_parse, ["match", "record"])
    graph.add_edge("match", "classify")
    graph.add_conditional_edges("classify", after_classify, ["act", "record"])
    graph.add_conditional_edges("act", after_act, ["respond", "record"])
    graph.add_edge("respond", "record")
    graph.add_edge("record", END)
    return graph.compile()


def reply_text(parsed: ParsedEmail, snapshot: AccountSnapshot | None, now: datetime) -> ReplyText:
    """What the classifier is given: the new words, never an instruction channel."""
    bounce = parsed.bounce
    return ReplyText(
        subject=parsed.subject,
        text=parsed.new_text,
        sent_at=parsed.date or now,
        automatic=parsed.automatic,
        auto_evidence=parsed.auto_evidence,
        bounce_address=bounce.failed_address if bounce else None,
        bounce_permanent=bounce.permanent if bounce else True,
        known_invoices=tuple(inv.number for inv in snapshot.open_invoices) if snapshot else (),
        language=snapshot.language if snapshot else None,
        full_text=parsed.text,
        attachments=tuple(a.filename or "" for a in parsed.attachments),
    )


def reply_day(parsed: ParsedEmail, snapshot: AccountSnapshot, deps: Deps) -> date:
    """The reply's date in the account's zone; never later than the clock's today."""
    today = deps.local_now(snapshot).date()
    if parsed.date is None:
        return today
    return min(parsed.date.astimezone(ZoneInfo(snapshot.timezone)).date(), today)


def _attachable(snapshot: AccountSnapshot, decision: ReplyDecision) -> list[Path]:
    by_number = {inv.number: inv for inv in snapshot.open_invoices}
    found = []
    for number in decision.invoices:
        pdf = by_number[number].pdf_path if number in by_number else None
        if pdf and Path(pdf).is_file():
            found.append(Path(pdf))
    return found


def _escalated(decision: ReplyDecision, why: str) -> ReplyDecision:
    return replace(
        decision, action="escalate", reason=f"{decision.reason}; {why}", answer_topic=None
    )
