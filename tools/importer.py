"""CSV imports of invoices and payments into the ledger: all-or-nothing and idempotent.

This module owns reading the two CSV exports (``dunning import invoices|payments``),
validating every row, and applying them to the ledger tables; ``apply_payment`` is the
one place a payment lowers an invoice's balance (import, seed and demo all use it).

* **All or nothing.** Every row is validated first and *all* problems are collected;
  if there is any, ``ImportFailed`` lists them (file, row, column, what is wrong) and
  nothing is added to the session. Nothing is committed here: the caller commits.
* **Row numbers** are what a spreadsheet shows: the header is row 1, the first data
  row is row 2. Row 0 means the file as a whole (unreadable, empty).
* **Columns** are named as they appear in the file (``--map`` names included).
* **Idempotent.** An invoice row's normalised content is hashed into
  ``Invoice.source_hash``: the same row again changes nothing; a changed row updates
  the invoice (the newer export is the truth, its balance included). A payment's key
  is the hash of (invoice number, amount, paid date, reference): a key already
  recorded, or seen earlier in the same file, is a duplicate and is skipped.
* **Money** is ``Decimal`` parsed from the text, never a float.

Invoice columns: customer_id, customer_name, email, invoice_number, issue_date,
due_date, amount, currency, balance; optional timezone, language, payment_link,
pdf_path. Payment columns: invoice_number, amount, paid_date; optional reference.
Headers match case-insensitively, ignoring surrounding spaces and a UTF-8 BOM. The
delimiter is ``,`` unless the header line has more ``;`` or tabs than commas.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import list_currencies
from sqlmodel import Session, col, select

from agent.clock import to_utc
from tools.tables import Account, Contact, Invoice, Payment

__all__ = [
    "INVOICE_COLUMNS",
    "INVOICE_OPTIONAL",
    "PAYMENT_COLUMNS",
    "PAYMENT_OPTIONAL",
    "ImportFailed",
    "ImportProblem",
    "ImportReport",
    "apply_payment",
    "import_invoices",
    "import_payments",
    "parse_mapping",
    "payment_key",
]

INVOICE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_name",
    "email",
    "invoice_number",
    "issue_date",
    "due_date",
    "amount",
    "currency",
    "balance",
)
INVOICE_OPTIONAL: tuple[str, ...] = ("timezone", "language", "payment_link", "pdf_path")
PAYMENT_COLUMNS: tuple[str, ...] = ("invoice_number", "amount", "paid_date")
PAYMENT_OPTIONAL: tuple[str, ...] = ("reference",)

MAX_SHOWN_PROBLEMS = 50
MAX_ID_LENGTH = 100  # Account.id and Invoice.number
MAX_DECIMALS = 6  # NUMERIC(20, 6) on PostgreSQL
MAX_AMOUNT = Decimal(10) ** 14

_AMOUNT_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_ADDR_CHAR = r"[^\s@<>()\[\],;:\"\\]"
_EMAIL_RE = re.compile(rf"{_ADDR_CHAR}+@{_ADDR_CHAR}+\.{_ADDR_CHAR}+")
_NAMED_ADDR_RE = re.compile(r"(.*?)<([^<>]*)>")
_LANGUAGE_RE = re.compile(r"([A-Za-z]{2,3})([-_][A-Za-z0-9]{1,8})*")
_CHUNK = 500


# --------------------------------------------------------------------------- results


@dataclass
class ImportProblem:
    """One thing wrong with an import file; ``row`` 0 means the file as a whole."""

    file: str
    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


class ImportFailed(Exception):
    """The file was not imported; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems: list[ImportProblem] = list(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        files = sorted({p.file for p in self.problems})
        n = len(self.problems)
        head = f"{', '.join(files)}: {n} problem{'s' if n != 1 else ''}, nothing was imported"
        lines = [head] + [f"  {p}" for p in self.problems[:MAX_SHOWN_PROBLEMS]]
        if n > MAX_SHOWN_PROBLEMS:
            lines.append(f"  and {n - MAX_SHOWN_PROBLEMS} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text()


@dataclass
class ImportReport:
    """What an import did. Invoice imports fill the first block, payment imports the second."""

    file: str
    kind: Literal["invoices", "payments"]
    rows: int = 0
    # invoices
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts_created: int = 0
    contacts_added: int = 0
    # payments
    applied: int = 0
    duplicates: int = 0
    invoices_closed: int = 0

    def __str__(self) -> str:
        if self.kind == "invoices":
            return (
                f"{self.file}: {self.rows} rows: {self.created} invoices created, "
                f"{self.updated} updated, {self.unchanged} unchanged; "
                f"{self.accounts_created} accounts created, {self.contacts_added} contacts added"
            )
        return (
            f"{self.file}: {self.rows} rows: {self.applied} payments applied, "
            f"{self.duplicates} duplicates skipped; {self.invoices_closed} invoices paid in full"
        )


# --------------------------------------------------------------------------- mapping


def parse_mapping(
    items: Iterable[str], *, kind: Literal["invoices", "payments"] | None = None
) -> dict[str, str]:
    """``--map canonical=Source Column`` options -> {canonical: source column}.

    Raises ``ValueError`` on a malformed item, a repeated or an unknown canonical name
    (checked against both files' columns, or only ``kind``'s when given).
    """
    known = _known_columns(kind)
    mapping: dict[str, str] = {}
    for item in items:
        canonical, sep, source = item.partition("=")
        canonical, source = canonical.strip().lower(), source.strip()
        if not sep or not canonical or not source:
            raise ValueError(f"--map {item!r}: expected canonical=Source Column")
        if canonical not in known:
            raise ValueError(
                f"--map {item!r}: unknown column {canonical!r}; known: {', '.join(known)}"
            )
        if canonical in mapping:
            raise ValueError(f"--map {item!r}: {canonical!r} is mapped twice")
        mapping[canonical] = source
    return mapping


def _known_columns(kind: Literal["invoices", "payments"] | None) -> tuple[str, ...]:
    invoices = INVOICE_COLUMNS + INVOICE_OPTIONAL
    payments = PAYMENT_COLUMNS + PAYMENT_OPTIONAL
    if kind == "invoices":
        return invoices
    if kind == "payments":
        return payments
    return invoices + tuple(c for c in payments if c not in invoices)


# --------------------------------------------------------------------------- reading


def _norm_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


@dataclass
class _Table:
    """A CSV file read into canonical columns; problems are collected, not raised."""

    file: str
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> header as in file
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    def problem(self, row: int, canonical: str | None, message: str) -> None:
        column = self.columns.get(canonical, canonical) if canonical else None
        self.problems.append(ImportProblem(self.file, row, column, message))


def _read_table(
    path: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    mapping: dict[str, str] | None,
) -> _Table:
    table = _Table(file=path.name)
    names = {key.strip().lower(): source for key, source in (mapping or {}).items()}
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        table.problem(
            0, None, f"is not UTF-8 text (byte {exc.start}); export or save it as UTF-8 CSV"
        )
        return table
    except OSError as exc:
        table.problem(0, None, f"cannot be read: {exc.strerror or exc}")
        return table

    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count) if first_line.strip() else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        table.problem(0, None, f"is not a readable CSV file: {exc}")
        return table
    if not records or not any(cell.strip() for cell in records[0]):
        table.problem(0, None, "is empty: expected a header row with the column names")
        return table

    header = records[0]
    positions: dict[str, int] = {}
    repeated: set[str] = set()
    for index, name in enumerate(header):
        key = _norm_header(name)
        if key in positions:
            repeated.add(key)
        elif key:
            positions[key] = index

    allowed = required + optional
    used = {_norm_header(source) for source in names.values()}
    used.update(c for c in allowed if c not in names)
    for key in sorted(repeated & used):
        name = header[positions[key]].replace("\ufeff", "").strip()
        table.problems.append(
            ImportProblem(table.file, 1, name, "this column name appears more than once")
        )
    wanted: dict[str, int] = {}
    for canonical, source in names.items():
        if canonical not in allowed:
            table.problem(1, None, f"--map {canonical}=...: not a column of this file type")
            continue
        table.columns[canonical] = source.strip()
        if _norm_header(source) in positions:
            wanted[canonical] = positions[_norm_header(source)]
        else:
            table.problem(1, canonical, f"not in the header (mapped to {canonical})")
    for canonical in allowed:
        if canonical in table.columns:
            continue
        if canonical in positions:
            wanted[canonical] = positions[canonical]
            table.columns[canonical] = header[positions[canonical]].replace("\ufeff", "").strip()
        elif canonical in required:
            table.columns[canonical] = canonical
            table.problem(
                1,
                canonical,
                f"required column is missing from the header "
                f"(if it has another name: --map {canonical}=<column>)",
            )
    if table.problems:
        return table

    width = len(header)
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank line, or a spreadsheet's row of empty cells
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            table.problem(
                number, None, f"has {len(record)} fields but the header has {width} columns"
            )
            continue
        values = {
            canonical: record[index].strip() if index < len(record) else ""
            for canonical, index in wanted.items()
        }
        table.rows.append((number, values))
    return table


# --------------------------------------------------------------------------- values


def _amount_text(value: Decimal) -> str:
    """The canonical text of an amount: 100, 100.00 and 100.0 are all ``100``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def _parse_amount(table: _Table, row: int, canonical: str, raw: str) -> Decimal | None:
    if not raw:
        table.problem(row, canonical, "is empty")
        return None
    if not _AMOUNT_RE.fullmatch(raw):
        table.problem(
            row, canonical, f"{raw!r} is not an amount (digits with '.' as the decimal point)"
        )
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        table.problem(row, canonical, f"{raw!r} is not an amount")
        return None
    if value < 0:
        table.problem(row, canonical, f"{raw!r} is negative")
        return None
    if value >= MAX_AMOUNT:
        table.problem(row, canonical, f"{raw!r} is too large")
        return None
    if value != value.quantize(Decimal(1).scaleb(-MAX_DECIMALS)):
        table.problem(row, canonical, f"{raw!r} has more than {MAX_DECIMALS} decimal places")
        return None
    return value


def _parse_date(
    table: _Table, row: int, canonical: str, raw: str, date_format: str | None
) -> date | None:
    if not raw:
        table.problem(row, canonical, "is empty")
        return None
    try:
        if date_format:
            return datetime.strptime(raw, date_format).date()
        return date.fromisoformat(raw)
    except ValueError:
        hint = f"format {date_format}" if date_format else "YYYY-MM-DD"
        table.problem(row, canonical, f"{raw!r} is not a date ({hint})")
        return None


def _parse_text(table: _Table, row: int, canonical: str, raw: str, limit: int) -> str | None:
    if not raw:
        table.problem(row, canonical, "is empty")
        return None
    if len(raw) > limit:
        table.problem(row, canonical, f"is longer than {limit} characters")
        return None
    return raw


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def _parse_currency(table: _Table, row: int, raw: str) -> str | None:
    code = raw.upper()
    if not raw:
        table.problem(row, "currency", "is empty")
    elif len(code) != 3 or not code.isalpha() or code not in _currencies():
        table.problem(row, "currency", f"{raw!r} is not an ISO 4217 currency code (e.g. EUR)")
    else:
        return code
    return None


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _parse_timezone(table: _Table, row: int, raw: str) -> str | None:
    if raw and not _valid_zone(raw):
        table.problem(row, "timezone", f"{raw!r} is not a time zone (e.g. Europe/Berlin)")
    return raw or None


def _parse_language(table: _Table, row: int, raw: str) -> str | None:
    if not raw:
        return None
    match = _LANGUAGE_RE.fullmatch(raw)
    if not match:
        table.problem(row, "language", f"{raw!r} is not a language code (e.g. en, de)")
        return None
    return match.group(1).lower()


def _parse_emails(table: _Table, row: int, raw: str) -> list[tuple[str, str | None]]:
    """``a@x.com; Jane Doe <b@y.com>`` -> [(address, name or None), ...], no repeats."""
    found: dict[str, tuple[str, str | None]] = {}
    for part in re.split(r"[;,]", raw):
        part = part.strip()
        if not part:
            continue
        name: str | None = None
        named = _NAMED_ADDR_RE.fullmatch(part)
        if named:
            name = named.group(1).strip().strip('"').strip() or None
            address = named.group(2).strip()
        else:
            address = part
        if not _EMAIL_RE.fullmatch(address) or ".." in address or len(address) > 254:
            table.problem(row, "email", f"{part!r} is not an email address")
            continue
        found.setdefault(address.lower(), (address, name))
    return list(found.values())


def _parse_link(table: _Table, row: int, raw: str) -> str | None:
    if raw and not re.fullmatch(r"https?://\S+", raw):
        table.problem(row, "payment_link", f"{raw!r} is not an http(s) link")
    return raw or None


def _digest(parts: Iterable[object]) -> str:
    return hashlib.sha256(json.dumps(list(parts), default=str).encode()).hexdigest()


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --------------------------------------------------------------------------- invoices


@dataclass
class _InvoiceRow:
    row: int
    customer_id: str
    customer_name: str
    contacts: list[tuple[str, str | None]]
    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    currency: str
    balance: Decimal
    timezone: str | None
    language: str | None
    payment_link: str | None
    pdf_path: str | None

    def source_hash(self) -> str:
        return _digest(
            [
                self.customer_id,
                self.customer_name,
                sorted(f"{(name or '')} <{addr.lower()}>" for addr, name in self.contacts),
                self.number,
                self.issue_date.isoformat(),
                self.due_date.isoformat(),
                _amount_text(self.amount),
                self.currency,
                _amount_text(self.balance),
                self.timezone or "",
                self.language or "",
                self.payment_link or "",
                self.pdf_path or "",
            ]
        )


def _validate_invoice_row(
    table: _Table, row: int, v: dict[str, str], date_format: str | None
) -> _InvoiceRow | None:
    before = len(table.problems)
    customer_id = _parse_text(table, row, "customer_id", v["customer_id"], MAX_ID_LENGTH)
    customer_name = _parse_text(table, row, "customer_name", v["customer_name"], 1000)
    contacts = _parse_emails(table, row, v["email"])
    number = _parse_text(table, row, "invoice_number", v["invoice_number"], MAX_ID_LENGTH)
    issue = _parse_date(table, row, "issue_date", v["issue_date"], date_format)
    due = _parse_date(table, row, "due_date", v["due_date"], date_format)
    amount = _parse_amount(table, row, "amount", v["amount"])
    currency = _parse_currency(table, row, v["currency"])
    balance = _parse_amount(table, row, "balance", v["balance"])
    timezone = _parse_timezone(table, row, v.get("timezone", ""))
    language = _parse_language(table, row, v.get("language", ""))
    link = _parse_link(table, row, v.get("payment_link", ""))
    if issue and due and due < issue:
        table.problem(
            row, "due_date", f"{v['due_date']!r} is before the issue date {v['issue_date']!r}"
        )
    if amount is not None and balance is not None and balance > amount:
        table.problem(
            row, "balance", f"{v['balance']!r} is more than the invoice amount {v['amount']!r}"
        )
    if len(table.problems) > before:
        return None
    assert customer_id and customer_name and number and issue and due and currency
    assert amount is not None and balance is not None
    return _InvoiceRow(
        row=row,
        customer_id=customer_id,
        customer_name=" ".join(customer_name.split()),
        contacts=contacts,
        number=number,
        issue_date=issue,
        due_date=due,
        amount=amount,
        currency=currency,
        balance=balance,
        timezone=timezone,
        language=language,
        payment_link=link,
        pdf_path=v.get("pdf_path") or None,
    )


def _check_across_rows(table: _Table) -> None:
    """Repeated invoice numbers; one customer id with different names, zones or languages."""
    first_number: dict[str, int] = {}
    customers: dict[str, dict[str, tuple[str, int]]] = {}
    for row, v in table.rows:
        number = v["invoice_number"]
        if number:
            if number in first_number:
                table.problem(
                    row,
                    "invoice_number",
                    f"{number!r} appears twice in the file (rows {first_number[number]} and {row})",
                )
            else:
                first_number[number] = row
        cid = v["customer_id"]
        if not cid:
            continue
        seen = customers.setdefault(cid, {})
        for canonical in ("customer_name", "timezone", "language"):
            value = v.get(canonical, "")
            if canonical == "customer_name":
                value = " ".join(value.split())
            elif canonical == "language":
                value = value.lower()
            if not value:
                continue
            if canonical not in seen:
                seen[canonical] = (value, row)
            elif seen[canonical][0] != value:
                first_value, first_row = seen[canonical]
                table.problem(
                    row,
                    canonical,
                    f"customer {cid!r} has {value!r} here but {first_value!r} on row {first_row}",
                )


def _load_by(session: Session, model: type, column: object, keys: Sequence[str]) -> list:
    found: list = []
    for chunk in _chunks(keys):
        found.extend(session.exec(select(model).where(col(column).in_(chunk))).all())
    return found


def import_invoices(
    session: Session,
    path: Path,
    *,
    mapping: dict[str, str] | None = None,
    now: datetime,
    default_timezone: str = "UTC",
    default_language: str = "en",
    date_format: str | None = None,
) -> ImportReport:
    """Import an invoice export into ``session`` (not committed); raises ``ImportFailed``.

    Creates or updates accounts (id = customer_id; name, and the time zone and language
    when the file gives them; new accounts otherwise get the defaults), adds contacts not
    yet known (role "billing"; never removes any) and creates or updates invoices. A
    balance of 0 makes the invoice "paid", a positive one "open". Every account touched
    by a created or updated row is due for review at ``now``.
    """
    path = Path(path)
    if not _valid_zone(default_timezone):
        raise ValueError(f"default_timezone: unknown time zone {default_timezone!r}")
    stamp = to_utc(now)
    table = _read_table(path, INVOICE_COLUMNS, INVOICE_OPTIONAL, mapping)
    if table.problems:
        raise ImportFailed(table.problems)

    parsed = [_validate_invoice_row(table, row, v, date_format) for row, v in table.rows]
    _check_across_rows(table)

    customer_ids = sorted({v["customer_id"] for _, v in table.rows if v["customer_id"]})
    numbers = sorted({v["invoice_number"] for _, v in table.rows if v["invoice_number"]})
    accounts: dict[str, Account] = {
        a.id: a for a in _load_by(session, Account, Account.id, customer_ids)
    }
    invoices: dict[str, Invoice] = {
        i.number: i for i in _load_by(session, Invoice, Invoice.number, numbers)
    }
    known_emails: dict[str, set[str]] = {}
    for contact in _load_by(session, Contact, Contact.account_id, customer_ids):
        known_emails.setdefault(contact.account_id, set()).add(contact.email.lower())

    for row, v in table.rows:
        existing = invoices.get(v["invoice_number"])
        if existing is not None and v["customer_id"] and existing.account_id != v["customer_id"]:
            table.problem(
                row,
                "customer_id",
                f"invoice {existing.number!r} belongs to customer {existing.account_id!r} "
                f"in the ledger, not {v['customer_id']!r}",
            )
    first_row: dict[str, int] = {}
    with_email: set[str] = set()
    for row, v in table.rows:
        if v["customer_id"]:
            first_row.setdefault(v["customer_id"], row)
            if v["email"]:
                with_email.add(v["customer_id"])
    for cid, row in first_row.items():
        if cid not in with_email and not known_emails.get(cid):
            table.problem(row, "email", f"is empty, and customer {cid!r} has no email address")

    if table.problems:
        table.problems.sort(key=lambda p: p.row)
        raise ImportFailed(table.problems)

    report = ImportReport(file=path.name, kind="invoices", rows=len(parsed))
    touched: set[str] = set()
    for item in parsed:
        assert item is not None
        digest = item.source_hash()
        invoice = invoices.get(item.number)
        if invoice is not None and invoice.source_hash == digest:
            report.unchanged += 1
            continue

        changed = False
        account = accounts.get(item.customer_id)
        if account is None:
            account = Account(
                id=item.customer_id,
                name=item.customer_name,
                timezone=item.timezone or default_timezone,
                language=item.language or default_language,
                created_at=stamp,
                updated_at=stamp,
            )
            session.add(account)
            accounts[account.id] = account
            report.accounts_created += 1
            changed = True
        else:
            wanted = {"name": item.customer_name}
            if item.timezone:
                wanted["timezone"] = item.timezone
            if item.language:
                wanted["language"] = item.language
            for attr, value in wanted.items():
                if getattr(account, attr) != value:
                    setattr(account, attr, value)
                    changed = True

        emails = known_emails.setdefault(item.customer_id, set())
        for address, name in item.contacts:
            if address.lower() not in emails:
                emails.add(address.lower())
                session.add(
                    Contact(account_id=item.customer_id, email=address, name=name, role="billing")
                )
                report.contacts_added += 1
                changed = True

        fields = {
            "currency": item.currency,
            "amount": item.amount,
            "balance": item.balance,
            "issue_date": item.issue_date,
            "due_date": item.due_date,
        }
        if "payment_link" in table.columns:
            fields["payment_link"] = item.payment_link
        if "pdf_path" in table.columns:
            fields["pdf_path"] = item.pdf_path

        if invoice is None:
            invoice = Invoice(
                number=item.number,
                account_id=item.customer_id,
                status="paid" if item.balance == 0 else "open",
                source_hash=digest,
                **fields,
            )
            session.add(invoice)
            invoices[item.number] = invoice
            report.created += 1
            touched.add(item.customer_id)
            continue

        if item.balance == 0:
            fields["status"] = "paid"
        else:
            fields["status"] = "open"
            fields["paid_date"] = None
        for attr, value in fields.items():
            if getattr(invoice, attr) != value:
                setattr(invoice, attr, value)
                changed = True
        invoice.source_hash = digest
        if changed:
            report.updated += 1
            touched.add(item.customer_id)
        else:
            report.unchanged += 1

    for cid in touched:
        accounts[cid].next_review_at = stamp
        accounts[cid].updated_at = stamp
    session.flush()
    return report


# --------------------------------------------------------------------------- payments


def payment_key(
    invoice_number: str, amount: Decimal, paid_date: date, reference: str | None
) -> str:
    """The identity of a payment: the same four facts are the same payment."""
    parts = [invoice_number.strip(), _amount_text(amount), paid_date.isoformat()]
    parts.append((reference or "").strip())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def apply_payment(
    session: Session,
    invoice: Invoice,
    amount: Decimal,
    paid_date: date,
    reference: str | None,
    now: datetime,
) -> bool:
    """Record a payment against ``invoice`` and lower its balance; False if already recorded.

    When the balance reaches zero the invoice becomes "paid" with ``paid_date`` (an
    invoice already paid keeps its first paid date). Overpayment: the Payment row keeps
    the full amount, the balance stops at 0 and no credit is carried anywhere; the
    excess is visible as the sum of payments minus the invoice amount. The account is
    due for review at ``now``. Flushes the session; does not commit.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError(f"payment amount must be a positive Decimal, got {amount!r}")
    key = payment_key(invoice.number, amount, paid_date, reference)
    if session.exec(select(Payment).where(Payment.key == key)).first() is not None:
        return False
    if invoice.id is None:
        session.flush()
    assert invoice.id is not None
    session.add(
        Payment(
            key=key,
            invoice_id=invoice.id,
            account_id=invoice.account_id,
            amount=amount,
            paid_date=paid_date,
            reference=(reference or "").strip() or None,
        )
    )
    balance = Decimal(invoice.balance) - amount
    if balance <= 0:
        if invoice.status != "paid" or invoice.paid_date is None:
            invoice.paid_date = paid_date
        invoice.status = "paid"
        balance = Decimal(0)
    invoice.balance = balance
    stamp = to_utc(now)
    account = session.get(Account, invoice.account_id)
    if account is not None:
        account.next_review_at = stamp
        account.updated_at = stamp
    session.flush()
    return True


def import_payments(
    session: Session,
    path: Path,
    *,
    mapping: dict[str, str] | None = None,
    now: datetime,
    date_format: str | None = None,
) -> ImportReport:
    """Import a payment export into ``session`` (not committed); raises ``ImportFailed``.

    Payments are applied in file order with ``apply_payment``; one already recorded or
    repeated within the file (same invoice, amount, date and reference) is counted as a
    duplicate and skipped. Every invoice number must already be in the ledger.
    """
    path = Path(path)
    table = _read_table(path, PAYMENT_COLUMNS, PAYMENT_OPTIONAL, mapping)
    if table.problems:
        raise ImportFailed(table.problems)

    numbers = sorted({v["invoice_number"] for _, v in table.rows if v["invoice_number"]})
    invoices: dict[str, Invoice] = {
        i.number: i for i in _load_by(session, Invoice, Invoice.number, numbers)
    }
    parsed: list[tuple[Invoice, Decimal, date, str | None]] = []
    for row, v in table.rows:
        before = len(table.problems)
        number = _parse_text(table, row, "invoice_number", v["invoice_number"], MAX_ID_LENGTH)
        invoice = invoices.get(number) if number else None
        if number and invoice is None:
            table.problem(row, "invoice_number", f"{number!r} is not an invoice in the ledger")
        amount = _parse_amount(table, row, "amount", v["amount"])
        if amount is not None and amount == 0:
            table.problem(row, "amount", f"{v['amount']!r} is zero")
        paid = _parse_date(table, row, "paid_date", v["paid_date"], date_format)
        if len(table.problems) == before:
            assert invoice is not None and amount is not None and paid is not None
            parsed.append((invoice, amount, paid, v.get("reference") or None))
    if table.problems:
        raise ImportFailed(table.problems)

    report = ImportReport(file=path.name, kind="payments", rows=len(parsed))
    for invoice, amount, paid, reference in parsed:
        was_paid = invoice.status == "paid"
        if apply_payment(session, invoice, amount, paid, reference, now):
            report.applied += 1
            if not was_paid and invoice.status == "paid":
                report.invoices_closed += 1
        else:
            report.duplicates += 1
    return report
