"""Offline message drafting: a chase email rendered from the versioned Jinja2 templates.

This module owns the template environment (``prompts/v1/{lang}/{stage}.{tone}.j2``, each
extending that language's ``base.j2``), the locale formatting of money, dates and day
counts (babel; also used by ``agent.verify``), the choice of language, and the ``Draft``
that the verify step checks before anything is sent. It is pure apart from reading the
templates once: no database, no mail, no model.

The templates get preformatted strings only; every number and date is formatted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from agent.classification import ANSWERABLE_TOPICS
from agent.snapshot import STAGES, TONES, AccountSnapshot, Decision, OpenInvoice
from prompts import PROMPTS_DIR

TEMPLATE_VERSION = "v1"
DEFAULT_LANGUAGE = "en"
SUBJECT_MAX_NUMBERS = 3
"""A subject names at most this many invoice numbers, then ``+N more``."""


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    language: str
    """``en`` or ``de``: the language actually used."""
    template: str
    """e.g. ``v1/en/first_overdue.neutral``."""
    invoices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Line:
    """One invoice as the template shows it: every field already formatted."""

    number: str
    balance: str
    due: str
    when: str
    link: str


@dataclass(frozen=True)
class _Phrases:
    """The few language fragments built in Python (day counts, invoice labels)."""

    overdue: tuple[str, str]  # one day, n days
    due_in: tuple[str, str]
    due_today: str
    is_: str  # "{when}" -> main clause for one invoice
    is_sub: str  # the same, verb-final (German subordinate clauses)
    plural_status: dict[str, tuple[str, str]]  # state -> (main clause, verb-final)
    one_label: tuple[str, str]  # (sentence start, inside a sentence)
    many_label: tuple[str, str]
    subject_one: str
    subject_many: str
    more: str


_PHRASES: dict[str, _Phrases] = {
    "en": _Phrases(
        overdue=("{n} day overdue", "{n} days overdue"),
        due_in=("due in {n} day", "due in {n} days"),
        due_today="due today",
        is_="is {when}",
        is_sub="is {when}",
        plural_status={
            "upcoming": ("are due soon",) * 2,
            "today": ("are due today",) * 2,
            "soon": ("are due today or in the next few days",) * 2,
            "overdue": ("are past due",) * 2,
            "mixed": ("are open, some of them already past due",) * 2,
        },
        one_label=("Invoice {number}", "invoice {number}"),
        many_label=("The invoices listed below", "the invoices listed below"),
        subject_one="invoice {refs}",
        subject_many="invoices {refs}",
        more="+{n} more",
    ),
    "de": _Phrases(
        overdue=("seit {n} Tag überfällig", "seit {n} Tagen überfällig"),
        due_in=("in {n} Tag fällig", "in {n} Tagen fällig"),
        due_today="heute fällig",
        is_="ist {when}",
        is_sub="{when} ist",
        plural_status={
            "upcoming": ("sind in Kürze fällig", "in Kürze fällig sind"),
            "today": ("sind heute fällig", "heute fällig sind"),
            "soon": (
                "sind heute oder in den nächsten Tagen fällig",
                "heute oder in den nächsten Tagen fällig sind",
            ),
            "overdue": ("sind überfällig", "überfällig sind"),
            "mixed": (
                "sind offen und zum Teil bereits überfällig",
                "offen und zum Teil bereits überfällig sind",
            ),
        },
        one_label=("Ihre Rechnung {number}", "Ihre Rechnung {number}"),
        many_label=("Die unten aufgeführten Rechnungen", "die unten aufgeführten Rechnungen"),
        subject_one="Rechnung {refs}",
        subject_many="Rechnungen {refs}",
        more="+{n} weitere",
    ),
}

_ENV = Environment(
    loader=FileSystemLoader(str(PROMPTS_DIR)),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_TEMPLATES: dict[str, Template] = {}
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


@lru_cache(maxsize=64)
def resolve_language(language: str | None) -> str:
    """``en`` or ``de``: the language of ``language`` (``de-DE``, ``de_AT``...) when a
    template folder exists for it, else ``en``."""
    code = re.split(r"[-_.@]", (language or "").strip(), maxsplit=1)[0].lower()
    if code in _PHRASES and (PROMPTS_DIR / TEMPLATE_VERSION / code / "base.j2").is_file():
        return code
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=8)
def _locale(language: str) -> Locale:
    return Locale.parse(resolve_language(language))


@lru_cache(maxsize=4096)
def format_money(amount: Decimal, currency: str, language: str) -> str:
    """``$1,250.00`` (en), ``1.250,00 €`` (de): babel, with plain spaces for plain text."""
    text = format_currency(amount, currency, locale=_locale(language))
    return text.replace("\xa0", " ").replace("\u202f", " ")


@lru_cache(maxsize=4096)
def format_day(day: date, language: str) -> str:
    """``March 5, 2026`` (en), ``5. März 2026`` (de): babel's long date format."""
    return format_date(day, "long", locale=_locale(language))


def day_phrase(due: date, today: date, language: str) -> str:
    """``5 days overdue`` / ``due today`` / ``due in 3 days`` (German: ``seit 5 Tagen
    überfällig`` / ``heute fällig`` / ``in 3 Tagen fällig``)."""
    phrases = _PHRASES[resolve_language(language)]
    age = (today - due).days
    if age > 0:
        return phrases.overdue[age != 1].format(n=age)
    if age == 0:
        return phrases.due_today
    return phrases.due_in[age != -1].format(n=-age)


def subject_refs(numbers: tuple[str, ...] | list[str], language: str) -> str:
    """``INV-1, INV-2, INV-3 +2 more``: at most three numbers, then how many are left."""
    shown = ", ".join(numbers[:SUBJECT_MAX_NUMBERS])
    left = len(numbers) - SUBJECT_MAX_NUMBERS
    if left > 0:
        shown += " " + _PHRASES[resolve_language(language)].more.format(n=left)
    return shown


def template_name(language: str, stage: str, tone: str) -> str:
    """``v1/en/first_overdue.neutral`` (without the ``.j2``)."""
    return f"{TEMPLATE_VERSION}/{language}/{stage}.{tone}"


def _template(name: str) -> Template:
    template = _TEMPLATES.get(name)
    if template is None:
        template = _TEMPLATES[name] = _ENV.get_template(name + ".j2")
    return template


def warm_up() -> None:
    """Compile every template and load the locales now (before worker processes fork, so
    each inherits them instead of paying for them again)."""
    for language in _PHRASES:
        _locale(language)
        format_money(Decimal("1.00"), "USD", language)
        format_day(date(2000, 1, 1), language)
        for stage in STAGES:
            for tone in TONES:
                name = template_name(language, stage, tone)
                if (PROMPTS_DIR / f"{name}.j2").is_file():
                    _template(name)
        _template(f"{TEMPLATE_VERSION}/{language}/answer")


def _state(ages: list[int]) -> str:
    if all(age > 0 for age in ages):
        return "overdue"
    if any(age > 0 for age in ages):
        return "mixed"
    if all(age == 0 for age in ages):
        return "today"
    if any(age == 0 for age in ages):
        return "soon"
    return "upcoming"


def _chosen(snapshot: AccountSnapshot, decision: Decision) -> list[OpenInvoice]:
    if decision.stage is None or decision.tone is None:
        raise ValueError(f"decision {decision.action!r} has no stage or tone to draft")
    if not decision.invoices:
        raise ValueError("decision names no invoice to draft a message about")
    by_number = {inv.number: inv for inv in snapshot.open_invoices}
    chosen = []
    for number in decision.invoices:
        invoice = by_number.get(number)
        if invoice is None:
            raise ValueError(f"{number} is not an open invoice of account {snapshot.account_id}")
        if not invoice.payment_link:
            raise ValueError(f"{number} has no payment link")
        chosen.append(invoice)
    return chosen


def _lines(chosen: list[OpenInvoice], today: date, language: str) -> tuple[list[_Line], str]:
    """The invoices as the templates show them, and their total when it has one currency."""
    lines = [
        _Line(
            number=inv.number,
            balance=format_money(inv.balance, inv.currency, language),
            due=format_day(inv.due_date, language),
            when=day_phrase(inv.due_date, today, language),
            link=inv.payment_link or "",
        )
        for inv in chosen
    ]
    total = ""
    if len(chosen) > 1 and len({inv.currency for inv in chosen}) == 1:
        amount = sum((inv.balance for inv in chosen), Decimal(0))
        total = format_money(amount, chosen[0].currency, language)
    return lines, total


def _render(name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of template ``name``: the subject block rendered on its own."""
    template = _template(name)
    body = template.render(context)
    body = _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", body)).strip() + "\n"
    subject = " ".join("".join(template.blocks["subject"](template.new_context(context))).split())
    return subject, body


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def draft_answer(
    snapshot: AccountSnapshot,
    topic: str,
    invoices: tuple[str, ...],
    today: date,
    company_name: str,
    *,
    attached: bool = False,
) -> Draft:
    """The automatic answer to a question about ``invoices`` (``ANSWERABLE_TOPICS``): the
    facts come from the ledger, never from the customer's email."""
    if topic not in ANSWERABLE_TOPICS:
        raise ValueError(f"no automatic answer for a question about {topic!r}")
    chosen = _chosen(snapshot, Decision("send", "answer", "reminder", "neutral", invoices))
    language = resolve_language(snapshot.language)
    phrases = _PHRASES[language]
    lines, total = _lines(chosen, today, language)
    plural = len(chosen) > 1
    refs = subject_refs(invoices, language)
    label = phrases.many_label[1] if plural else phrases.one_label[1].format(number=invoices[0])
    context: dict[str, Any] = {
        "name": snapshot.name.strip(),
        "company": company_name,
        "topic": topic,
        "attached": attached,
        "plural": plural,
        "label": label,
        "subject_label": _upper_first(
            (phrases.subject_many if plural else phrases.subject_one).format(refs=refs)
        ),
        "invoices": lines,
        "total": total,
    }
    name = f"{TEMPLATE_VERSION}/{language}/answer"
    subject, body = _render(name, context)
    return Draft(subject=subject, body=body, language=language, template=name, invoices=invoices)


def facts(snapshot: AccountSnapshot, decision: Decision, today: date) -> dict[str, Any]:
    """The facts of a reminder, formatted as the templates show them: what a model that
    writes the reminder is given (and all it is given)."""
    chosen = _chosen(snapshot, decision)
    language = resolve_language(snapshot.language)
    lines, total = _lines(chosen, today, language)
    return {
        "language": language,
        "name": snapshot.name.strip(),
        "today": format_day(today, language),
        "invoices": lines,
        "total": total,
    }


def draft_message(
    snapshot: AccountSnapshot, decision: Decision, today: date, company_name: str
) -> Draft:
    """The email for ``decision`` (stage, tone, invoices) to ``snapshot``'s contact."""
    chosen = _chosen(snapshot, decision)
    language = resolve_language(snapshot.language)
    phrases = _PHRASES[language]
    ages = [(today - inv.due_date).days for inv in chosen]
    invoices, total = _lines(chosen, today, language)
    plural = len(chosen) > 1
    state = _state(ages)
    if plural:
        status, status_sub = phrases.plural_status[state]
        label_start, label = phrases.many_label
    else:
        when = invoices[0].when
        status, status_sub = phrases.is_.format(when=when), phrases.is_sub.format(when=when)
        label_start, label = (text.format(number=chosen[0].number) for text in phrases.one_label)
    named = set(decision.invoices)
    earlier = sum(1 for message in snapshot.sent if named.intersection(message.invoices))
    refs = subject_refs(decision.invoices, language)
    context: dict[str, Any] = {
        "name": snapshot.name.strip(),
        "company": company_name,
        "stage": decision.stage,
        "tone": decision.tone,
        "plural": plural,
        "refs": refs,
        "subject_label": (phrases.subject_many if plural else phrases.subject_one).format(
            refs=refs
        ),
        "label": label,
        "Label": label_start,
        "status": status,
        "status_sub": status_sub,
        "state": state,
        "overdue": state in ("overdue", "mixed"),
        "earlier": earlier,
        "followup": earlier > 0,
        "invoices": invoices,
        "total": total,
    }
    name = template_name(language, decision.stage, decision.tone)  # type: ignore[arg-type]
    subject, body = _render(name, context)
    return Draft(
        subject=subject,
        body=body,
        language=language,
        template=name,
        invoices=tuple(decision.invoices),
    )
