"""The dunning policy: a pure function of an account snapshot, a clock reading and
the policy numbers. It never reads the database, the mail or the model.

``decide`` answers one of ``send``, ``wait``, ``hold``, ``escalate`` with the stage,
the tone, the invoices, a reason a person can read and when to look again. The
rules are those of ``shared/eval-cases.md`` ("The default policy the labels
assume"), plus the sending window: a send that falls outside business hours in
the account's time zone becomes a deferred ``wait`` until the window opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agent.policy_config import PolicyConfig
from agent.snapshot import (
    STAGES,
    TONES,
    AccountSnapshot,
    Decision,
    OpenInvoice,
    PaidInvoice,
    Stage,
    Tone,
    stage_rank,
)

BASE_TONE: dict[Stage, Tone] = {
    "reminder": "friendly",
    "first_overdue": "neutral",
    "escalation": "firm",
    "final_notice": "final",
}
OVERDUE_NOTICES: frozenset[Stage] = frozenset({"first_overdue", "escalation"})


def stage_starts(policy: PolicyConfig) -> dict[Stage, int]:
    return {
        "reminder": policy.reminder_from_days,
        "first_overdue": policy.first_overdue_from_days,
        "escalation": policy.escalation_from_days,
        "final_notice": policy.final_notice_from_days,
    }


def stage_for_age(age_days: int, policy: PolicyConfig) -> Stage | None:
    """The stage whose window holds an invoice this many days past its due date."""
    current: Stage | None = None
    for stage, start in stage_starts(policy).items():
        if age_days >= start:
            current = stage
    return current


def payer_profile(history: Iterable[PaidInvoice], policy: PolicyConfig) -> str:
    """``prompt``, ``late`` or ``usual`` from the earlier invoices' payment delays."""
    delays = [(item.paid_date - item.due_date).days for item in history]
    if not delays:
        return "usual"
    if all(delay <= policy.good_payer_within_days for delay in delays):
        return "prompt"
    if sum(delay > policy.late_payer_after_days for delay in delays) * 2 > len(delays):
        return "late"
    return "usual"


def tone_for(stage: Stage, profile: str) -> Tone:
    """Tone follows the stage, one step softer for prompt payers, one firmer for late
    ones (never past ``firm`` before the final notice)."""
    index = TONES.index(BASE_TONE[stage])
    if profile == "prompt":
        index = max(index - 1, 0)
    elif profile == "late" and stage != "final_notice":
        index = min(index + 1, TONES.index("firm"))
    return TONES[index]


def allowed_tones(stage: Stage, tone: Tone) -> tuple[Tone, ...]:
    """The tones a writer may choose for a message the policy gave ``tone``: that tone or
    one step softer, never firmer (and never ``final`` before the final notice)."""
    index = TONES.index(tone)
    choices = TONES[max(index - 1, 0) : index + 1]
    return tuple(t for t in choices if t != "final" or stage == "final_notice")


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def next_send_slot(local_now: datetime, policy: PolicyConfig) -> datetime:
    """``local_now`` itself when inside the sending window, else the window's next opening."""
    days = policy.business_weekdays
    day = local_now.date()
    if (
        day.weekday() in days
        and policy.send_window_start <= local_now.time() < policy.send_window_end
    ):
        return local_now
    if day.weekday() in days and local_now.time() < policy.send_window_start:
        return datetime.combine(day, policy.send_window_start, tzinfo=local_now.tzinfo)
    for offset in range(1, 8):
        candidate = day + timedelta(days=offset)
        if candidate.weekday() in days:
            return datetime.combine(candidate, policy.send_window_start, tzinfo=local_now.tzinfo)
    raise AssertionError("business_days is never empty")


class _Chase:
    """The stage arithmetic for one snapshot on one day."""

    def __init__(self, snapshot: AccountSnapshot, today: date, policy: PolicyConfig) -> None:
        self.snapshot = snapshot
        self.today = today
        self.policy = policy
        self.sent_by_invoice: dict[str, list[tuple[date, Stage]]] = {}
        for message in snapshot.sent:
            for number in message.invoices:
                self.sent_by_invoice.setdefault(number, []).append((message.on, message.stage))

    def highest_sent(self, number: str) -> int:
        return max((stage_rank(s) for _, s in self.sent_by_invoice.get(number, [])), default=-1)

    def due_stage(self, invoice: OpenInvoice) -> tuple[Stage | None, str]:
        """The stage this invoice is due today (after the final-notice rule), and a note."""
        stage = stage_for_age((self.today - invoice.due_date).days, self.policy)
        if stage is None or stage_rank(stage) <= self.highest_sent(invoice.number):
            return None, ""
        if stage != "final_notice":
            return stage, ""
        cutoff = self.today - timedelta(days=self.policy.final_notice_prior_days)
        earlier = [
            on
            for on, s in self.sent_by_invoice.get(invoice.number, [])
            if s in OVERDUE_NOTICES and on <= cutoff
        ]
        if earlier:
            return "final_notice", ""
        if self.highest_sent(invoice.number) < stage_rank("escalation"):
            return "escalation", (
                f"{invoice.number} has had no overdue notice {self.policy.final_notice_prior_days}"
                " days before a final notice, so it gets an escalation first"
            )
        return None, ""

    def last_chase(self) -> date | None:
        return max((m.on for m in self.snapshot.sent), default=None)

    def finals_due_for_person(self) -> list[tuple[str, date]]:
        """Open invoices whose final notice is ``escalate_after_final_days`` old."""
        found = []
        for invoice in self.snapshot.open_invoices:
            if invoice.balance <= 0:
                continue  # paid off: not "still unpaid"
            finals = [
                on for on, s in self.sent_by_invoice.get(invoice.number, []) if s == "final_notice"
            ]
            if not finals:
                continue
            final_on = max(finals)
            if (self.today - final_on).days < self.policy.escalate_after_final_days:
                continue
            if any(e.opened_on >= final_on for e in self.snapshot.escalations):
                continue  # a person already took it over after that notice
            found.append((invoice.number, final_on))
        return found

    def upcoming_dates(self) -> list[date]:
        """Every later day on which a wait could turn into something else."""
        dates: list[date] = []
        starts = stage_starts(self.policy)
        for invoice in self.snapshot.open_invoices:
            if invoice.balance <= 0:
                continue
            done = self.highest_sent(invoice.number)
            for stage in STAGES[done + 1 :]:
                dates.append(invoice.due_date + timedelta(days=starts[stage]))
            for on, stage in self.sent_by_invoice.get(invoice.number, []):
                if stage in OVERDUE_NOTICES:
                    dates.append(on + timedelta(days=self.policy.final_notice_prior_days))
                if stage == "final_notice":
                    dates.append(on + timedelta(days=self.policy.escalate_after_final_days))
        return [d for d in dates if d > self.today]


def decide(snapshot: AccountSnapshot, now: datetime, policy: PolicyConfig) -> Decision:
    """The decision for ``snapshot`` at instant ``now`` under ``policy``."""
    tz = ZoneInfo(snapshot.timezone)
    local_now = now.astimezone(tz)
    today = local_now.date()

    def on_day(day: date | None) -> datetime | None:
        return None if day is None else local_midnight(day, tz)

    open_invoices = [inv for inv in snapshot.open_invoices if inv.balance > 0]
    if not open_invoices:
        return Decision("wait", "nothing is open on this account")
    numbers = tuple(inv.number for inv in open_invoices)

    if "human_flagged" in snapshot.flags:
        return Decision("hold", "a person flagged this account; it waits until they clear it")
    if "opted_out" in snapshot.flags:
        return Decision("hold", "the contact opted out of automated email")
    open_disputes = [d for d in snapshot.disputes]
    if open_disputes:
        disputed = (
            ", ".join(sorted({n for d in open_disputes for n in d.invoices})) or "the account"
        )
        return Decision(
            "hold",
            f"dispute open on {disputed} since {open_disputes[0].opened_on}; waits for a person",
        )
    open_escalations = [e for e in snapshot.escalations if e.resolved_on is None]
    if open_escalations:
        first = open_escalations[0]
        return Decision("hold", f"with a person since {first.opened_on}: {first.reason}")

    for hold in snapshot.holds:
        if hold.kind != "paid_claim":
            continue
        paid_since = any(p.on >= hold.made_on for p in snapshot.payments)
        if paid_since:
            continue
        if today < hold.until:
            return Decision(
                "hold",
                f"customer said on {hold.made_on} it has paid; waiting for the payment until "
                f"{hold.until}",
                next_review=on_day(hold.until),
            )
        if not any(e.opened_on >= hold.made_on for e in snapshot.escalations):
            return Decision(
                "escalate",
                f"customer said on {hold.made_on} it has paid, and no payment arrived by "
                f"{hold.until}",
                invoices=numbers,
            )

    active = [
        p
        for p in snapshot.promises
        if today <= p.promise_date + timedelta(days=policy.promise_grace_days)
    ]
    if active:
        promise = max(active, key=lambda p: p.promise_date)
        resume = promise.promise_date + timedelta(days=policy.promise_grace_days + 1)
        return Decision(
            "hold",
            f"customer promised on {promise.made_on} to pay by {promise.promise_date}; "
            f"the chase waits until {resume}",
            next_review=on_day(resume),
        )

    absences = [h for h in snapshot.holds if h.kind == "absence" and today < h.until]
    if absences:
        back = max(h.until for h in absences)
        return Decision("hold", f"contact is away until {back}", next_review=on_day(back))

    chase = _Chase(snapshot, today, policy)
    for_person = chase.finals_due_for_person()
    if for_person:
        number, final_on = for_person[0]
        return Decision(
            "escalate",
            f"final notice for {number} went out on {final_on} and it is still unpaid after "
            f"{policy.escalate_after_final_days} days",
            invoices=tuple(n for n, _ in for_person),
        )

    due: list[tuple[OpenInvoice, Stage]] = []
    notes: list[str] = []
    for invoice in open_invoices:
        stage, note = chase.due_stage(invoice)
        if stage is not None:
            due.append((invoice, stage))
            if note:
                notes.append(note)
    upcoming = chase.upcoming_dates()
    next_look = on_day(min(upcoming)) if upcoming else None

    if not due:
        return Decision("wait", "no invoice is due a new message today", next_review=next_look)

    stage = max((s for _, s in due), key=stage_rank)
    named = tuple(inv.number for inv, _ in due)
    last = chase.last_chase()
    if last is not None and (today - last).days < policy.min_gap_days:
        resume = last + timedelta(days=policy.min_gap_days)
        return Decision(
            "wait",
            f"{stage} is due for {', '.join(named)} but the last message went out on {last}; "
            f"the next may go on {resume}",
            stage=stage,
            invoices=named,
            # whatever else comes first (e.g. an escalation after a final notice) is not
            # held back by the gap
            next_review=on_day(min([resume, *upcoming])),
        )
    if not snapshot.emails:
        return Decision(
            "escalate",
            f"{stage} is due for {', '.join(named)} but there is no usable email address",
            stage=stage,
            invoices=named,
        )

    profile = payer_profile(snapshot.history, policy)
    tone = tone_for(stage, profile)
    oldest = max(due, key=lambda pair: (today - pair[0].due_date).days)[0]
    age = (today - oldest.due_date).days
    when = (
        f"{age} days overdue" if age > 0 else ("due today" if age == 0 else f"due in {-age} days")
    )
    reason = f"{stage} due: oldest invoice {oldest.number} is {when}; {profile} payer, {tone} tone"
    if notes:
        reason += "; " + "; ".join(notes)

    slot = next_send_slot(local_now, policy)
    if slot != local_now:
        return Decision(
            "wait",
            f"{reason}; deferred: outside the sending window, next opening "
            f"{slot:%a %Y-%m-%d %H:%M} {snapshot.timezone}",
            stage=stage,
            tone=tone,
            invoices=named,
            next_review=slot,
            deferred=True,
        )
    return Decision(
        "send",
        reason,
        stage=stage,
        tone=tone,
        invoices=named,
        next_review=on_day(today + timedelta(days=max(policy.min_gap_days, 1))),
    )
