"""The chase graph: one LangGraph thread per account (``chase:<account id>``).

decide (load the account's context through the ledger tools, apply the policy) ->
draft -> verify -> [approve] -> send -> record; a wait, a hold or an escalate goes from
decide straight to record, and a draft that fails verification is not sent: the account
is escalated with the reason. A draft the approval rules (``agent.approval_policy``)
hold back goes to ``approve``, which stores it for a person and interrupts the thread
(``langgraph.types.interrupt``); ``dunning approve`` or ``reject`` resumes it, after a
restart too, since the thread lives in the checkpointer. The policy decides, the drafter
writes, plain code verifies and sends. The same graph serves the CLI pass, the
demo, and (later) the daemon, the eval harness and the simulator.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.approval_policy import approval_needed
from agent.clock import to_utc
from agent.deps import Deps
from agent.policy import decide as policy_decide
from agent.snapshot import Decision
from agent.state import ChaseState, decision_from_state, decision_to_state, escalated
from agent.verify import verify_draft
from tools import approvals, outbox
from tools.drafting import Draft, draft_message
from tools.human_ledger import log_human, supersede_approvals
from tools.ledger import record_decision

RETRY_AFTER = timedelta(minutes=15)


def thread_id(account_id: str) -> str:
    return f"chase:{account_id}"


def decide(state: ChaseState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Load the account's context fresh through the ledger tools, then apply the policy.

    Every key of the state is reset here: a thread's state carries over between runs.
    """
    deps = runtime.context
    snapshot = deps.snapshot(state["account_id"], fresh=True)
    now = deps.local_now(snapshot)
    decision = policy_decide(snapshot, now, deps.settings.policy)
    if deps.approvals.active and not deps.dry_run:
        # a new run of the thread: a draft still waiting from an earlier one is stale
        with deps.engine.begin() as conn:
            why = "superseded: the account came up for a new decision"
            supersede_approvals(conn, snapshot.account_id, why, now)
    return {
        "decision": decision_to_state(decision),
        "draft": None,
        "usage": None,
        "approval": None,
        "outcome": None,
    }


def _sending(state: ChaseState) -> bool:
    return bool(state["decision"]) and state["decision"]["action"] == "send"  # type: ignore[index]


def after_decide(state: ChaseState) -> str:
    return "draft" if _sending(state) else "record"


def draft(state: ChaseState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    snapshot = deps.snapshot(state["account_id"])
    decision = decision_from_state(state["decision"] or {})
    today = deps.local_now(snapshot).date()
    company = deps.settings.company_name
    if deps.llm is None:
        written = draft_message(snapshot, decision, today, company)
    else:
        written, fallback, tone = deps.llm.draft(snapshot, decision, today, company)
        usage = deps.llm.take_usage()
        if fallback:
            note = replace(decision, tone=tone, reason=f"{decision.reason}; {fallback}")
            return {
                "draft": _draft_to_state(written),
                "decision": decision_to_state(note),
                "usage": usage,
            }
        return {"draft": _draft_to_state(written), "usage": usage}
    return {"draft": _draft_to_state(written)}


def _draft_to_state(written: Draft) -> dict[str, Any]:
    return {
        "subject": written.subject,
        "body": written.body,
        "language": written.language,
        "template": written.template,
        "invoices": list(written.invoices),
    }


def _draft_from_state(data: dict[str, Any]) -> Draft:
    return Draft(
        subject=data["subject"],
        body=data["body"],
        language=data["language"],
        template=data["template"],
        invoices=tuple(data["invoices"]),
    )


def verify(state: ChaseState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    snapshot = deps.snapshot(state["account_id"])
    decision = decision_from_state(state["decision"] or {})
    today = deps.local_now(snapshot).date()
    problems = verify_draft(_draft_from_state(state["draft"] or {}), snapshot, decision, today)
    if not problems:
        why = approval_needed(decision, snapshot, deps.approvals)
        return {"approval": {"why": why}} if why else {}
    why = "the draft failed verification and was not sent: " + "; ".join(problems)
    return {"decision": decision_to_state(escalated(decision, why))}


def after_verify(state: ChaseState) -> str:
    if not _sending(state):
        return "record"
    return "approve" if state.get("approval") else "send"


def approve(state: ChaseState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Store the draft for a person and wait (the thread is interrupted). This code runs
    again when the thread resumes: the approval row and its log line are written once."""
    deps = runtime.context
    snapshot = deps.snapshot(state["account_id"])
    decision = decision_from_state(state["decision"] or {})
    written = _draft_from_state(state["draft"] or {})
    why = (state.get("approval") or {})["why"]
    now = deps.local_now(snapshot)
    if deps.dry_run:
        reason = f"{decision.reason}; would wait: {why}"
        held = replace(decision, action="hold", reason=reason, next_review=None)
        return {"decision": decision_to_state(held)}
    stage = decision.stage or ""
    key = approvals.approval_key(
        snapshot.account_id, stage, decision.invoices, written.subject, written.body
    )
    with deps.engine.begin() as conn:
        if approvals.request_approval(
            conn,
            {
                "key": key,
                "account_id": snapshot.account_id,
                "stage": stage,
                "tone": decision.tone or "",
                "invoices": list(decision.invoices),
                "to_addrs": list(snapshot.emails),
                "subject": written.subject,
                "body": written.body,
                "language": written.language,
                "why": why,
                "decision_reason": decision.reason,
                "requested_at": to_utc(now),
            },
        ):
            waiting = Decision(
                "hold",
                f"the {stage} draft waits for a person's approval: {why}",
                stage=decision.stage,
                tone=decision.tone,
                invoices=decision.invoices,
            )
            _log(deps, conn, snapshot.account_id, waiting, now, usage=state.get("usage"))
    answer = interrupt({"approval": key, "account": snapshot.account_id, "why": why})
    return _answered(deps, state, decision, written, key, answer)


def _answered(
    deps: Deps,
    state: ChaseState,
    decision: Decision,
    written: Draft,
    key: str,
    answer: dict[str, Any],
) -> dict[str, Any]:
    """What a person's verdict does: an approval sends (an edited draft is verified
    first, and the policy asked again), a rejection holds the account for a while."""
    account_id = state["account_id"]
    snapshot = deps.snapshot(account_id, fresh=True)
    now = deps.local_now(snapshot)
    by = answer.get("by") or "unknown"
    update: dict[str, Any] = {"usage": None}  # the usage went into the waiting line
    if answer.get("verdict") != "approve":
        reason = answer.get("reason") or "no reason given"
        days = deps.settings.reject_hold_days
        held = replace(
            decision,
            action="hold",
            reason=f"the {decision.stage} draft was rejected by {by}: {reason}; "
            f"decided again in {days} days",
            next_review=now + timedelta(days=days),
        )
        with deps.engine.begin() as conn:
            approvals.settle(conn, key, "rejected", by=by, at=now, note=reason)
            _log_human(deps, conn, decision, account_id, "reject", f"rejected: {reason}", by, now)
        update["decision"] = decision_to_state(held)
        return update
    edit = answer.get("edit")
    if edit:
        written = replace(written, subject=edit["subject"], body=edit["body"], template="edited")
        update["draft"] = _draft_to_state(written)
    fresh = policy_decide(snapshot, now, deps.settings.policy)
    same = (fresh.stage, set(fresh.invoices)) == (decision.stage, set(decision.invoices))
    if not same or not (fresh.action == "send" or fresh.deferred):
        with deps.engine.begin() as conn:
            approvals.settle(conn, key, "superseded", by=by, at=now, note=fresh.reason)
        why = f"approved by {by}, but the account changed meanwhile ({fresh.reason})"
        if fresh.action == "send":  # another message is due now: drafted afresh, not this one
            fresh = replace(fresh, action="wait", next_review=now, deferred=False)
            why += "; decided again at the next pass"
        update["decision"] = decision_to_state(replace(fresh, reason=why))
        return update
    problems = verify_draft(written, snapshot, decision, now.date())
    if problems:
        why = f"the draft approved by {by} failed verification: " + "; ".join(problems)
        update["decision"] = decision_to_state(escalated(decision, why))
        return update
    note = f"approved by {by}" + (" (edited)" if edit else "")
    with deps.engine.begin() as conn:
        approvals.settle(conn, key, "approved", by=by, at=now, edited=bool(edit))
        _log_human(deps, conn, decision, account_id, "approve", note, by, now)
    update["decision"] = decision_to_state(
        replace(decision, reason=f"{decision.reason}; {note}", deferred=False)
    )
    return update


def _log_human(
    deps: Deps,
    conn: Any,
    decision: Decision,
    account_id: str,
    action: str,
    what: str,
    by: str,
    now: Any,
) -> None:
    log_human(
        conn,
        account_id=account_id,
        action=action,
        reason=f"the {decision.stage} draft was {what}",
        by=by,
        at=now,
        invoices=list(decision.invoices),
        stage=decision.stage,
        policy_version=deps.settings.policy.version,
    )


def after_approve(state: ChaseState) -> str:
    return "send" if _sending(state) else "record"


def send(state: ChaseState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    snapshot = deps.snapshot(state["account_id"])
    decision = decision_from_state(state["decision"] or {})
    written = _draft_from_state(state["draft"] or {})
    now = deps.local_now(snapshot)
    stage = decision.stage or ""
    key = outbox.message_key(snapshot.account_id, stage, decision.invoices, now.date())
    if deps.dry_run:
        return {"outcome": {"delivery": "dry_run", "message_key": key}}
    usage = state.get("usage")

    def log_send(conn: Any) -> None:  # in the same transaction as the outbox's "sent"
        _log(deps, conn, snapshot.account_id, decision, now, message_key=key, usage=usage)

    delivery = deps.deliver(
        outbox.Outgoing(
            key=key,
            account_id=snapshot.account_id,
            stage=stage,
            tone=decision.tone or "",
            language=written.language,
            invoices=decision.invoices,
            to=list(snapshot.emails),
            subject=written.subject,
            body=written.body,
            reply_to=deps.reply_to(key),
            headers={},
        ),
        now,
        on_sent=log_send,
    )
    update: dict[str, Any] = {
        "outcome": {"delivery": delivery.outcome, "message_key": key, "logged": delivery.settled}
    }
    if delivery.outcome in ("in_doubt", "failed"):
        update["decision"] = decision_to_state(escalated(decision, delivery.detail))
    elif delivery.outcome == "blocked":
        held = replace(decision, action="hold", reason=delivery.detail, next_review=None)
        update["decision"] = decision_to_state(held)
    elif delivery.outcome == "retry_later":
        retry = replace(
            decision,
            action="wait",
            reason=f"{decision.reason}; not sent yet: {delivery.detail}",
            next_review=now + RETRY_AFTER,
            deferred=True,
        )
        update["decision"] = decision_to_state(retry)
    return update


def record(state: ChaseState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    snapshot = deps.snapshot(state["account_id"])
    decision = decision_from_state(state["decision"] or {})
    if not deps.dry_run and not (state.get("outcome") or {}).get("logged"):
        now = deps.local_now(snapshot)
        with deps.engine.begin() as conn:
            key = (state.get("outcome") or {}).get("message_key")
            _log(
                deps,
                conn,
                snapshot.account_id,
                decision,
                now,
                message_key=key if decision.action == "send" else None,
                usage=state.get("usage"),
            )
    deps.forget(snapshot.account_id)
    return {}


def _log(
    deps: Deps,
    conn: Any,
    account_id: str,
    decision: Decision,
    now: Any,
    *,
    message_key: str | None = None,
    usage: dict[str, Any] | None = None,
) -> None:
    record_decision(
        conn,
        account_id=account_id,
        decision=decision,
        at=now,
        today=now.date(),
        policy_version=deps.settings.policy.version,
        engine=deps.engine_name,
        message_key=message_key,
        usage=usage,
    )


def build_chase_graph(checkpointer: BaseCheckpointSaver | None = None) -> Any:
    graph = StateGraph(ChaseState, context_schema=Deps)
    graph.add_node("decide", decide)
    graph.add_node("draft", draft)
    graph.add_node("verify", verify)
    graph.add_node("approve", approve)
    graph.add_node("send", send)
    graph.add_node("record", record)
    graph.add_edge(START, "decide")
    graph.add_conditional_edges("decide", after_decide, ["draft", "record"])
    graph.add_edge("draft", "verify")
    graph.add_conditional_edges("verify", after_verify, ["approve", "send", "record"])
    graph.add_conditional_edges("approve", after_approve, ["send", "record"])
    graph.add_edge("send", "record")
    graph.add_edge("record", END)
    return graph.compile(checkpointer=checkpointer)
