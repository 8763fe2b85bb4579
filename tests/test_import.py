"""The CSV imports as a user meets them: what lands in the ledger, what an error says,
and that a failed or repeated import leaves the ledger as it was."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from tools import db
from tools.importer import (
    ImportFailed,
    ImportProblem,
    ImportReport,
    apply_payment,
    import_invoices,
    import_payments,
    parse_mapping,
)
from tools.tables import Account, Contact, Invoice, Payment

DATA = Path(__file__).parent / "data" / "import"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

GERMAN_MAP = [
    "customer_id=Kundennummer",
    "customer_name=Kunde",
    "email=E-Mail",
    "invoice_number=Rechnungsnr.",
    "issue_date=Rechnungsdatum",
    "due_date=Fällig am",
    "amount=Betrag",
    "currency=Währung",
    "balance=Offen",
]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = db.make_engine(f"sqlite:///{tmp_path}/t.db")
    db.migrate(engine)
    return engine


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (Account, Contact, Invoice, Payment)
        }


def invoice(engine: Engine, number: str) -> Invoice:
    with Session(engine) as session:
        return session.exec(select(Invoice).where(Invoice.number == number)).one()


def load_invoices(
    engine: Engine, path: Path = DATA / "invoices.csv", **kwargs: Any
) -> ImportReport:
    with Session(engine) as session:
        report = import_invoices(session, path, now=kwargs.pop("now", NOW), **kwargs)
        session.commit()
    return report


def load_payments(
    engine: Engine, path: Path = DATA / "payments.csv", **kwargs: Any
) -> ImportReport:
    with Session(engine) as session:
        report = import_payments(session, path, now=kwargs.pop("now", NOW), **kwargs)
        session.commit()
    return report


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- invoices


def test_good_file_imports_accounts_contacts_and_invoices(engine: Engine) -> None:
    report = load_invoices(engine)

    assert (report.rows, report.created, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.accounts_created == 3
    assert counts(engine) == {"Account": 3, "Contact": 4, "Invoice": 4, "Payment": 0}
    with Session(engine) as session:
        acme = session.get(Account, "C001")
        assert acme is not None
        assert (acme.name, acme.timezone, acme.language) == ("Acme GmbH", "Europe/Berlin", "de")
        assert acme.next_review_at is not None
        cobalt = session.get(Account, "C003")
        assert cobalt is not None and (cobalt.timezone, cobalt.language) == ("UTC", "en")
        bolt = session.exec(select(Contact).where(Contact.account_id == "C002")).all()
        assert sorted((c.email, c.name, c.role) for c in bolt) == [
            ("finance@bolt.example", None, "billing"),
            ("jane@bolt.example", "Jane Doe", "billing"),
        ]

    inv = invoice(engine, "INV-1002")
    assert isinstance(inv.amount, Decimal) and isinstance(inv.balance, Decimal)
    assert (inv.amount, inv.balance) == (Decimal("300.50"), Decimal("150.25"))
    assert (inv.currency, inv.issue_date, inv.due_date, inv.status) == (
        "EUR",
        date(2026, 1, 20),
        date(2026, 2, 19),
        "open",
    )
    assert invoice(engine, "INV-1001").currency == "EUR"  # "eur" in the file
    assert invoice(engine, "INV-3001").status == "paid"  # balance 0


def test_bad_rows_are_all_named_and_nothing_is_written(engine: Engine) -> None:
    load_invoices(engine, DATA / "invoices_bom.csv")
    before = counts(engine)

    with pytest.raises(ImportFailed) as failed:
        load_invoices(engine, DATA / "invoices_bad.csv")

    text = str(failed.value)
    for line in [
        "invoices_bad.csv, row 3, column due_date: '2026-13-01' is not a date (YYYY-MM-DD)",
        "invoices_bad.csv, row 4, column amount: 'abc' is not an amount",
        "invoices_bad.csv, row 5, column email: 'not-an-email' is not an email address",
        "invoices_bad.csv, row 5, column currency: 'XYZ' is not an ISO 4217 currency code",
        "invoices_bad.csv, row 5, column balance: '600' is more than the invoice amount",
        "invoices_bad.csv, row 6, column amount: '-5' is negative",
        "invoices_bad.csv, row 6, column balance: 'NaN' is not an amount",
        "invoices_bad.csv, row 6, column due_date: '2026-02-01' is before the issue date",
        "invoices_bad.csv, row 7, column invoice_number: 'INV-1001' appears twice in the file "
        "(rows 2 and 7)",
        "invoices_bad.csv, row 7, column customer_name: customer 'C001' has 'Acme Corp' here "
        "but 'Acme GmbH' on row 2",
    ]:
        assert line in text
    assert "nothing was imported" in text.splitlines()[0]
    assert {p.row for p in failed.value.problems} == {3, 4, 5, 6, 7}
    assert counts(engine) == before


def test_missing_column_names_the_header_row(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "no_due.csv",
        "customer_id,customer_name,email,invoice_number,issue_date,amount,currency,balance\n"
        "C1,One,a@one.example,I-1,2026-01-01,10,EUR,10\n",
    )
    with pytest.raises(ImportFailed) as failed:
        load_invoices(engine, path)
    assert failed.value.problems == [
        ImportProblem(
            "no_due.csv",
            1,
            "due_date",
            "required column is missing from the header "
            "(if it has another name: --map due_date=<column>)",
        )
    ]
    assert counts(engine)["Invoice"] == 0


def test_unreadable_files_are_named(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes("customer_name\nM\xfcller\n".encode("latin-1"))
    for name in ("missing.csv", "latin1.csv"):
        with pytest.raises(ImportFailed) as failed:
            load_invoices(engine, tmp_path / name)
        assert str(failed.value.problems[0]).startswith(f"{name}: ")


def test_reimporting_the_same_file_changes_nothing(engine: Engine) -> None:
    load_invoices(engine)
    before = counts(engine)
    with Session(engine) as session:
        review_before = session.get(Account, "C001").next_review_at  # type: ignore[union-attr]

    report = load_invoices(engine, now=LATER)

    assert (report.created, report.updated, report.unchanged, report.accounts_created) == (
        0,
        0,
        4,
        0,
    )
    assert counts(engine) == before
    with Session(engine) as session:
        assert session.get(Account, "C001").next_review_at == review_before  # type: ignore[union-attr]


def test_a_changed_row_updates_the_invoice(engine: Engine, tmp_path: Path) -> None:
    load_invoices(engine)
    changed = (DATA / "invoices.csv").read_text().replace("300.50,EUR,150.25", "300.50,EUR,50.00")
    report = load_invoices(engine, write(tmp_path / "invoices.csv", changed), now=LATER)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    assert invoice(engine, "INV-1002").balance == Decimal("50.00")
    with Session(engine) as session:
        acme = session.get(Account, "C001")
        bolt = session.get(Account, "C002")
        assert acme is not None and bolt is not None
        assert acme.next_review_at is not None and bolt.next_review_at is not None
        assert acme.next_review_at > bolt.next_review_at  # only the touched account


def test_invoice_under_another_customer_is_refused(engine: Engine, tmp_path: Path) -> None:
    load_invoices(engine)
    path = write(
        tmp_path / "moved.csv",
        "customer_id,customer_name,email,invoice_number,issue_date,due_date,amount,currency,balance\n"
        "C999,Other,x@other.example,INV-1001,2026-01-05,2026-02-04,1200.00,EUR,1200.00\n",
    )
    with pytest.raises(ImportFailed) as failed:
        load_invoices(engine, path)
    assert (
        "moved.csv, row 2, column customer_id: invoice 'INV-1001' belongs to customer 'C001'"
        in (str(failed.value))
    )
    assert invoice(engine, "INV-1001").account_id == "C001"


def test_mapping_dates_and_semicolons(engine: Engine) -> None:
    report = load_invoices(
        engine,
        DATA / "invoices_mapped.csv",
        mapping=parse_mapping(GERMAN_MAP),
        date_format="%d.%m.%Y",
        default_timezone="Europe/Berlin",
        default_language="de",
    )
    assert report.created == 1
    inv = invoice(engine, "RE-2026-001")
    assert (inv.account_id, inv.due_date, inv.amount) == ("K-7", date(2026, 2, 14), Decimal(2500))
    with Session(engine) as session:
        account = session.get(Account, "K-7")
        assert account is not None
        assert (account.name, account.timezone, account.language) == (
            "Müller & Söhne KG",
            "Europe/Berlin",
            "de",
        )

    payments = parse_mapping(
        [
            "invoice_number=Rechnungsnr.",
            "amount=Betrag",
            "paid_date=Zahlungsdatum",
            "reference=Verwendungszweck",
        ],
        kind="payments",
    )
    report = load_payments(
        engine, DATA / "payments_mapped.csv", mapping=payments, date_format="%d.%m.%Y"
    )
    assert (report.applied, report.invoices_closed) == (1, 1)
    inv = invoice(engine, "RE-2026-001")
    assert (inv.status, inv.paid_date, inv.balance) == ("paid", date(2026, 2, 20), Decimal(0))


def test_mapping_to_a_column_the_file_lacks(engine: Engine) -> None:
    mapping = parse_mapping(GERMAN_MAP[:-1] + ["balance=Open Amount"])
    with pytest.raises(ImportFailed) as failed:
        load_invoices(engine, DATA / "invoices_mapped.csv", mapping=mapping)
    assert [str(p) for p in failed.value.problems] == [
        "invoices_mapped.csv, row 1, column Open Amount: not in the header (mapped to balance)"
    ]


def test_parse_mapping_rejects_unknown_names() -> None:
    assert parse_mapping([" Due_Date = Fällig am "]) == {"due_date": "Fällig am"}
    with pytest.raises(ValueError, match="unknown column 'due'"):
        parse_mapping(["due=Fällig am"])
    with pytest.raises(ValueError, match="expected canonical=Source Column"):
        parse_mapping(["due_date"])
    with pytest.raises(ValueError, match="unknown column 'customer_id'"):
        parse_mapping(["customer_id=Kunde"], kind="payments")


def test_bom_and_semicolon_separated_emails(engine: Engine) -> None:
    assert (DATA / "invoices_bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    report = load_invoices(engine, DATA / "invoices_bom.csv")
    assert report.created == 1
    with Session(engine) as session:
        emails = session.exec(select(Contact.email).where(Contact.account_id == "C010")).all()
    assert sorted(emails) == ["a@echo.example", "b@echo.example", "c@echo.example"]
    assert invoice(engine, "INV-10").amount == Decimal("10.10")


# --------------------------------------------------------------------------- payments


def test_payments_lower_balances_and_close_at_zero(engine: Engine) -> None:
    load_invoices(engine)
    report = load_payments(engine)

    # INV-1001 200.00 TX-1 is listed twice: applied once
    assert (report.rows, report.applied, report.duplicates, report.invoices_closed) == (3, 2, 1, 1)
    partly = invoice(engine, "INV-1001")
    assert (partly.balance, partly.status, partly.paid_date) == (Decimal("1000.00"), "open", None)
    closed = invoice(engine, "INV-1002")
    assert (closed.balance, closed.status, closed.paid_date) == (
        Decimal(0),
        "paid",
        date(2026, 2, 10),
    )
    assert counts(engine)["Payment"] == 2


def test_reimporting_payments_applies_nothing_twice(engine: Engine) -> None:
    load_invoices(engine)
    load_payments(engine)
    before = counts(engine)

    report = load_payments(engine, now=LATER)

    assert (report.applied, report.duplicates, report.invoices_closed) == (0, 3, 0)
    assert counts(engine) == before
    assert invoice(engine, "INV-1001").balance == Decimal("1000.00")
    # and the invoice export again does not undo them
    assert load_invoices(engine, now=LATER).unchanged == 4
    assert invoice(engine, "INV-1001").balance == Decimal("1000.00")


def test_unknown_invoice_in_payments_is_an_error(engine: Engine) -> None:
    load_invoices(engine)
    with pytest.raises(ImportFailed) as failed:
        load_payments(engine, DATA / "payments_unknown.csv")
    assert [str(p) for p in failed.value.problems] == [
        "payments_unknown.csv, row 3, column invoice_number: 'INV-9999' is not an invoice "
        "in the ledger",
        "payments_unknown.csv, row 4, column paid_date: '02/01/2026' is not a date (YYYY-MM-DD)",
    ]
    assert counts(engine)["Payment"] == 0
    assert invoice(engine, "INV-1001").balance == Decimal("1200.00")  # row 2 was fine


def test_apply_payment_overpayment_and_repeat(engine: Engine) -> None:
    load_invoices(engine)
    with Session(engine) as session:
        inv = session.exec(select(Invoice).where(Invoice.number == "INV-2001")).one()
        assert apply_payment(session, inv, Decimal("120.00"), date(2026, 2, 1), None, NOW)
        assert not apply_payment(session, inv, Decimal("120.00"), date(2026, 2, 1), "", NOW)
        assert (inv.balance, inv.status, inv.paid_date) == (Decimal(0), "paid", date(2026, 2, 1))
        with pytest.raises(ValueError):
            apply_payment(session, inv, Decimal("-1"), date(2026, 2, 1), None, NOW)
        session.commit()
    with Session(engine) as session:
        payment = session.exec(select(Payment)).one()
        assert payment.amount == Decimal("120.00")  # the full amount is on record


def test_many_problems_are_capped_in_the_message(engine: Engine, tmp_path: Path) -> None:
    header = "invoice_number,amount,paid_date\n"
    rows = "".join(f"X-{i},abc,2026-01-01\n" for i in range(60))
    with pytest.raises(ImportFailed) as failed:
        load_payments(engine, write(tmp_path / "p.csv", header + rows))
    assert len(failed.value.problems) == 120
    lines = str(failed.value).splitlines()
    assert len(lines) == 52 and lines[-1] == "  and 70 more"


def test_blank_lines_keep_spreadsheet_row_numbers(engine: Engine, tmp_path: Path) -> None:
    text = (DATA / "invoices_bad.csv").read_text().replace("\n", "\n\n", 1)
    write(tmp_path / "copy.csv", text)
    with pytest.raises(ImportFailed) as failed:
        load_invoices(engine, tmp_path / "copy.csv")
    assert min(p.row for p in failed.value.problems) == 4
