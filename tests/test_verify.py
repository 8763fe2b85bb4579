"""The verify step catches a draft whose numbers do not match the ledger."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest

from agent.snapshot import AccountSnapshot, Decision, OpenInvoice, PaidInvoice
from agent.verify import verify_draft
from tools.drafting import Draft, draft_message

TODAY = date(2026, 3, 10)


def invoice(number: str, balance: str, due: date, currency: str = "USD") -> OpenInvoice:
    return OpenInvoice(
        number=number,
        amount=Decimal(balance),
        currency=currency,
        issue_date=due - timedelta(days=30),
        due_date=due,
        balance=Decimal(balance),
        payment_link=f"https://pay.example.com/invoice/{number}",
    )


INV_1042 = invoice("INV-1042", "1250.00", date(2026, 3, 5))
INV_1043 = invoice("INV-1043", "980.50", date(2026, 3, 1))
INV_10 = invoice("INV-10", "75.00", date(2026, 2, 20))
PAID = PaidInvoice("INV-0999", Decimal("400.00"), date(2025, 12, 1), date(2025, 12, 3))


def account(*invoices: OpenInvoice, language: str = "en") -> AccountSnapshot:
    return AccountSnapshot(
        account_id="ACME",
        name="Acme Corp",
        language=language,
        emails=("ap@acme.example",),
        open_invoices=invoices,
        history=(PAID,),
    )


SNAP = account(INV_1042, INV_1043, INV_10)
ONE = Decision("send", "test", "first_overdue", "neutral", ("INV-1042",))
TWO = Decision("send", "test", "escalation", "firm", ("INV-1042", "INV-1043"))


def written(dec: Decision = ONE, snap: AccountSnapshot = SNAP) -> Draft:
    return draft_message(snap, dec, TODAY, "Studio 54.5 Ltd")


def tampered(draft: Draft, old: str, new: str, *, subject: bool = False) -> Draft:
    text = draft.subject if subject else draft.body
    assert old in text, f"{old!r} is not in the draft"
    if subject:
        return dataclasses.replace(draft, subject=text.replace(old, new))
    return dataclasses.replace(draft, body=text.replace(old, new))


def test_a_drafted_message_verifies_clean() -> None:
    assert verify_draft(written(), SNAP, ONE) == []
    assert verify_draft(written(TWO), SNAP, TWO, today=TODAY) == []


def test_a_changed_amount_is_caught_with_the_ledger_value() -> None:
    problems = verify_draft(tampered(written(), "$1,250.00", "$1,300.00"), SNAP, ONE)

    assert "INV-1042: amount 1,300.00 in the body is not in the ledger (balance 1,250.00 USD)" in (
        problems
    )
    assert any("does not give its open balance $1,250.00" in p for p in problems)


def test_an_extra_amount_is_caught_even_when_the_balance_is_still_there() -> None:
    draft = tampered(written(), "Kind regards,", "Please pay 1,300 USD today.\n\nKind regards,")
    problems = verify_draft(draft, SNAP, ONE)

    assert problems == [
        "INV-1042: amount 1,300 in the body is not in the ledger (balance 1,250.00 USD)"
    ]


def test_a_changed_german_amount_is_caught() -> None:
    snap = account(invoice("INV-1042", "1250.00", date(2026, 3, 5), "EUR"), language="de")
    draft = written(snap=snap)
    assert "1.250,00 €" in draft.body

    problems = verify_draft(tampered(draft, "1.250,00 €", "1.520,00 €"), snap, ONE)

    assert "INV-1042: amount 1.520,00 in the body is not in the ledger (balance 1.250,00 EUR)" in (
        problems
    )


def test_a_changed_currency_is_caught() -> None:
    problems = verify_draft(tampered(written(), "$1,250.00", "€1,250.00"), SNAP, ONE)

    assert any("currency" in p for p in problems)


def test_a_changed_total_is_caught() -> None:
    problems = verify_draft(tampered(written(TWO), "$2,230.50", "$2,320.50"), SNAP, TWO)

    assert "the body does not give the total open balance $2,230.50" in problems
    assert any("amount 2,320.50" in p for p in problems)


def test_a_missing_link_is_caught() -> None:
    draft = tampered(written(), "  Pay online: https://pay.example.com/invoice/INV-1042\n", "")

    assert verify_draft(draft, SNAP, ONE) == ["INV-1042: the body does not give its payment link"]


def test_a_foreign_link_is_caught() -> None:
    draft = tampered(
        written(), "https://pay.example.com/invoice/INV-1042", "https://pay.example.net/INV-1042"
    )
    problems = verify_draft(draft, SNAP, ONE)

    assert "INV-1042: the body does not give its payment link" in problems
    assert any("https://pay.example.net/INV-1042" in p for p in problems)


def test_a_wrong_due_date_is_caught() -> None:
    problems = verify_draft(tampered(written(), "March 5, 2026", "March 15, 2026"), SNAP, ONE)

    assert "INV-1042: the body does not give its due date March 5, 2026" in problems
    assert any(p.startswith("date March 15, 2026 in the body") for p in problems)


def test_an_iso_date_that_is_no_invoice_date_is_caught() -> None:
    draft = tampered(written(), "Kind regards,", "We last wrote on 2026-03-01.\n\nKind regards,")

    assert any("2026-03-01" in p for p in verify_draft(draft, SNAP, ONE))


def test_the_issue_date_may_be_mentioned() -> None:
    draft = tampered(
        written(), "Kind regards,", "It was issued on February 3, 2026.\n\nKind regards,"
    )

    assert verify_draft(draft, SNAP, ONE) == []


def test_an_invoice_of_the_account_that_is_not_named_is_caught() -> None:
    for other in ("INV-1043", "INV-0999"):
        draft = tampered(written(), "Kind regards,", f"See also {other}.\n\nKind regards,")
        problems = verify_draft(draft, SNAP, ONE)

        assert problems == [
            f"{other} is an invoice of this account that the decision does not name, "
            "but the body mentions it"
        ]


def test_an_invoice_number_inside_a_longer_one_is_not_a_mention() -> None:
    # INV-10 is an open invoice of the account; INV-1042 contains its number.
    assert verify_draft(written(), SNAP, ONE) == []


def test_a_missing_invoice_is_caught() -> None:
    draft = written(TWO)
    block = draft.body[draft.body.index("Invoice INV-1043") :]
    block = block[: block.index("\n\n") + 2]
    problems = verify_draft(tampered(draft, block, ""), SNAP, TWO)

    assert "INV-1043: the body does not name it" in problems


def test_an_invoice_missing_from_the_subject_is_caught() -> None:
    draft = tampered(written(TWO), ", INV-1043", "", subject=True)

    assert verify_draft(draft, SNAP, TWO) == ["INV-1043: the subject does not name it"]


def test_a_subject_may_elide_invoices_after_three() -> None:
    invoices = [invoice(f"A-{n}", "100.00", date(2026, 2, n)) for n in range(1, 6)]
    snap = account(*invoices)
    dec = Decision("send", "test", "escalation", "firm", tuple(inv.number for inv in invoices))
    draft = written(dec, snap)

    assert verify_draft(draft, snap, dec) == []
    wrong = tampered(draft, "+2 more", "+1 more", subject=True)
    assert verify_draft(wrong, snap, dec) == [
        "A-4: the subject does not name it",
        "A-5: the subject does not name it",
    ]


def test_a_wrong_day_count_is_caught() -> None:
    everywhere = tampered(written(), "5 days overdue", "3 days overdue")
    assert verify_draft(everywhere, SNAP, ONE, today=TODAY) == [
        "INV-1042: the body does not say '5 days overdue'",
        "INV-1042: '3 days overdue' in the body is wrong (it is 5 days overdue)",
    ]
    # without today, a count that disagrees with the rest of the draft is still caught
    once = tampered(written(), "(5 days overdue)", "(3 days overdue)")
    assert verify_draft(once, SNAP, ONE) == [
        "the day counts in the body disagree with each other: 5 days overdue; 3 days overdue"
    ]


def test_empty_subject_and_body_are_caught() -> None:
    draft = dataclasses.replace(written(), subject=" ", body="")

    assert verify_draft(draft, SNAP, ONE) == ["the subject is empty", "the body is empty"]


def test_a_draft_about_other_invoices_than_the_decision_is_caught() -> None:
    problems = verify_draft(written(), SNAP, TWO)

    assert problems[0] == ("the draft is about INV-1042 but the decision names INV-1042, INV-1043")
    assert "INV-1043: the body does not name it" in problems


@pytest.mark.parametrize("language", ["en", "de"])
def test_verify_reads_both_number_styles(language: str) -> None:
    snap = account(INV_1042, INV_1043, language=language)
    draft = written(TWO, snap)
    assert verify_draft(draft, snap, TWO) == []
    for extra in ("1,111.00", "1.111,00", "$1,111"):
        bad = tampered(draft, "Studio 54.5 Ltd", f"Open: {extra}\nStudio 54.5 Ltd")
        assert any("1,111" in p or "1.111" in p for p in verify_draft(bad, snap, TWO)), extra


def test_dates_are_read_in_german_and_without_a_year() -> None:
    snap = account(INV_1042, language="de")
    draft = written(snap=snap)
    assert verify_draft(draft, snap, ONE) == []

    moved = tampered(draft, "5. März 2026", "7. März 2026")
    assert "INV-1042: the body does not give its due date 5. März 2026" in (
        verify_draft(moved, snap, ONE)
    )
    extra = tampered(
        draft, "Mit freundlichen", "Wir erwarten die Zahlung am 12. März.\n\nMit freundlichen"
    )
    assert any("12. März" in p for p in verify_draft(extra, snap, ONE))


def test_a_day_count_swapped_between_invoices_is_caught() -> None:
    draft = written(TWO)
    swapped = draft.body.replace("(5 days overdue)", "(X)").replace(
        "(9 days overdue)", "(5 days overdue)"
    )
    swapped = swapped.replace("(X)", "(9 days overdue)")
    problems = verify_draft(dataclasses.replace(draft, body=swapped), SNAP, TWO, today=TODAY)

    assert "INV-1042: '9 days overdue' in the body is wrong (it is 5 days overdue)" in problems


def test_a_draft_in_the_wrong_language_is_caught() -> None:
    snap = account(INV_1042, language="de")
    english = written(snap=account(INV_1042))

    assert "the draft is in 'en' but the account reads 'de'" in verify_draft(english, snap, ONE)
