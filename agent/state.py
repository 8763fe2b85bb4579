"""The chase graph's state: small and JSON-safe (ids and plain values), so every
checkpoint stays small. The snapshot itself lives in the run's context."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, TypedDict

from agent.snapshot import Decision


class ChaseState(TypedDict, total=False):
    account_id: str
    decision: dict[str, Any] | None
    draft: dict[str, Any] | None
    usage: dict[str, Any] | None
    """What the LLM engine spent on this decision (``LlmEngine.take_usage``)."""
    approval: dict[str, Any] | None
    """When the draft must wait for a person: ``why`` (the rule that holds it back)."""
    outcome: dict[str, Any] | None
    """After send: ``delivery`` (sent, already_sent, in_doubt, failed, retry_later,
    dry_run) and the outbox ``message_key``."""


def decision_to_state(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action,
        "reason": decision.reason,
        "stage": decision.stage,
        "tone": decision.tone,
        "invoices": list(decision.invoices),
        "next_review": None if decision.next_review is None else decision.next_review.isoformat(),
        "deferred": decision.deferred,
    }


def decision_from_state(data: dict[str, Any]) -> Decision:
    review = data.get("next_review")
    return Decision(
        action=data["action"],
        reason=data["reason"],
        stage=data.get("stage"),
        tone=data.get("tone"),
        invoices=tuple(data.get("invoices") or ()),
        next_review=None if review is None else datetime.fromisoformat(review),
        deferred=bool(data.get("deferred")),
    )


def escalated(decision: Decision, why: str) -> Decision:
    """The same decision handed to a person instead, with the reason why."""
    return replace(decision, action="escalate", reason=why, next_review=None, deferred=False)
