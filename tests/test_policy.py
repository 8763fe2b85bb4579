"""Tests of ``agent.policy.decide`` against the default policy of ``shared/eval-cases.md``.

Every test builds one account snapshot around a fixed ``TODAY`` (a Wednesday) and
asserts what a controller would notice: the action, the stage, the tone, the invoices
named and when the account is looked at again.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from agent.clock import DayClock
from agent.policy import decide
from agent.policy_config import PolicyConfig
from agent.snapshot import (
    AccountSnapshot,
    Decision,
    Dispute,
    Escalation,
    Hold,
    OpenInvoice,
    PaidInvoice,
    Payment,
    Promise,
    SentMessage,
    Stage,
)

DEFAULT = PolicyConfig()
TODAY = date(2026, 3, 11)  # a Wednesday
EMAIL = ("ap@acme.example",)


# ----------------------------------------------------------------------------------------- helpers


def day(offset: int) -> date:
    """``TODAY`` shifted by ``offset`` days."""
    return TODAY + timedelta(days=offset)


def inv(number: str = "INV-1", age: int = 0, balance: str = "100.00") -> OpenInvoice:
    """An open invoice that is ``age`` days past its due date on ``TODAY``."""
    due = day(-age)
    return OpenInvoice(
        number=number,
        amount=Decimal("100.00"),
        currency="USD",
        issue_date=due - timedelta(days=30),
        due_date=due,
        balance=Decimal(balance),
    )


def sent(offset: int, stage: Stage, *numbers: str) -> SentMessage:
    """A chase message sent on ``TODAY + offset`` (``offset`` is usually negative)."""
    return SentMessage(on=day(offset), stage=stage, invoices=numbers or ("INV-1",))


def paid(number: str, delay: int) -> PaidInvoice:
    """An earlier invoice paid ``delay`` days after its due date."""
    due = date(2025, 6, 1)
    return PaidInvoice(
        number=number,
        amount=Decimal("50.00"),
        due_date=due,
        paid_date=due + timedelta(days=delay),
    )


def snap(*invoices: OpenInvoice, **fields: object) -> AccountSnapshot:
    fields.setdefault("emails", EMAIL)
    return AccountSnapshot(
        account_id="C-1",
        name="Acme Ltd",
        open_invoices=invoices or (inv(),),
        **fields,  # type: ignore[arg-type]
    )


def local(on: date, hh: int = 10, mm: int = 0, tz: str = "UTC") -> datetime:
    return datetime.combine(on, time(hh, mm), tzinfo=ZoneInfo(tz))


def midnight(on: date, tz: str = "UTC") -> datetime:
    return datetime.combine(on, time(0, 0), tzinfo=ZoneInfo(tz))


def run(snapshot: AccountSnapshot, on: date = TODAY, policy: PolicyConfig = DEFAULT) -> Decision:
    """``decide`` at 10:00 local on ``on`` (inside the default sending window)."""
    return decide(snapshot, DayClock(on).now(ZoneInfo(snapshot.timezone)), policy)


def assert_send(
    decision: Decision, stage: str, tone: str | None = None, invoices: tuple[str, ...] = ("INV-1",)
) -> None:
    assert decision.action == "send", decision.reason
    assert decision.deferred is False
    assert decision.stage == stage, decision.reason
    if tone is not None:
        assert decision.tone == tone, decision.reason
    assert set(decision.invoices) == set(invoices)
    assert decision.reason


def assert_wait(decision: Decision, next_review: date | None, tz: str = "UTC") -> None:
    assert decision.action == "wait", decision.reason
    assert decision.deferred is False
    if next_review is None:
        assert decision.next_review is None
    else:
        assert decision.next_review == midnight(next_review, tz), decision.reason
        assert decision.next_review.tzinfo is not None


def assert_hold(decision: Decision, next_review: date | None = None) -> None:
    assert decision.action == "hold", decision.reason
    assert decision.deferred is False
    if next_review is not None:
        assert decision.next_review == midnight(next_review), decision.reason
    assert decision.reason


# ----------------------------------------------------------------------------------- stage windows


@pytest.mark.parametrize(
    ("age", "stage", "tone"),
    [
        (-3, "reminder", "friendly"),
        (0, "reminder", "friendly"),
        (2, "reminder", "friendly"),
        (3, "first_overdue", "neutral"),
        (14, "first_overdue", "neutral"),
        (15, "escalation", "firm"),
        (44, "escalation", "firm"),
    ],
)
def test_stage_window_with_nothing_sent(age: int, stage: str, tone: str) -> None:
    assert_send(run(snap(inv(age=age))), stage, tone)


def test_four_days_before_due_waits_until_reminder_window_opens() -> None:
    decision = run(snap(inv(age=-4)))
    assert_wait(decision, next_review=day(1))
    assert decision.stage is None


def test_age_45_after_overdue_notices_is_final_notice() -> None:
    history = (sent(-42, "first_overdue"), sent(-30, "escalation"))
    assert_send(run(snap(inv(age=45), sent=history)), "final_notice", "final")


def test_age_45_after_reminder_and_first_overdue_only_is_final_notice() -> None:
    """An escalation that was never sent is not needed: a first_overdue suffices."""
    history = (sent(-47, "reminder"), sent(-40, "first_overdue"))
    assert_send(run(snap(inv(age=45), sent=history)), "final_notice", "final")


@pytest.mark.parametrize(
    ("age", "history", "stage"),
    [
        (2, [(-5, "reminder")], None),
        (3, [(-6, "reminder")], "first_overdue"),
        (14, [(-11, "first_overdue")], None),
        (15, [(-12, "first_overdue")], "escalation"),
        (44, [(-29, "escalation")], None),
    ],
)
def test_window_end_after_stage_was_sent(
    age: int, history: list[tuple[int, str]], stage: str | None
) -> None:
    """At the end of a window whose stage went out, nothing is due; the next window opens."""
    decision = run(snap(inv(age=age), sent=tuple(sent(o, s) for o, s in history)))
    if stage is None:
        assert decision.action == "wait"
    else:
        assert_send(decision, stage)


def test_stage_is_not_repeated_and_wait_reviews_when_next_window_opens() -> None:
    # first_overdue went out at age 3; at age 10 nothing is due until age 15.
    decision = run(snap(inv(age=10), sent=(sent(-7, "first_overdue"),)))
    assert_wait(decision, next_review=day(5))
    assert run(snap(inv(age=10), sent=(sent(-7, "first_overdue"),)), day(4)).action == "wait"
    assert_send(run(snap(inv(age=10), sent=(sent(-7, "first_overdue"),)), day(5)), "escalation")


def test_reminder_not_repeated_within_its_window() -> None:
    snapshot = snap(inv(age=2), sent=(sent(-5, "reminder"),))
    assert_wait(run(snapshot), next_review=day(1))  # age 3: first_overdue opens


def test_escalation_not_repeated_reviews_at_final_notice_window() -> None:
    snapshot = snap(inv(age=30), sent=(sent(-27, "first_overdue"), sent(-15, "escalation")))
    assert_wait(run(snapshot), next_review=day(15))


def test_skipped_window_gets_current_stage() -> None:
    # Only a reminder went out; the invoice is now in the escalation window.
    snapshot = snap(inv(age=20), sent=(sent(-22, "reminder"),))
    assert_send(run(snapshot), "escalation", "firm")


def test_skipped_windows_first_message_at_final_age_is_escalation() -> None:
    assert_send(run(snap(inv(age=60))), "escalation", "firm")


def test_later_stage_sent_blocks_earlier_ones() -> None:
    # escalation already went out (e.g. by hand); first_overdue is not sent afterwards.
    snapshot = snap(inv(age=20), sent=(sent(-10, "escalation"),))
    assert run(snapshot).action == "wait"


# ------------------------------------------------------------------------- one message per account


def test_one_message_names_every_due_invoice_with_highest_stage() -> None:
    snapshot = snap(
        inv("A", age=20),
        inv("B", age=4),
        inv("C", age=-1),
        inv("D", age=10),
        sent=(sent(-15, "first_overdue", "A"), sent(-7, "first_overdue", "D")),
    )
    decision = run(snapshot)
    assert_send(decision, "escalation", "firm", invoices=("A", "B", "C"))
    assert "D" not in decision.invoices


def test_invoice_not_yet_due_a_message_is_not_named() -> None:
    snapshot = snap(inv("A", age=5), inv("B", age=-10))
    assert_send(run(snapshot), "first_overdue", "neutral", invoices=("A",))


def test_paid_off_invoice_is_not_named() -> None:
    snapshot = snap(inv("A", age=5), inv("B", age=5, balance="0"))
    assert_send(run(snapshot), "first_overdue", invoices=("A",))


# ---------------------------------------------------------------------------- gap between messages


def test_four_days_after_last_message_waits_until_day_five() -> None:
    snapshot = snap(
        inv("A", age=8),
        inv("B", age=-2),
        sent=(sent(-4, "first_overdue", "A"),),
    )
    decision = run(snapshot)
    assert_wait(decision, next_review=day(1))
    assert decision.stage == "reminder"
    assert decision.invoices == ("B",)


def test_five_days_after_last_message_sends() -> None:
    snapshot = snap(
        inv("A", age=8),
        inv("B", age=-2),
        sent=(sent(-5, "first_overdue", "A"),),
    )
    assert_send(run(snapshot), "reminder", "friendly", invoices=("B",))


def test_gap_applies_per_account_not_per_invoice() -> None:
    snapshot = snap(inv("A", age=3), inv("B", age=40), sent=(sent(-1, "escalation", "B"),))
    decision = run(snapshot)
    assert_wait(decision, next_review=day(4))
    assert decision.stage == "first_overdue"


def test_send_schedules_review_after_the_gap() -> None:
    decision = run(snap(inv(age=3)))
    assert decision.action == "send"
    assert decision.next_review == midnight(day(5))


# ------------------------------------------------------------------------------- final notice rule


def test_final_notice_needs_overdue_notice_seven_days_earlier_six_is_not_enough() -> None:
    snapshot = snap(inv(age=45), sent=(sent(-6, "first_overdue"),))
    decision = run(snapshot)
    assert_send(decision, "escalation", "firm")
    assert decision.stage != "final_notice"


def test_final_notice_with_overdue_notice_exactly_seven_days_earlier() -> None:
    snapshot = snap(inv(age=45), sent=(sent(-7, "first_overdue"),))
    assert_send(run(snapshot), "final_notice", "final")


def test_final_notice_after_escalation_six_vs_seven_days() -> None:
    six = snap(inv(age=50), sent=(sent(-6, "escalation"),))
    decision = run(six)
    assert decision.action == "wait"  # escalation is not repeated, final must wait
    assert decision.next_review == midnight(day(1))
    seven = snap(inv(age=50), sent=(sent(-7, "escalation"),))
    assert_send(run(seven), "final_notice", "final")


def test_final_notice_never_without_overdue_notice_reminder_does_not_count() -> None:
    snapshot = snap(inv(age=50), sent=(sent(-52, "reminder"),))
    assert_send(run(snapshot), "escalation", "firm")


def test_final_notice_needs_notice_for_that_invoice() -> None:
    """An overdue notice for another invoice does not allow a final notice for this one."""
    snapshot = snap(inv("A", age=50), sent=(sent(-30, "escalation", "B"),))
    assert_send(run(snapshot), "escalation", invoices=("A",))


def test_final_notice_stage_is_highest_and_names_all_due() -> None:
    snapshot = snap(
        inv("A", age=46),
        inv("B", age=3),
        sent=(sent(-20, "escalation", "A"),),
    )
    assert_send(run(snapshot), "final_notice", "final", invoices=("A", "B"))


# -------------------------------------------------------------------------- escalation after final


FINAL_HISTORY = (sent(-40, "first_overdue"), sent(-25, "escalation"))


def test_nine_days_after_final_notice_waits_until_day_ten() -> None:
    snapshot = snap(inv(age=60), sent=(*FINAL_HISTORY, sent(-9, "final_notice")))
    assert_wait(run(snapshot), next_review=day(1))


def test_ten_days_after_final_notice_escalates() -> None:
    snapshot = snap(inv(age=60), sent=(*FINAL_HISTORY, sent(-10, "final_notice")))
    decision = run(snapshot)
    assert decision.action == "escalate", decision.reason
    assert decision.invoices == ("INV-1",)


def test_no_second_escalation_once_a_person_took_over_and_resolved() -> None:
    snapshot = snap(
        inv(age=70),
        sent=(*FINAL_HISTORY, sent(-20, "final_notice")),
        escalations=(Escalation(opened_on=day(-10), reason="final", resolved_on=day(-3)),),
    )
    decision = run(snapshot)
    assert decision.action == "wait", decision.reason
    assert decision.next_review is None


def test_open_escalation_after_final_holds() -> None:
    snapshot = snap(
        inv(age=70),
        sent=(*FINAL_HISTORY, sent(-20, "final_notice")),
        escalations=(Escalation(opened_on=day(-10), reason="final"),),
    )
    assert_hold(run(snapshot))


def test_escalation_before_final_notice_does_not_count() -> None:
    snapshot = snap(
        inv(age=70),
        sent=(*FINAL_HISTORY, sent(-12, "final_notice")),
        escalations=(Escalation(opened_on=day(-30), reason="old", resolved_on=day(-28)),),
    )
    assert run(snapshot).action == "escalate"


def test_escalation_after_final_names_only_unpaid_invoices() -> None:
    snapshot = snap(
        inv("A", age=70, balance="0"),
        inv("B", age=1),
        sent=(
            sent(-40, "first_overdue", "A"),
            sent(-25, "escalation", "A"),
            sent(-15, "final_notice", "A"),
            sent(-4, "reminder", "B"),
        ),
    )
    decision = run(snapshot)
    assert decision.action != "escalate", decision.reason


def test_gap_wait_reviews_on_the_day_final_notice_escalates() -> None:
    """A new invoice is due but the gap blocks it; the final notice of another invoice
    turns ten days old before the gap ends, so the review must come that day."""
    snapshot = snap(
        inv("A", age=60),
        inv("B", age=-3),
        sent=(
            sent(-40, "first_overdue", "A"),
            sent(-25, "escalation", "A"),
            sent(-9, "final_notice", "A"),
            sent(-1, "reminder", "C"),
        ),
    )
    decision = run(snapshot)
    assert decision.action == "wait"
    assert decision.next_review == midnight(day(1))
    assert run(snapshot, day(1)).action == "escalate"


# ---------------------------------------------------------------------------------------- promises


def promised(offset: int) -> Promise:
    return Promise(made_on=day(-6), promise_date=day(offset))


@pytest.mark.parametrize("promise_offset", [0, -1, -2, -3])
def test_promise_holds_through_grace_days(promise_offset: int) -> None:
    # TODAY is promise_date + 0..3: still held; the chase resumes on promise_date + 4.
    snapshot = snap(
        inv(age=16), sent=(sent(-13, "first_overdue"),), promises=(promised(promise_offset),)
    )
    decision = run(snapshot)
    assert_hold(decision, next_review=day(promise_offset + 4))


def test_promise_holds_before_promised_date() -> None:
    snapshot = snap(inv(age=16), promises=(promised(5),))
    assert_hold(run(snapshot), next_review=day(9))


def test_broken_promise_resumes_chase_with_due_stage() -> None:
    # promise_date + 4 = TODAY: the promise is broken, escalation is due (age 16).
    snapshot = snap(inv(age=16), sent=(sent(-13, "first_overdue"),), promises=(promised(-4),))
    assert_send(run(snapshot), "escalation", "firm")


def test_broken_promise_with_nothing_due_waits() -> None:
    snapshot = snap(inv(age=10), sent=(sent(-7, "first_overdue"),), promises=(promised(-4),))
    assert_wait(run(snapshot), next_review=day(5))


def test_latest_active_promise_sets_the_review() -> None:
    snapshot = snap(
        inv(age=16),
        promises=(promised(-10), promised(2), promised(0)),
    )
    assert_hold(run(snapshot), next_review=day(6))


# ------------------------------------------------------------------------------------------- holds


def test_open_dispute_holds() -> None:
    snapshot = snap(inv(age=16), disputes=(Dispute(opened_on=day(-2), invoices=("INV-1",)),))
    decision = run(snapshot)
    assert_hold(decision)
    assert decision.next_review is None


def test_dispute_on_one_invoice_holds_whole_account() -> None:
    snapshot = snap(
        inv("A", age=16), inv("B", age=4), disputes=(Dispute(opened_on=day(-2), invoices=("A",)),)
    )
    assert_hold(run(snapshot))


def test_human_flag_holds() -> None:
    assert_hold(run(snap(inv(age=16), flags=frozenset({"human_flagged"}))))


def test_opted_out_holds_and_never_sends() -> None:
    snapshot = snap(inv(age=50), flags=frozenset({"opted_out"}), sent=(sent(-20, "escalation"),))
    decision = run(snapshot)
    assert_hold(decision)
    assert decision.action != "send"


def test_open_escalation_holds() -> None:
    snapshot = snap(inv(age=16), escalations=(Escalation(opened_on=day(-1), reason="bounce"),))
    assert_hold(run(snapshot))


def test_resolved_escalation_does_not_hold() -> None:
    snapshot = snap(
        inv(age=16),
        escalations=(Escalation(opened_on=day(-5), reason="bounce", resolved_on=day(-1)),),
    )
    assert_send(run(snapshot), "escalation")


def test_credit_hold_flag_alone_does_not_hold_the_chase() -> None:
    assert_send(run(snap(inv(age=4), flags=frozenset({"credit_hold"}))), "first_overdue")


def paid_claim(made: int) -> Hold:
    return Hold(kind="paid_claim", made_on=day(made), until=day(made + 5))


def test_paid_claim_holds_for_five_days() -> None:
    decision = run(snap(inv(age=16), holds=(paid_claim(-4),)))
    assert_hold(decision, next_review=day(1))


def test_paid_claim_escalates_when_no_payment_arrived() -> None:
    decision = run(snap(inv(age=16), holds=(paid_claim(-5),)))
    assert decision.action == "escalate", decision.reason
    assert decision.invoices == ("INV-1",)


def test_paid_claim_does_not_escalate_when_payment_arrived_after_claim() -> None:
    snapshot = snap(
        inv(age=16),
        holds=(paid_claim(-5),),
        payments=(Payment(on=day(-3), invoice="INV-1", amount=Decimal("40.00")),),
    )
    decision = run(snapshot)
    assert decision.action != "escalate"
    assert_send(decision, "escalation")


def test_paid_claim_payment_before_claim_does_not_count() -> None:
    snapshot = snap(
        inv(age=16),
        holds=(paid_claim(-5),),
        payments=(Payment(on=day(-6), invoice="INV-1", amount=Decimal("40.00")),),
    )
    assert run(snapshot).action == "escalate"


def test_paid_claim_not_escalated_twice() -> None:
    snapshot = snap(
        inv(age=16),
        holds=(paid_claim(-8),),
        escalations=(Escalation(opened_on=day(-3), reason="paid claim", resolved_on=day(-1)),),
    )
    assert_send(run(snapshot), "escalation")


def test_absence_holds_until_return_date() -> None:
    hold = Hold(kind="absence", made_on=day(-1), until=day(2))
    assert_hold(run(snap(inv(age=16), holds=(hold,))), next_review=day(2))


def test_absence_chase_resumes_on_return_date() -> None:
    hold = Hold(kind="absence", made_on=day(-7), until=day(0))
    assert_send(run(snap(inv(age=16), holds=(hold,))), "escalation")


# -------------------------------------------------------------------------------------------- tone


PROMPT = (paid("H1", -2), paid("H2", 0), paid("H3", 5))
USUAL = (paid("H1", -2), paid("H2", 6), paid("H3", 5))
LATE = (paid("H1", 16), paid("H2", 30), paid("H3", 2))
NOT_MOSTLY_LATE = (paid("H1", 16), paid("H2", 30), paid("H3", 2), paid("H4", 3))
FIFTEEN = (paid("H1", 15), paid("H2", 15), paid("H3", 15))

TONE_CASES = [
    # (age, sent before, stage)
    (0, (), "reminder"),
    (5, (), "first_overdue"),
    (20, (), "escalation"),
    (50, ((-20, "escalation"),), "final_notice"),
]


@pytest.mark.parametrize(
    ("history", "tones"),
    [
        ((), ("friendly", "neutral", "firm", "final")),
        (USUAL, ("friendly", "neutral", "firm", "final")),
        (FIFTEEN, ("friendly", "neutral", "firm", "final")),
        (NOT_MOSTLY_LATE, ("friendly", "neutral", "firm", "final")),
        (PROMPT, ("friendly", "friendly", "neutral", "firm")),
        (LATE, ("neutral", "firm", "firm", "final")),
    ],
    ids=["no-history", "paid-6-days-late", "15-days-late", "half-late", "prompt", "late"],
)
def test_tone_by_stage_and_payment_history(
    history: tuple[PaidInvoice, ...], tones: tuple[str, ...]
) -> None:
    for (age, before, stage), tone in zip(TONE_CASES, tones, strict=True):
        snapshot = snap(inv(age=age), history=history, sent=tuple(sent(o, s) for o, s in before))
        assert_send(run(snapshot), stage, tone)


def test_single_earlier_invoice_paid_within_five_days_is_prompt() -> None:
    snapshot = snap(inv(age=5), history=(paid("H1", 5),))
    assert_send(run(snapshot), "first_overdue", "friendly")


def test_single_earlier_invoice_paid_six_days_late_is_base_tone() -> None:
    snapshot = snap(inv(age=5), history=(paid("H1", 6),))
    assert_send(run(snapshot), "first_overdue", "neutral")


# ---------------------------------------------------------------------------------- sending window


def due_now(tz: str = "UTC") -> AccountSnapshot:
    return snap(inv(age=4), timezone=tz)


def assert_deferred(decision: Decision, until: datetime, stage: str = "first_overdue") -> None:
    assert decision.action == "wait", decision.reason
    assert decision.deferred is True
    assert decision.stage == stage
    assert decision.tone == "neutral"
    assert decision.invoices == ("INV-1",)
    assert decision.next_review == until
    assert decision.next_review is not None and decision.next_review.tzinfo is not None


def test_before_window_defers_to_eight_same_day() -> None:
    decision = decide(due_now(), local(TODAY, 7, 59), DEFAULT)
    assert_deferred(decision, local(TODAY, 8, 0))


def test_window_opens_at_eight() -> None:
    assert_send(decide(due_now(), local(TODAY, 8, 0), DEFAULT), "first_overdue", "neutral")


def test_window_still_open_at_1759() -> None:
    assert_send(decide(due_now(), local(TODAY, 17, 59), DEFAULT), "first_overdue", "neutral")


def test_window_closed_at_1800_defers_to_next_business_day() -> None:
    decision = decide(due_now(), local(TODAY, 18, 0), DEFAULT)
    assert_deferred(decision, local(day(1), 8, 0))


def test_friday_evening_defers_to_monday() -> None:
    friday = date(2026, 3, 13)
    snapshot = snap(inv(age=4), timezone="UTC")
    decision = decide(snapshot, local(friday, 18, 30), DEFAULT)
    assert decision.deferred
    assert decision.next_review == local(date(2026, 3, 16), 8, 0)


@pytest.mark.parametrize("weekend", [date(2026, 3, 14), date(2026, 3, 15)])
def test_weekend_defers_to_monday_eight(weekend: date) -> None:
    decision = decide(due_now(), local(weekend, 10, 0), DEFAULT)
    assert decision.action == "wait"
    assert decision.deferred is True
    assert decision.next_review == local(date(2026, 3, 16), 8, 0)
    assert decision.stage == "first_overdue"


def test_tokyo_evening_while_utc_is_in_window() -> None:
    now = datetime(2026, 3, 11, 10, 0, tzinfo=ZoneInfo("UTC"))  # 19:00 in Tokyo
    decision = decide(due_now("Asia/Tokyo"), now, DEFAULT)
    assert_deferred(decision, local(date(2026, 3, 12), 8, 0, "Asia/Tokyo"))


def test_tokyo_morning_while_utc_is_night_sends() -> None:
    now = datetime(2026, 3, 11, 0, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Tokyo
    assert_send(decide(due_now("Asia/Tokyo"), now, DEFAULT), "first_overdue", "neutral")


def test_los_angeles_after_dst_change() -> None:
    # 2026-03-11 14:59 UTC is 07:59 PDT (DST began 2026-03-08): deferred to 08:00 PDT.
    snapshot = snap(inv(age=4), timezone="America/Los_Angeles")
    early = datetime(2026, 3, 11, 14, 59, tzinfo=ZoneInfo("UTC"))
    decision = decide(snapshot, early, DEFAULT)
    assert_deferred(decision, datetime(2026, 3, 11, 15, 0, tzinfo=ZoneInfo("UTC")))
    on_time = datetime(2026, 3, 11, 15, 0, tzinfo=ZoneInfo("UTC"))
    assert_send(decide(snapshot, on_time, DEFAULT), "first_overdue")


def test_local_date_decides_the_age() -> None:
    # 2026-03-10 23:30 UTC is 2026-03-11 08:30 in Tokyo: the invoice is 3 days old there.
    snapshot = snap(inv(age=3), timezone="Asia/Tokyo", sent=(sent(-6, "reminder"),))
    now = datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert_send(decide(snapshot, now, DEFAULT), "first_overdue")
    # In UTC the same instant is still 2026-03-10: age 2, reminder already sent.
    utc_snapshot = snap(inv(age=3), timezone="UTC", sent=(sent(-6, "reminder"),))
    assert decide(utc_snapshot, now, DEFAULT).action == "wait"


def test_wait_next_review_is_local_midnight_in_account_zone() -> None:
    snapshot = snap(inv(age=-5), timezone="Asia/Tokyo")
    decision = run(snapshot)
    assert_wait(decision, next_review=day(2), tz="Asia/Tokyo")


def test_deferral_is_after_holds_and_gap() -> None:
    """Outside the window a held account is still a hold, a gap still a plain wait."""
    held = snap(inv(age=4), flags=frozenset({"human_flagged"}))
    assert decide(held, local(TODAY, 20, 0), DEFAULT).action == "hold"
    gapped = snap(inv(age=4), sent=(sent(-1, "reminder"),))
    decision = decide(gapped, local(TODAY, 20, 0), DEFAULT)
    assert decision.action == "wait"
    assert decision.deferred is False
    assert decision.next_review == midnight(day(4))


# ------------------------------------------------------------------------------- configured policy


def test_min_gap_days_seven() -> None:
    policy = PolicyConfig(min_gap_days=7)
    five = snap(inv("A", age=8), inv("B", age=-2), sent=(sent(-5, "first_overdue", "A"),))
    decision = run(five, policy=policy)
    assert decision.action == "wait"
    assert decision.next_review == midnight(day(2))
    seven = snap(inv("A", age=8), inv("B", age=-2), sent=(sent(-7, "first_overdue", "A"),))
    assert_send(run(seven, policy=policy), "reminder", invoices=("B",))


def test_min_gap_zero_allows_next_day() -> None:
    policy = PolicyConfig(min_gap_days=0)
    snapshot = snap(inv(age=3), sent=(sent(-1, "reminder"),))
    assert_send(run(snapshot, policy=policy), "first_overdue")


def test_business_days_including_saturday() -> None:
    policy = PolicyConfig(business_days="mon,tue,wed,thu,fri,sat")
    saturday = date(2026, 3, 14)
    assert_send(decide(due_now(), local(saturday, 10, 0), policy), "first_overdue")
    sunday = decide(due_now(), local(date(2026, 3, 15), 10, 0), policy)
    assert sunday.deferred
    assert sunday.next_review == local(date(2026, 3, 16), 8, 0)
    friday_night = decide(due_now(), local(date(2026, 3, 13), 19, 0), policy)
    assert friday_night.next_review == local(saturday, 8, 0)


def test_custom_send_window() -> None:
    policy = PolicyConfig(send_window_start=time(9, 0), send_window_end=time(17, 0))
    decision = decide(due_now(), local(TODAY, 8, 30), policy)
    assert decision.deferred
    assert decision.next_review == local(TODAY, 9, 0)
    assert_send(decide(due_now(), local(TODAY, 9, 0), policy), "first_overdue")
    late = decide(due_now(), local(TODAY, 17, 0), policy)
    assert late.deferred
    assert late.next_review == local(day(1), 9, 0)


def test_custom_stage_windows() -> None:
    policy = PolicyConfig(
        reminder_from_days=-7,
        first_overdue_from_days=1,
        escalation_from_days=10,
        final_notice_from_days=30,
    )
    assert_send(run(snap(inv(age=-7)), policy=policy), "reminder")
    assert run(snap(inv(age=-8)), policy=policy).next_review == midnight(day(1))
    assert_send(run(snap(inv(age=1)), policy=policy), "first_overdue")
    assert_send(run(snap(inv(age=10)), policy=policy), "escalation")
    history = (sent(-20, "first_overdue"),)
    assert_send(run(snap(inv(age=30), sent=history), policy=policy), "final_notice")
    # Under the default policy the same invoices are in different stages.
    assert_send(run(snap(inv(age=1))), "reminder")
    assert_send(run(snap(inv(age=10))), "first_overdue")


def test_custom_final_and_escalation_days() -> None:
    policy = PolicyConfig(final_notice_prior_days=3, escalate_after_final_days=5)
    three = snap(inv(age=45), sent=(sent(-5, "first_overdue"),))
    assert_send(run(three, policy=policy), "final_notice")
    assert run(three).stage == "escalation"
    after = snap(inv(age=60), sent=(*FINAL_HISTORY, sent(-5, "final_notice")))
    assert run(after, policy=policy).action == "escalate"
    assert run(after).action == "wait"


def test_custom_promise_grace() -> None:
    policy = PolicyConfig(promise_grace_days=0)
    snapshot = snap(inv(age=16), promises=(promised(-1),))
    assert_send(run(snapshot, policy=policy), "escalation")
    assert_hold(run(snapshot), next_review=day(3))


def test_custom_payer_thresholds() -> None:
    policy = PolicyConfig(good_payer_within_days=0, late_payer_after_days=4)
    history = (paid("H1", 5), paid("H2", 6))
    assert_send(run(snap(inv(age=5), history=history), policy=policy), "first_overdue", "firm")
    assert_send(run(snap(inv(age=5), history=history)), "first_overdue", "neutral")


# -------------------------------------------------------------------------------------- edge cases


def test_no_open_invoices_waits() -> None:
    snapshot = AccountSnapshot(account_id="C-1", name="Acme Ltd", emails=EMAIL)
    decision = run(snapshot)
    assert_wait(decision, next_review=None)


def test_only_paid_off_invoices_waits() -> None:
    decision = run(snap(inv(age=30, balance="0.00")))
    assert decision.action == "wait"
    assert decision.next_review is None


def test_no_email_address_escalates_when_a_message_is_due() -> None:
    decision = run(snap(inv(age=5), emails=()))
    assert decision.action == "escalate", decision.reason
    assert decision.stage == "first_overdue"
    assert decision.invoices == ("INV-1",)


def test_no_email_address_with_nothing_due_waits() -> None:
    decision = run(snap(inv(age=-10), emails=()))
    assert_wait(decision, next_review=day(7))


def test_hold_beats_missing_email() -> None:
    decision = run(snap(inv(age=5), emails=(), flags=frozenset({"opted_out"})))
    assert decision.action == "hold"


def test_wait_review_is_earliest_of_several_invoices() -> None:
    snapshot = snap(
        inv("A", age=10),
        inv("B", age=-6),
        sent=(sent(-7, "first_overdue", "A"), sent(-20, "reminder", "C")),
    )
    # A enters escalation in 5 days, B enters reminder in 3 days.
    assert_wait(run(snapshot), next_review=day(3))


def test_decide_accepts_any_aware_instant() -> None:
    snapshot = snap(inv(age=4), timezone="Europe/Berlin")
    now = datetime(2026, 3, 11, 9, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Berlin
    assert_send(decide(snapshot, now, DEFAULT), "first_overdue")


# ---------------------------------------------------------------------------------------- property


ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo")


def random_snapshot(rng: random.Random, today: date) -> AccountSnapshot:
    """A random account on ``today``: its chase history comes from running the policy
    on the days before (the agent sometimes down), then random replies, holds, payments
    and flags are laid on top."""

    def ago(lo: int, hi: int) -> date:
        return today - timedelta(days=rng.randint(lo, hi))

    invoices = []
    for index in range(rng.randint(1, 4)):
        due = today + timedelta(days=rng.randint(-75, 12))
        invoices.append(
            OpenInvoice(
                number=f"R-{index}",
                amount=Decimal("120.00"),
                currency="EUR",
                issue_date=due - timedelta(days=30),
                due_date=due,
                balance=Decimal("0" if rng.random() < 0.1 else "120.00"),
            )
        )
    account = AccountSnapshot(
        account_id="C-R",
        name="Random Co",
        timezone=rng.choice(ZONES),
        emails=EMAIL if rng.random() < 0.9 else (),
        open_invoices=tuple(invoices),
        history=tuple(paid(f"H-{i}", rng.randint(-5, 40)) for i in range(rng.randint(0, 4))),
    )
    tz = ZoneInfo(account.timezone)
    run_day = min(invoice.due_date for invoice in invoices) - timedelta(days=5)
    while run_day < today:
        if run_day.weekday() < 5 and rng.random() < 0.85:
            decision = decide(account, DayClock(run_day).now(tz), DEFAULT)
            if decision.action == "send":
                assert decision.stage is not None
                message = SentMessage(run_day, decision.stage, decision.invoices)
                account = replace(account, sent=(*account.sent, message))
            elif decision.action == "escalate":
                resolved = run_day + timedelta(days=rng.randint(0, 6))
                escalation = Escalation(
                    opened_on=run_day,
                    reason=decision.reason,
                    resolved_on=resolved if resolved < today and rng.random() < 0.8 else None,
                )
                account = replace(account, escalations=(*account.escalations, escalation))
        run_day += timedelta(days=1)

    extra: dict[str, object] = {}
    if rng.random() < 0.15:
        made = ago(1, 20)
        extra["promises"] = (
            Promise(made_on=made, promise_date=made + timedelta(days=rng.randint(0, 15))),
        )
    holds: list[Hold] = []
    if rng.random() < 0.1:
        made = ago(0, 12)
        holds.append(Hold(kind="paid_claim", made_on=made, until=made + timedelta(days=5)))
    if rng.random() < 0.1:
        made = ago(0, 10)
        holds.append(Hold(kind="absence", made_on=made, until=made + timedelta(rng.randint(1, 12))))
    extra["holds"] = tuple(holds)
    if rng.random() < 0.15:
        extra["payments"] = (Payment(on=ago(0, 15), invoice="R-0", amount=Decimal("10.00")),)
    if rng.random() < 0.03:
        extra["disputes"] = (Dispute(opened_on=ago(0, 10), invoices=("R-0",)),)
    if rng.random() < 0.03:
        extra["flags"] = frozenset({rng.choice(("human_flagged", "opted_out", "credit_hold"))})
    return replace(account, **extra)  # type: ignore[arg-type]


def test_next_review_never_skips_a_day_the_account_would_act() -> None:
    """A ``wait`` (or a ``hold``) with a ``next_review`` promises that nothing happens
    before that day: on every business day strictly in between, at 10:00 local, the
    same snapshot neither sends nor escalates. Each random snapshot is looked at from
    every business day of the three weeks after the day it was built around."""
    rng = random.Random(20260311)
    business = DEFAULT.business_weekdays
    checked_waits = 0
    for _ in range(200):
        base = date(2026, 1, 5) + timedelta(days=rng.randint(0, 300))
        snapshot = random_snapshot(rng, base)
        tz = ZoneInfo(snapshot.timezone)
        for start in range(21):
            today = base + timedelta(days=start)
            if today.weekday() not in business:
                continue
            decision = decide(snapshot, DayClock(today).now(tz), DEFAULT)
            if decision.action not in ("wait", "hold") or decision.deferred:
                continue
            if decision.next_review is None:
                continue
            assert decision.next_review.tzinfo is not None
            review_day = decision.next_review.astimezone(tz).date()
            assert review_day > today, (snapshot, decision)
            checked_waits += decision.action == "wait"
            probe = today + timedelta(days=1)
            while probe < review_day:
                if probe.weekday() in business:
                    later = decide(snapshot, DayClock(probe).now(tz), DEFAULT)
                    assert later.action not in ("send", "escalate"), (
                        f"{decision.action} on {today} said review on {review_day}, "
                        f"but on {probe}: {later.action} ({later.reason})\n{snapshot}"
                    )
                probe += timedelta(days=1)
    assert checked_waits >= 300
