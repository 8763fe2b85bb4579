"""What a classified reply does to the chase: a pure function, like ``agent.policy``.

``decide_reply`` turns a classification (a proposal, from rules or a model) and the
account's snapshot into a ``ReplyDecision``: the action of ``shared/eval-cases.md``
(``pause``, ``escalate``, ``respond``, ``none``) and the facts to record (a promise,
a hold, a dispute, an undeliverable or opted-out address, an answer to send). The
rules are the default policy's:

- ``promise_to_pay`` records the promise and pauses until its date plus grace (a
  promise with no date: ``promise_without_date_days``);
- ``paid`` holds ``paid_claim_hold_days`` (the chase then escalates if no payment
  came); it never marks an invoice paid;
- ``out_of_office`` holds until the return date (or ``absence_default_days``);
- ``dispute`` opens a dispute on its invoices and escalates;
- ``question`` about the invoice copy, the payment link, the amount or the due date
  is answered; any other question escalates;
- ``payment_plan``, ``bounce``, ``unsubscribe`` and ``wrong_contact`` escalate (a
  bounce marks the address undeliverable, an unsubscribe opts the sender out);
- ``other`` is logged.

An email with words addressed to the agent ("ignore previous instructions") goes to
a person whatever else it says. Nothing a classification says can widen this: no
intent sends a chase message, marks an invoice paid or clears a flag. The agent
never answers automatic mail, an opted-out contact or a flagged account; those
answers go to a person instead.
A reply understood with less than ``min_reply_confidence`` goes to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from agent.classification import ANSWERABLE_TOPICS, Classification
from agent.policy_config import PolicyConfig
from agent.snapshot import AccountSnapshot, Dispute, Hold, Promise

ReplyAction = Literal["pause", "escalate", "respond", "none"]
REPLY_ACTIONS: tuple[ReplyAction, ...] = ("pause", "escalate", "respond", "none")


@dataclass(frozen=True, slots=True)
class ReplyDecision:
    action: ReplyAction
    reason: str
    intent: str
    invoices: tuple[str, ...] = ()
    promise: Promise | None = None
    hold: Hold | None = None
    dispute: Dispute | None = None
    answer_topic: str | None = None
    undeliverable: str | None = None
    """An address to mark undeliverable (a permanent bounce)."""
    opt_out: str | None = None
    """An address to opt out of automated mail (an unsubscribe)."""
    new_contact: str | None = None

    @property
    def escalates(self) -> bool:
        return self.action == "escalate"

    @property
    def pause_until(self) -> date | None:
        if self.promise is not None:
            return self.promise.promise_date
        return None if self.hold is None else self.hold.until


def reply_invoices(
    classification: Classification, snapshot: AccountSnapshot, replied_to: tuple[str, ...]
) -> tuple[str, ...]:
    """The open invoices a reply is about: those it names, else those of the message it
    answers, else every open invoice of the account."""
    open_numbers = [inv.number for inv in snapshot.open_invoices if inv.balance > 0]
    by_upper = {n.upper(): n for n in open_numbers}
    named = [by_upper[n.upper()] for n in classification.invoices if n.upper() in by_upper]
    if named:
        return tuple(dict.fromkeys(named))
    answered = [n for n in replied_to if n in open_numbers]
    return tuple(answered or open_numbers)


def unmatched(classification: Classification, why: str) -> ReplyDecision:
    """A reply no account could be found for: a person sorts it out."""
    return ReplyDecision(
        "escalate",
        f"{_intent_words(classification)}, but it could not be matched to an account ({why}); "
        "left for a person",
        classification.intent,
        invoices=tuple(classification.invoices),
    )


def decide_reply(
    classification: Classification,
    snapshot: AccountSnapshot,
    *,
    day: date,
    policy: PolicyConfig,
    automatic: bool = False,
    sender: str | None = None,
    replied_to: tuple[str, ...] = (),
    bounce_permanent: bool = True,
) -> ReplyDecision:
    """What the reply does. ``day`` is the reply's date in the account's time zone;
    ``sender`` is the customer's address concerned (for a bounce: the failed one)."""
    intent = classification.intent
    invoices = reply_invoices(classification, snapshot, replied_to)
    said = _intent_words(classification)

    if classification.hand_to_person:
        return ReplyDecision(
            "escalate",
            f"{said}; {classification.hand_to_person}",
            intent,
            invoices=invoices,
        )
    if classification.suspicious:
        return ReplyDecision(
            "escalate",
            f"{said}; the email also holds instructions addressed to the agent, which were "
            "ignored: a person reads it",
            intent,
            invoices=invoices,
        )
    if intent != "other" and classification.confidence < policy.min_reply_confidence:
        return ReplyDecision(
            "escalate",
            f"{said}, but only with confidence {classification.confidence:.2f}; a person reads it",
            intent,
            invoices=invoices,
        )

    if intent == "promise_to_pay":
        promised = classification.promise_date
        note = ""
        if promised is None:
            promised = day + timedelta(days=policy.promise_without_date_days)
            note = f" (no date named: held {policy.promise_without_date_days} days)"
        promise = Promise(day, promised, classification.promise_amount, invoices)
        resume = promised + timedelta(days=policy.promise_grace_days + 1)
        amount = f" {classification.promise_amount}" if classification.promise_amount else ""
        return ReplyDecision(
            "pause",
            f"{said}: promised to pay{amount} by {promised}{note}; the chase waits until {resume}",
            intent,
            invoices=invoices,
            promise=promise,
        )
    if intent == "paid":
        until = day + timedelta(days=policy.paid_claim_hold_days)
        return ReplyDecision(
            "pause",
            f"{said}: says it has paid; held until {until} for the payment to arrive, then a "
            "person looks if it has not",
            intent,
            invoices=invoices,
            hold=Hold("paid_claim", day, until),
        )
    if intent == "out_of_office":
        back = classification.return_date
        if back is None or back <= day:
            back = day + timedelta(days=policy.absence_default_days)
            when = f"no return date given: deferred {policy.absence_default_days} days to {back}"
        else:
            when = f"back on {back}: the chase is deferred until then"
        return ReplyDecision(
            "pause",
            f"{said}; {when}",
            intent,
            invoices=invoices,
            hold=Hold("absence", day, back),
        )
    if intent == "dispute":
        what = ", ".join(invoices) or "the account"
        return ReplyDecision(
            "escalate",
            f"{said}: disputes {what}; the chase holds until a person resolves it",
            intent,
            invoices=invoices,
            dispute=Dispute(day, invoices, classification.evidence[:500]),
        )
    if intent == "question":
        topic = classification.question_topic or "other"
        blocked = _why_no_answer(snapshot, automatic)
        if topic in ANSWERABLE_TOPICS and not blocked:
            return ReplyDecision(
                "respond",
                f"{said}: asks for the {topic.replace('_', ' ')}; answered automatically",
                intent,
                invoices=invoices,
                answer_topic=topic,
            )
        why = blocked or f"a question about {topic.replace('_', ' ')} needs a person"
        return ReplyDecision("escalate", f"{said}: {why}", intent, invoices=invoices)
    if intent == "payment_plan":
        return ReplyDecision(
            "escalate",
            f"{said}: asks for a payment plan or more time; a person decides",
            intent,
            invoices=invoices,
        )
    if intent == "bounce" and not bounce_permanent:
        return ReplyDecision(
            "none",
            f"{said}: delivery to {sender or 'the contact'} is delayed, not failed; the mail "
            "server keeps trying",
            intent,
            invoices=invoices,
        )
    if intent == "bounce":
        return ReplyDecision(
            "escalate",
            f"{said}: the address {sender or 'we wrote to'} is undeliverable; a person finds "
            "a new contact",
            intent,
            invoices=invoices,
            undeliverable=sender,
        )
    if intent == "unsubscribe":
        return ReplyDecision(
            "escalate",
            f"{said}: asks to receive no more of these emails; {sender or 'the contact'} is "
            "opted out of automated mail and a person takes over",
            intent,
            invoices=invoices,
            opt_out=sender,
        )
    if intent == "wrong_contact":
        new = classification.new_contact
        tail = f"; it names {new} instead" if new else ""
        return ReplyDecision(
            "escalate",
            f"{said}: not the right contact{tail}; a person updates the contact",
            intent,
            invoices=invoices,
            new_contact=new,
        )
    return ReplyDecision("none", f"{said}; nothing to do", intent, invoices=invoices)


def _why_no_answer(snapshot: AccountSnapshot, automatic: bool) -> str | None:
    if automatic:
        return "it is automatic mail, which the agent never answers"
    if "human_flagged" in snapshot.flags:
        return "a person has flagged the account, so a person answers"
    if "opted_out" in snapshot.flags or not snapshot.emails:
        return "the contact gets no automated email, so a person answers"
    return None


def _intent_words(classification: Classification) -> str:
    evidence = classification.evidence.strip().replace("\n", " ")
    if len(evidence) > 120:
        evidence = evidence[:117] + "..."
    quoted = f' ("{evidence}")' if evidence else ""
    return f"reply read as {classification.intent}{quoted}"
