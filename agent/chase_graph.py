"""The chase graph: one LangGraph thread per account (``chase:<account id>``).

decide (load the account's context through the ledger tools, apply the policy) ->
draft -> verify -> send -> record; a wait, a hold or an escalate goes from decide
straight to record, and a draft that fails verification is not sent: the account
is escalated with the reason. The policy decides, the drafter
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

from agent.deps import Deps
from agent.policy import decide as policy_decide
from agent.state import ChaseState, decision_from_state, decision_to_state, escalated
from agent.verify import verify_draft
from tools import outbox
from tools.drafting import Draft, draft_message
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
    decision = policy_decide(snapshot, deps.local_now(snapshot), deps.settings.policy)
    return {
        "decision": decision_to_state(decision),
        "draft": None,
        "usage": None,
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
        return {}
    why = "the draft failed verification and was not sent: " + "; ".join(problems)
    return {"decision": decision_to_state(escalated(decision, why))}


def after_verify(state: ChaseState) -> str:
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
    )
    update: dict[str, Any] = {"outcome": {"delivery": delivery.outcome, "message_key": key}}
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
    if not deps.dry_run:
        now = deps.local_now(snapshot)
        with deps.engine.begin() as conn:
            record_decision(
                conn,
                account_id=snapshot.account_id,
                decision=decision,
                at=now,
                today=now.date(),
                policy_version=deps.settings.policy.version,
                engine=deps.engine_name,
                message_key=(state.get("outcome") or {}).get("message_key")
                if decision.action == "send"
                else None,
                usage=state.get("usage"),
            )
    deps.forget(snapshot.account_id)
    return {}


def build_chase_graph(checkpointer: BaseCheckpointSaver | None = None) -> Any:
    graph = StateGraph(ChaseState, context_schema=Deps)
    graph.add_node("decide", decide)
    graph.add_node("draft", draft)
    graph.add_node("verify", verify)
    graph.add_node("send", send)
    graph.add_node("record", record)
    graph.add_edge(START, "decide")
    graph.add_conditional_edges("decide", after_decide, ["draft", "record"])
    graph.add_edge("draft", "verify")
    graph.add_conditional_edges("verify", after_verify, ["send", "record"])
    graph.add_edge("send", "record")
    graph.add_edge("record", END)
    return graph.compile(checkpointer=checkpointer)
