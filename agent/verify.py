"""The verify step: plain code that checks a draft against the ledger before it is sent.

``verify_draft`` is pure (no IO) and returns the problems a person can read; an empty
list means the draft may go out. It exists to catch a wrong number from a drafter (today
the templates, later a model): every invoice the decision names must appear with its
open balance, due date and payment link; no other invoice of the account may appear;
every amount, date, link and day count in the text must come from the named invoices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from babel.dates import get_month_names
from babel.numbers import format_decimal, get_currency_precision, get_currency_symbol
from babel.numbers import list_currencies as babel_currencies

from agent.snapshot import AccountSnapshot, Decision, OpenInvoice
from tools.drafting import Draft, day_phrase, format_day, format_money, resolve_language

_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"')\]]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?"
_SYMBOLS = "$€£¥₹₩₪₺₽¢"
_NUMBER = (
    r"\d{1,3}(?:[,.'’\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?"  # grouped: 1,250 / 1.250,00
    r"|\d+[.,]\d{1,2}"  # 1250.00 / 1250,5
    r"|\d+"
)
_MONEY = re.compile(rf"(?<![\d.,'’])(?:{_NUMBER})(?!\d|[.,'’]\d)")
_GAP = "[ \u00a0\u202f]?"
_MARKER_BEFORE = re.compile(rf"(?:\b([A-Z]{{3}})|([A-Z]{{0,2}}[{_SYMBOLS}])){_GAP}$")
_MARKER_AFTER = re.compile(rf"^{_GAP}(?:([{_SYMBOLS}])|([A-Z]{{3}})\b|((?i:euros?|dollars?))\b)")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DOTTED_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_SLASHED_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})\b")
_ELISION = re.compile(r"\+\s?(\d+)")
_DAYS = {
    "en": re.compile(r"\b\d+ days? overdue\b|\bdue in \d+ days?\b|\bdue today\b", re.IGNORECASE),
    "de": re.compile(
        r"\bseit \d+ Tag(?:en)? überfällig|\bin \d+ Tag(?:en)? fällig|\bheute fällig",
        re.IGNORECASE,
    ),
}
_DAY_COUNT = re.compile(r"\d+")


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    text: str


def verify_draft(
    draft: Draft, snapshot: AccountSnapshot, decision: Decision, today: date | None = None
) -> list[str]:
    """The problems of ``draft`` for ``decision`` on ``snapshot``; empty: it may be sent.

    ``today`` (the account's local date the draft was written for) also checks the day
    counts (``5 days overdue``); without it they are only checked against each other.
    """
    problems: list[str] = []
    subject, body = draft.subject or "", draft.body or ""
    if not subject.strip():
        problems.append("the subject is empty")
    if not body.strip():
        problems.append("the body is empty")
        return problems
    language = resolve_language(draft.language)
    expected_language = resolve_language(snapshot.language)
    if draft.language != expected_language:
        problems.append(
            f"the draft is in {draft.language!r} but the account reads {expected_language!r}"
        )
    if tuple(draft.invoices) != tuple(decision.invoices):
        problems.append(
            f"the draft is about {_names(draft.invoices)} but the decision names "
            f"{_names(decision.invoices)}"
        )
    open_by_number = {inv.number: inv for inv in snapshot.open_invoices}
    named: list[OpenInvoice] = []
    for number in decision.invoices:
        invoice = open_by_number.get(number)
        if invoice is None:
            problems.append(f"{number} is not an open invoice of this account")
        else:
            named.append(invoice)
    links = {inv.payment_link for inv in named if inv.payment_link}

    texts = {"subject": subject, "body": body}
    urls = {where: _urls(text) for where, text in texts.items()}
    masked = {where: _mask(text, urls[where]) for where, text in texts.items()}
    number_spans: dict[str, dict[str, list[_Found]]] = {}
    for where, text in masked.items():
        number_spans[where] = {
            number: _find_number(text, number) for number in _account_numbers(snapshot)
        }
        spans = [f for found in number_spans[where].values() for f in found]
        if len(snapshot.name.strip()) >= 3:  # a customer called "Studio 54.50" is no amount
            spans += _find_text(text, snapshot.name.strip())
        masked[where] = _mask(text, spans)

    problems += _check_subject(subject, decision.invoices, number_spans["subject"])
    for invoice in named:
        problems += _check_invoice(invoice, body, number_spans["body"], urls["body"], language)
    for number in sorted(_account_numbers(snapshot) - set(decision.invoices)):
        for where in texts:
            if number_spans[where][number]:
                problems.append(
                    f"{number} is an invoice of this account that the decision does not name, "
                    f"but the {where} mentions it"
                )
    for where in texts:
        for url in urls[where]:
            if url.text not in links:
                problems.append(f"the {where} has a link that is no named invoice's: {url.text}")
    if named:
        problems += _check_total(named, body, language)
        for where in texts:
            dates = _dates(masked[where])
            masked[where] = _mask(masked[where], [found for found, _ in dates])
            problems += _check_dates(dates, named, where, language)
            problems += _check_amounts(masked[where], named, number_spans[where], where, language)
        problems += _check_days(body, named, number_spans["body"], today, language)
    return list(dict.fromkeys(problems))


def _names(numbers: Iterable[str]) -> str:
    return ", ".join(numbers) or "no invoice"


def _account_numbers(snapshot: AccountSnapshot) -> set[str]:
    numbers = {inv.number for inv in snapshot.open_invoices}
    numbers.update(inv.number for inv in snapshot.history)
    numbers.update(payment.invoice for payment in snapshot.payments)
    for group in (snapshot.sent, snapshot.promises, snapshot.disputes):
        for item in group:
            numbers.update(item.invoices)
    return {number for number in numbers if number}


def _urls(text: str) -> list[_Found]:
    found = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        found.append(_Found(match.start(), match.start() + len(url), url))
    return found


def _mask(text: str, spans: Iterable[_Found]) -> str:
    """``text`` with each span blanked out (same length, so positions stay valid)."""
    chars = list(text)
    for span in spans:
        chars[span.start : span.end] = "\x00" * (span.end - span.start)
    return "".join(chars)


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")


def _find_number(text: str, number: str) -> list[_Found]:
    """Where ``number`` stands on its own in ``text``: not inside a longer token, and not
    part of a decimal (``12.50`` holds no invoice ``50``). Plain string search: accounts
    have many invoice numbers, and a regex each would be compiled again and again."""
    found: list[_Found] = []
    check_before, check_after = number[:1].isalnum(), number[-1:].isalnum()
    start = text.find(number)
    while start != -1:
        end = start + len(number)
        one, two = text[start - 1 : start] if start else "", text[max(start - 2, 0) : start]
        glued_before = one in _ALNUM or (len(two) == 2 and two[0] in _DIGITS and two[1] in ".,")
        nxt, pair = text[end : end + 1], text[end : end + 2]
        glued_after = nxt in _ALNUM or (len(pair) == 2 and pair[0] in ".," and pair[1] in _DIGITS)
        if (check_before and glued_before) or (check_after and glued_after):
            start = text.find(number, start + 1)
            continue
        found.append(_Found(start, end, number))
        start = text.find(number, end)
    return found


def _find_text(text: str, needle: str) -> list[_Found]:
    if not needle:
        return []
    found, start = [], text.find(needle)
    while start != -1:
        found.append(_Found(start, start + len(needle), needle))
        start = text.find(needle, start + len(needle))
    return found


def _check_subject(
    subject: str, numbers: tuple[str, ...], spans: dict[str, list[_Found]]
) -> list[str]:
    missing = [number for number in numbers if not spans.get(number)]
    if not missing:
        return []
    elided = _ELISION.search(subject)
    if elided and int(elided.group(1)) == len(missing) and len(missing) < len(numbers):
        return []
    return [f"{number}: the subject does not name it" for number in missing]


def _check_invoice(
    invoice: OpenInvoice,
    body: str,
    spans: dict[str, list[_Found]],
    urls: list[_Found],
    language: str,
) -> list[str]:
    number = invoice.number
    if not spans.get(number):
        return [f"{number}: the body does not name it"]
    problems = []
    balance = format_money(invoice.balance, invoice.currency, language)
    if balance not in body:
        problems.append(
            f"{number}: the body does not give its open balance {balance} "
            f"({_plain(invoice.balance, invoice.currency, language)} {invoice.currency})"
        )
    due = format_day(invoice.due_date, language)
    if due not in body:
        problems.append(f"{number}: the body does not give its due date {due}")
    if not invoice.payment_link:
        problems.append(f"{number}: has no payment link to give")
    elif not any(found.text == invoice.payment_link for found in urls):
        problems.append(f"{number}: the body does not give its payment link")
    return problems


def _check_total(named: list[OpenInvoice], body: str, language: str) -> list[str]:
    currencies = {inv.currency for inv in named}
    if len(named) < 2 or len(currencies) != 1:
        return []
    currency = named[0].currency
    total = sum((inv.balance for inv in named), Decimal(0))
    shown = format_money(total, currency, language)
    if shown in body:
        return []
    return [f"the body does not give the total open balance {shown}"]


def _plain(amount: Decimal, currency: str, language: str) -> str:
    digits = get_currency_precision(currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    text = format_decimal(amount, format=pattern, locale=resolve_language(language))
    return text.replace("\xa0", " ").replace("\u202f", " ")


def _parse_amount(text: str) -> Decimal | None:
    """``1,250.00`` / ``1.250,00`` / ``1'250.00`` / ``1,250`` as a Decimal: a final
    separator followed by one or two digits is the decimal mark, the others group."""
    match = re.fullmatch(r"(.*?)(?:([.,])(\d{1,2}))?", text)
    if match is None:  # pragma: no cover - the pattern matches every string
        return None
    whole = re.sub(r"\D", "", match.group(1))
    if not whole:
        return None
    return Decimal(whole + ("." + match.group(3) if match.group(3) else ""))


@lru_cache(maxsize=256)
def _symbols(currency: str) -> frozenset[str]:
    symbols = {currency.upper()}
    for locale in ("en", "de", "en_US", "en_GB", "de_CH", "de_AT"):
        symbols.add(get_currency_symbol(currency, locale=locale))
    return frozenset(symbol.replace("\xa0", " ") for symbol in symbols)


@lru_cache(maxsize=1)
def _iso_codes() -> frozenset[str]:
    return frozenset(babel_currencies())


def _marker(text: str, start: int, end: int) -> str | None:
    """The currency symbol or ISO code written right before or after an amount."""
    before = _MARKER_BEFORE.search(text, max(0, start - 4), start)
    if before:
        code, symbol = before.groups()
        if symbol or code in _iso_codes():
            return symbol or code
    after = _MARKER_AFTER.search(text[end : end + 9])
    if after:
        symbol, code, word = after.groups()
        if symbol or word or code in _iso_codes():
            return symbol or word or code
    return None


def _marker_matches(marker: str, currency: str) -> bool:
    lowered = marker.lower()
    if lowered.startswith("euro"):
        return currency == "EUR"
    symbols = _symbols(currency)
    if lowered.startswith("dollar") or marker == "$":
        return any("$" in symbol for symbol in symbols)
    return marker in symbols


def _owner(
    position: int, spans: dict[str, list[_Found]], named: list[OpenInvoice], text: str
) -> OpenInvoice | None:
    """The named invoice this position is about: the only one, or the one mentioned last
    before it in the same paragraph."""
    if len(named) == 1:
        return named[0]
    best: tuple[int, OpenInvoice] | None = None
    for invoice in named:
        for found in spans.get(invoice.number, []):
            if found.start < position and (best is None or found.start > best[0]):
                best = (found.start, invoice)
    if best is None or "\n\n" in text[best[0] : position]:
        return None
    return best[1]


def _check_amounts(
    text: str,
    named: list[OpenInvoice],
    spans: dict[str, list[_Found]],
    where: str,
    language: str,
) -> list[str]:
    allowed: list[tuple[Decimal, str]] = [(inv.balance, inv.currency) for inv in named]
    totals: dict[str, Decimal] = {}
    for inv in named:
        totals[inv.currency] = totals.get(inv.currency, Decimal(0)) + inv.balance
    allowed += [(amount, currency) for currency, amount in totals.items()]
    problems = []
    for match in _MONEY.finditer(text):
        raw = match.group()
        marker = _marker(text, match.start(), match.end())
        if marker is None and match.start() and text[match.start() - 1].isalpha():
            continue  # part of a word or code ("v2.10"), not money
        has_cents = re.search(r"[.,]\d{2}$", raw) is not None
        grouped = re.search(r"\d[,.'’\u00a0\u202f]\d{3}", raw) is not None
        if not (marker or has_cents or grouped):
            continue  # a bare count ("5 days") or a year, not money
        value = _parse_amount(raw)
        if value is None:
            continue
        fits = [
            (amount, currency)
            for amount, currency in allowed
            if amount == value and (marker is None or _marker_matches(marker, currency))
        ]
        if fits:
            continue
        owner = _owner(match.start(), spans, named, text)
        shown = raw.replace("\xa0", " ").replace("\u202f", " ")
        if marker and any(amount == value for amount, _ in allowed):
            problems.append(
                f"amount {shown} {marker} in the {where} is in a currency the ledger does not "
                f"have for it ({_ledger(named, language)})"
            )
        elif owner is not None:
            problems.append(
                f"{owner.number}: amount {shown} in the {where} is not in the ledger (balance "
                f"{_plain(owner.balance, owner.currency, language)} {owner.currency})"
            )
        else:
            problems.append(
                f"amount {shown} in the {where} is not in the ledger ({_ledger(named, language)})"
            )
    return problems


def _ledger(named: list[OpenInvoice], language: str) -> str:
    parts = [
        f"{inv.number} {_plain(inv.balance, inv.currency, language)} {inv.currency}"
        for inv in named
    ]
    currencies = {inv.currency for inv in named}
    if len(named) > 1 and len(currencies) == 1:
        total = sum((inv.balance for inv in named), Decimal(0))
        parts.append(f"total {_plain(total, named[0].currency, language)} {named[0].currency}")
    return "balances: " + ", ".join(parts)


_Reading = tuple[int | None, int, int]
"""A date as written: (year or None when left out, month, day)."""


def warm_up() -> None:
    """Build the date patterns now (before worker processes fork)."""
    _month_patterns()


@lru_cache(maxsize=1)
def _month_patterns() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, int]]:
    """Month names of both languages (wide and abbreviated, capitalised as written in
    running text, so the verb "may" is no month), in both orders, the year optional."""
    months: dict[str, int] = {"Maerz": 3, "Sept": 9}
    for locale in ("en", "de"):
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                names = get_month_names(width, context, locale=locale)
                for number, name in names.items():
                    name = name.rstrip(".")
                    months[name[:1].upper() + name[1:]] = number
    alternatives = "|".join(sorted((re.escape(m) for m in months), key=len, reverse=True))
    year = r"(?:,?\s+(\d{4}))?"
    month_first = re.compile(
        rf"\b({alternatives})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?![\d.,:]\d){year}\b"
    )
    day_first = re.compile(rf"(?<![\d.,])(\d{{1,2}})\.?\s+({alternatives})\b\.?{year}")
    return month_first, day_first, months


def _dates(text: str) -> list[tuple[_Found, list[_Reading]]]:
    """Every date written in ``text``, each with the days it can mean."""
    month_first, day_first, months = _month_patterns()
    found: list[tuple[_Found, list[_Reading]]] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], readings: list[_Reading]) -> None:
        if any(start < match.end() and match.start() < end for start, end in taken):
            return
        taken.append((match.start(), match.end()))
        found.append((_Found(match.start(), match.end(), match.group().strip()), readings))

    def year(text: str | None) -> int | None:
        return int(text) if text else None

    for match in _ISO_DATE.finditer(text):
        add(match, [(int(match.group(1)), int(match.group(2)), int(match.group(3)))])
    for match in _DOTTED_DATE.finditer(text):
        add(match, [(int(match.group(3)), int(match.group(2)), int(match.group(1)))])
    for match in _SLASHED_DATE.finditer(text):
        first, second, year_ = (int(part) for part in match.groups())
        add(match, [(year_, first, second), (year_, second, first)])
    for match in month_first.finditer(text):
        month = months[match.group(1)]
        add(match, [(year(match.group(3)), month, int(match.group(2)))])
    for match in day_first.finditer(text):
        month = months[match.group(2)]
        add(match, [(year(match.group(3)), month, int(match.group(1)))])
    return found


def _real(reading: _Reading) -> bool:
    year, month, day = reading
    try:
        date(2000 if year is None else year, month, day)  # 2000: February 29 exists
    except ValueError:
        return False
    return True


def _known(reading: _Reading, allowed: set[date]) -> bool:
    year, month, day = reading
    return any(
        (year is None or known.year == year) and (known.month, known.day) == (month, day)
        for known in allowed
    )


def _check_dates(
    dates: list[tuple[_Found, list[_Reading]]],
    named: list[OpenInvoice],
    where: str,
    language: str,
) -> list[str]:
    allowed = {inv.due_date for inv in named} | {inv.issue_date for inv in named}
    problems = []
    for found, readings in dates:
        if any(_known(reading, allowed) for reading in readings):
            continue
        if not any(_real(reading) for reading in readings):
            problems.append(f"the {where} has a date that does not exist: {found.text}")
            continue
        known = ", ".join(
            f"{inv.number} due {format_day(inv.due_date, language)}, issued "
            f"{format_day(inv.issue_date, language)}"
            for inv in named
        )
        problems.append(
            f"date {found.text} in the {where} is not an invoice date in the ledger ({known})"
        )
    return problems


def _check_days(
    body: str,
    named: list[OpenInvoice],
    spans: dict[str, list[_Found]],
    today: date | None,
    language: str,
) -> list[str]:
    """Day counts: against ``today`` when given, else against each other."""
    problems = []
    if today is not None:
        expected = {inv.number: day_phrase(inv.due_date, today, language) for inv in named}
        for number, phrase in expected.items():
            if phrase not in body:
                problems.append(f"{number}: the body does not say '{phrase}'")
        allowed = {phrase.lower() for phrase in expected.values()}
        for match in _DAYS[language].finditer(body):
            said = match.group()
            owner = _owner(match.start(), spans, named, body)
            if owner is None:
                if said.lower() not in allowed:
                    problems.append(f"'{said}' in the body is no invoice's ({_ages(expected)})")
            elif said.lower() != expected[owner.number].lower():
                problems.append(
                    f"{owner.number}: '{said}' in the body is wrong "
                    f"(it is {expected[owner.number]})"
                )
        return problems
    implied: dict[date, str] = {}
    for match in _DAYS[language].finditer(body):
        owner = _owner(match.start(), spans, named, body)
        if owner is None:
            continue
        count = _DAY_COUNT.search(match.group())
        days = int(count.group()) if count else 0
        text = match.group().lower()
        overdue = "overdue" in text or "überfällig" in text
        offset = days if overdue else -days
        implied.setdefault(owner.due_date + timedelta(days=offset), text)
    if len(implied) > 1:
        problems.append(
            "the day counts in the body disagree with each other: " + "; ".join(implied.values())
        )
    return problems


def _ages(expected: dict[str, str]) -> str:
    return ", ".join(f"{number}: {phrase}" for number, phrase in expected.items())
