"""Offline drafting: what the customer reads in the email the templates write."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest

from agent.snapshot import STAGES, TONES, AccountSnapshot, Decision, OpenInvoice, SentMessage
from agent.verify import verify_draft
from prompts import PROMPTS_DIR
from tools.drafting import (
    Draft,
    draft_message,
    format_day,
    format_money,
    resolve_language,
)

TODAY = date(2026, 3, 10)
LINK = "https://pay.example.com/invoice/{}"


def invoice(
    number: str, balance: str, due: date, currency: str = "USD", amount: str | None = None
) -> OpenInvoice:
    return OpenInvoice(
        number=number,
        amount=Decimal(amount or balance),
        currency=currency,
        issue_date=due - timedelta(days=30),
        due_date=due,
        balance=Decimal(balance),
        payment_link=LINK.format(number),
    )


INV_1042 = invoice("INV-1042", "1250.00", date(2026, 3, 5))
INV_1043 = invoice("INV-1043", "980.50", date(2026, 3, 12))


def snapshot(*invoices: OpenInvoice, language: str = "en", **kwargs: object) -> AccountSnapshot:
    return AccountSnapshot(
        account_id="ACME",
        name="Acme Corp",
        language=language,
        emails=("ap@acme.example",),
        open_invoices=invoices or (INV_1042,),
        **kwargs,  # type: ignore[arg-type]
    )


def decision(stage: str, tone: str, *numbers: str) -> Decision:
    return Decision("send", "test", stage, tone, numbers or ("INV-1042",))  # type: ignore[arg-type]


def draft(snap: AccountSnapshot, dec: Decision, today: date = TODAY) -> Draft:
    return draft_message(snap, dec, today, "Vendor Ltd")


def test_english_first_overdue_neutral_names_invoice_amount_due_date_age_and_link() -> None:
    written = draft(snapshot(), decision("first_overdue", "neutral"))

    assert "INV-1042" in written.subject
    assert "INV-1042" in written.body
    assert "$1,250.00" in written.body
    assert "March 5, 2026" in written.body
    assert "5 days overdue" in written.body
    assert "https://pay.example.com/invoice/INV-1042" in written.body
    assert written.body.startswith("Dear Acme Corp,")
    assert written.body.rstrip().endswith("Vendor Ltd")
    assert written.language == "en"
    assert written.template == "v1/en/first_overdue.neutral"
    assert written.invoices == ("INV-1042",)


def test_german_draft_formats_money_and_dates_the_german_way() -> None:
    euro = invoice("INV-1042", "1250.00", date(2026, 3, 5), currency="EUR")
    written = draft(snapshot(euro, language="de-DE"), decision("first_overdue", "neutral"))

    assert written.language == "de"
    assert written.template == "v1/de/first_overdue.neutral"
    assert "1.250,00 €" in written.body
    assert "5. März 2026" in written.body
    assert "seit 5 Tagen überfällig" in written.body
    assert "Rechnung INV-1042" in written.subject
    assert written.body.startswith("Guten Tag Acme Corp,")
    assert "Mit freundlichen Grüßen" in written.body
    assert "$" not in written.body and "March" not in written.body


@pytest.mark.parametrize(
    ("language", "used"),
    [("de", "de"), ("de-DE", "de"), ("de_AT", "de"), ("DE", "de"), ("en-GB", "en"), ("fr", "en")],
)
def test_language_falls_back_to_english_without_a_template_folder(language: str, used: str) -> None:
    assert resolve_language(language) == used
    assert draft(snapshot(language=language), decision("reminder", "friendly")).language == used


@pytest.mark.parametrize(
    ("due", "english", "german"),
    [
        (date(2026, 3, 13), "due in 3 days", "in 3 Tagen fällig"),
        (date(2026, 3, 11), "due in 1 day", "in 1 Tag fällig"),
        (date(2026, 3, 10), "due today", "heute fällig"),
        (date(2026, 3, 9), "1 day overdue", "seit 1 Tag überfällig"),
    ],
)
def test_reminder_says_how_soon_an_invoice_is_due(due: date, english: str, german: str) -> None:
    upcoming = invoice("INV-2001", "300.00", due)
    dec = decision("reminder", "friendly", "INV-2001")

    assert english in draft(snapshot(upcoming), dec).body
    assert german in draft(snapshot(upcoming, language="de"), dec).body


def test_tone_changes_the_wording_for_the_same_stage() -> None:
    friendly = draft(snapshot(), decision("first_overdue", "friendly"))
    firm = draft(snapshot(), decision("first_overdue", "firm"))

    assert friendly.subject != firm.subject
    assert "quick note" in friendly.body
    assert "within the next few days" in firm.body
    assert "within the next few days" not in friendly.body
    assert friendly.body.startswith("Hello Acme Corp,")
    assert firm.body.startswith("Dear Acme Corp,")


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("stage", STAGES)
def test_final_tone_announces_handover_without_threats(stage: str, language: str) -> None:
    body = draft(snapshot(language=language), decision(stage, "final")).body
    handover = "member of our team" if language == "en" else "Ansprechperson in unserem Haus"

    assert handover in body
    forbidden = r"legal|lawyer|court|fee|interest|penalt|collection agenc|credit report"
    forbidden += r"|Inkasso|Gericht|Anwalt|Gebühr|Zinsen|rechtlich|Mahnbescheid"
    assert not re.search(forbidden, body, re.IGNORECASE)


def test_several_invoices_are_named_in_the_subject_with_their_total() -> None:
    written = draft(
        snapshot(INV_1042, INV_1043), decision("first_overdue", "neutral", "INV-1042", "INV-1043")
    )

    assert "INV-1042" in written.subject and "INV-1043" in written.subject
    assert "$1,250.00" in written.body and "$980.50" in written.body
    assert "Total open balance: $2,230.50" in written.body
    assert "due in 2 days" in written.body


def test_no_total_across_currencies() -> None:
    euro = invoice("INV-1043", "980.50", date(2026, 3, 1), currency="EUR")
    written = draft(
        snapshot(INV_1042, euro), decision("escalation", "firm", "INV-1042", "INV-1043")
    )

    assert "€980.50" in written.body
    assert "Total" not in written.body


def test_subject_names_three_invoices_then_how_many_more() -> None:
    invoices = [invoice(f"INV-{n}", "100.00", date(2026, 2, n)) for n in range(1, 6)]
    numbers = tuple(inv.number for inv in invoices)
    for language, more in (("en", "INV-1, INV-2, INV-3 +2 more"), ("de", "+2 weitere")):
        written = draft(
            snapshot(*invoices, language=language), decision("escalation", "firm", *numbers)
        )
        assert more in written.subject
        assert "INV-4" not in written.subject
        assert all(number in written.body for number in numbers)


def test_follow_up_wording_only_after_an_earlier_message() -> None:
    dec = decision("escalation", "friendly")
    fresh = draft(snapshot(), dec)
    earlier = SentMessage(on=date(2026, 3, 1), stage="first_overdue", invoices=("INV-1042",))
    followed = draft(snapshot(sent=(earlier,)), dec)

    assert "earlier message" not in fresh.body
    assert "following up on our earlier message" in followed.body


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("stage", STAGES)
def test_every_template_renders_and_verifies_clean(stage: str, tone: str, language: str) -> None:
    for numbers in (("INV-1042",), ("INV-1042", "INV-1043")):
        snap = snapshot(INV_1042, INV_1043, language=language)
        dec = decision(stage, tone, *numbers)
        written = draft(snap, dec)

        assert written.template == f"v1/{language}/{stage}.{tone}"
        assert written.subject and "\n" not in written.subject
        assert "{{" not in written.body and "{%" not in written.body
        assert "\n\n\n" not in written.body
        assert written.body.rstrip().endswith("Vendor Ltd")
        assert verify_draft(written, snap, dec) == []
        assert verify_draft(written, snap, dec, today=TODAY) == []


def test_every_stage_and_tone_has_a_template_extending_its_base() -> None:
    for language in ("en", "de"):
        folder = PROMPTS_DIR / "v1" / language
        assert (folder / "base.j2").is_file()
        for stage in STAGES:
            for tone in TONES:
                text = (folder / f"{stage}.{tone}.j2").read_text(encoding="utf-8")
                assert f'{{% extends "v1/{language}/base.j2" %}}' in text
                for block in ("subject", "opening", "closing"):
                    assert f"{{% block {block} %}}" in text


def test_formatting_helpers_follow_the_locale() -> None:
    assert format_money(Decimal("1250"), "USD", "en") == "$1,250.00"
    assert format_money(Decimal("1250"), "EUR", "de") == "1.250,00 €"
    assert format_day(date(2026, 3, 5), "en") == "March 5, 2026"
    assert format_day(date(2026, 3, 5), "de") == "5. März 2026"


def test_a_decision_without_stage_or_with_a_closed_invoice_is_refused() -> None:
    with pytest.raises(ValueError, match="stage"):
        draft_message(snapshot(), Decision("wait", "nothing due"), TODAY, "Vendor Ltd")
    with pytest.raises(ValueError, match="INV-9"):
        draft(snapshot(), decision("reminder", "friendly", "INV-9"))


def test_drafting_takes_well_under_a_millisecond() -> None:
    snap = snapshot(INV_1042, INV_1043, language="de")
    dec = decision("escalation", "firm", "INV-1042", "INV-1043")
    for _ in range(50):
        draft(snap, dec)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            draft(snap, dec)
        best = min(best, (time.perf_counter() - start) / 200)
    assert best < 0.001
