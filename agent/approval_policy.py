"""Which drafted messages wait for a person before they go out: a pure function of the
decision, the account snapshot and the approval rules (``approve_*`` settings).

Any rule that matches asks for approval; with no rule configured nothing waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.snapshot import AccountSnapshot, Decision


@dataclass(frozen=True)
class ApprovalRules:
    all_messages: bool = False
    stages: frozenset[str] = frozenset()
    amount_over: Decimal | None = None
    accounts: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return bool(
            self.all_messages or self.stages or self.amount_over is not None or self.accounts
        )

    @classmethod
    def from_settings(cls, settings: object) -> ApprovalRules:
        return cls(
            all_messages=bool(getattr(settings, "approve_all", False)),
            stages=frozenset(getattr(settings, "approve_stages", ()) or ()),
            amount_over=getattr(settings, "approve_amount_over", None),
            accounts=frozenset(getattr(settings, "approve_accounts", ()) or ()),
        )


def approval_needed(
    decision: Decision, snapshot: AccountSnapshot, rules: ApprovalRules
) -> str | None:
    """Why this send must wait for a person, or ``None`` when it may go out."""
    if decision.action != "send" or not rules.active:
        return None
    if rules.all_messages:
        return "every message waits for approval (approve_all)"
    if decision.stage in rules.stages:
        return f"every {decision.stage} waits for approval (approve_stages)"
    if snapshot.account_id in rules.accounts:
        return f"messages to {snapshot.account_id} wait for approval (approve_accounts)"
    if rules.amount_over is not None:
        named = set(decision.invoices)
        totals: dict[str, Decimal] = {}
        for invoice in snapshot.open_invoices:
            if invoice.number in named:
                totals[invoice.currency] = (
                    totals.get(invoice.currency, Decimal(0)) + invoice.balance
                )
        over = {cur: total for cur, total in totals.items() if total > rules.amount_over}
        if over:
            currency, total = max(over.items(), key=lambda item: item[1])
            return (
                f"the message names {total} {currency} open, over {rules.amount_over} "
                "(approve_amount_over)"
            )
    return None
