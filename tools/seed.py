"""A synthetic ledger for the demo, the tests and the benchmarks.

``seed_ledger`` owns generating and writing a believable book of receivables into an
already-migrated database: accounts with one contact each, a payment history of paid
invoices (with their payments) chosen by a payer persona, open invoices due around
``as_of`` (some partially paid), the chase messages already sent for them (consistent
with the default policy of ``shared/eval-cases.md``), and, on small fractions of the
accounts, every situation a pass must handle: flags, opt-outs, disputes, active and
broken promises, claims of payment, absences, final notices that are due for a
person and escalations a person already holds.

Everything is a pure function of the seed (one ``random.Random``, no global state),
and written with Core bulk inserts in one transaction: 20,000 accounts (about 100,000
invoices) take well under a minute on SQLite.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, select
from sqlalchemy.engine import Connection

from agent.clock import to_utc
from agent.policy import OVERDUE_NOTICES, payer_profile, stage_for_age, stage_starts, tone_for
from agent.policy_config import PolicyConfig
from agent.snapshot import STAGES, PaidInvoice, Stage, stage_rank
from tools.outbox import message_key
from tools.tables import (
    Account,
    Contact,
    DisputeRow,
    EscalationRow,
    HoldRow,
    Invoice,
    Message,
    Payment,
    PromiseRow,
)

DEFAULT_TIMEZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
)

SCENARIOS: tuple[str, ...] = (
    "human_flagged",
    "opted_out",
    "dispute",
    "promise_active",
    "promise_broken",
    "paid_claim",
    "absence",
    "final_due_for_person",
    "escalated",
)
"""The special situations, each on about ``SCENARIO_SHARE`` of the accounts."""
SCENARIO_SHARE = 0.03
SCENARIO_MIN_ACCOUNTS = 20
"""From this many accounts on, every scenario is on at least one account."""

SEND_RATE = 0.85
"""How often a message the policy called for was actually sent (the rest: the agent
was not running that day), so a pass on ``as_of`` finds sends of several stages."""
PARTIAL_RATE = 0.12
PERSONAS: tuple[tuple[str, int], ...] = (("prompt", 35), ("usual", 40), ("late", 25))
TERMS_DAYS: tuple[int, ...] = (14, 30, 30, 30, 30, 45, 60)
OPEN_COUNT_WEIGHTS: tuple[int, ...] = (55, 33, 12)  # 1, 2 or 3 open invoices
DUE_OFFSET_BANDS: tuple[tuple[int, int, int], ...] = (
    # (weight, first, last): the open invoice's due date minus as_of, in days
    (35, 1, 25),
    (25, -14, 0),
    (27, -44, -15),
    (13, -80, -45),
)
CENT = Decimal("0.01")

BRANDS = (
    "Acme", "Borealis", "Northwind", "Contoso", "Fabrikam", "Zephyr", "Summit", "Keystone",
    "Meridian", "Bluewater", "Ironbridge", "Redwood", "Silverline", "Harbor", "Granite",
    "Cobalt", "Evergreen", "Lighthouse", "Pioneer", "Sterling", "Atlas", "Beacon", "Cedar",
    "Falcon", "Horizon", "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orion", "Pinnacle",
    "Quarry", "Riverside", "Sequoia", "Tidewater", "Vantage", "Willow", "Alder", "Brightwave",
    "Crescent", "Driftwood", "Ember", "Foxglove", "Glacier", "Highland", "Indigo", "Jasper",
    "Larkspur", "Monarch", "Oakridge", "Polaris", "Quill", "Saltmarsh", "Thistle", "Upland",
    "Verdant", "Westfield", "Yarrow", "Zenith",
)  # fmt: skip
BRANDS_DE = (
    "Alpen", "Bergmann", "Donau", "Edelweiss", "Falkner", "Greif", "Hansa", "Isar", "Kessler",
    "Lindner", "Main", "Nordstern", "Rhein", "Schwarzwald", "Taunus", "Weser", "Brenner",
    "Elster", "Fichte", "Havel", "Kranich", "Mosel", "Neckar", "Spree", "Wendel", "Zeller",
)  # fmt: skip
INDUSTRIES = (
    "Tools", "Logistics", "Foods", "Systems", "Components", "Textiles", "Analytics", "Freight",
    "Pharma", "Engineering", "Supplies", "Packaging", "Labs", "Media", "Robotics", "Energy",
    "Hardware", "Interiors", "Marine", "Software", "Print", "Plastics", "Optics", "Security",
)  # fmt: skip
INDUSTRIES_DE = (
    "Maschinenbau", "Logistik", "Elektrotechnik", "Handel", "Werkzeuge", "Metallbau",
    "Verpackung", "Lebensmittel", "Druck", "Anlagenbau", "Holzbau", "Medizintechnik",
)  # fmt: skip
SUFFIXES: dict[str, tuple[str, ...]] = {
    "USD": ("Inc.", "LLC", "Corp.", "Co."),
    "GBP": ("Ltd", "Ltd", "PLC"),
    "AUD": ("Pty Ltd",),
    "EUR": ("Ltd", "B.V.", "S.A."),
    "de": ("GmbH", "GmbH", "AG", "KG", "GmbH & Co. KG", "SE"),
}
FIRST_NAMES = ("Dana", "Sam", "Priya", "Tom", "Alex", "Maria", "Chen", "Olivia", "Kenji", "Ruth")
FIRST_NAMES_DE = ("Anna", "Jonas", "Lena", "Felix", "Sabine", "Tobias", "Katrin", "Matthias")
LAST_NAMES = ("Ruiz", "Patel", "Nguyen", "Walsh", "Okafor", "Brennan", "Sato", "Lee", "Hughes")
LAST_NAMES_DE = ("Müller", "Schmidt", "Weber", "Fischer", "Becker", "Hoffmann", "Schulz")
MAILBOXES = ("ap", "ap", "ap", "accounts.payable", "billing", "invoices")
MAILBOXES_DE = ("buchhaltung", "rechnungen", "ap")
FLAG_REASONS = (
    "customer in administration; legal is reviewing",
    "key account: the account manager calls before any reminder",
    "credit note being agreed by sales",
    "contract renegotiation in progress",
)
DISPUTE_REASONS = (
    "amount does not match the purchase order",
    "goods arrived damaged",
    "billed twice for the same delivery",
    "service not delivered as agreed; asks for a credit note",
)
SUBJECTS: dict[str, dict[str, str]] = {
    "en": {
        "reminder": "Friendly reminder: {what} due soon",
        "first_overdue": "{what} overdue",
        "escalation": "Second notice: {what} overdue",
        "final_notice": "Final notice: {what} overdue",
    },
    "de": {
        "reminder": "Zahlungserinnerung: {what}",
        "first_overdue": "{what} überfällig",
        "escalation": "Zweite Mahnung: {what}",
        "final_notice": "Letzte Mahnung: {what}",
    },
}


@dataclass
class SeedReport:
    """What ``seed_ledger`` wrote (``flagged``: accounts with ``human_flagged``)."""

    accounts: int
    invoices: int
    open_invoices: int
    payments: int
    messages: int
    promises: int
    disputes: int
    holds: int
    escalations: int
    flagged: int


@dataclass
class _Rows:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    """Payments carry ``invoice_number``; the invoice id is filled in after the insert."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    promises: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)


def seed_ledger(
    engine: Engine,
    *,
    accounts: int,
    seed: int = 7,
    as_of: date,
    now: datetime,
    id_prefix: str = "C",
    languages: tuple[str, ...] = ("en", "de"),
    timezones: tuple[str, ...] = DEFAULT_TIMEZONES,
) -> SeedReport:
    """Write ``accounts`` synthetic accounts (ids ``{id_prefix}-00001``...) into the ledger.

    ``now`` (aware) stamps the accounts and is their ``next_review_at``, so the first
    pass looks at every one; ``as_of`` is the day the history leads up to. The data is
    the same for the same arguments. Raises ``ValueError`` when an account id it would
    create already exists (nothing is written then).
    """
    if accounts < 0:
        raise ValueError(f"accounts must be 0 or more, got {accounts}")
    if not languages or not timezones:
        raise ValueError("languages and timezones must not be empty")
    zones = {name: ZoneInfo(name) for name in timezones}  # an unknown zone fails here
    width = max(5, len(str(accounts)))
    ids = [f"{id_prefix}-{index:0{width}d}" for index in range(1, accounts + 1)]
    with engine.begin() as conn:
        _refuse_existing(conn, ids)
        taken = set(conn.execute(select(_table(Contact).c.email)).scalars())
        generator = _Generator(
            random.Random(seed),
            as_of=as_of,
            now=to_utc(now),
            languages=languages,
            zones=zones,
            taken_emails=taken,
        )
        rows = generator.generate(ids)
        _write(conn, rows)
    return SeedReport(
        accounts=len(rows.accounts),
        invoices=len(rows.invoices),
        open_invoices=sum(1 for row in rows.invoices if row["status"] == "open"),
        payments=len(rows.payments),
        messages=len(rows.messages),
        promises=len(rows.promises),
        disputes=len(rows.disputes),
        holds=len(rows.holds),
        escalations=len(rows.escalations),
        flagged=sum(1 for row in rows.accounts if row["human_flagged"]),
    )


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def _refuse_existing(conn: Connection, ids: list[str]) -> None:
    column = _table(Account).c.id
    for start in range(0, len(ids), 500):
        found = conn.execute(select(column).where(column.in_(ids[start : start + 500]))).scalars()
        clash = sorted(found)
        if clash:
            raise ValueError(
                f"account {clash[0]} already exists; seed into an empty ledger or pass "
                "another id_prefix"
            )


def _write(conn: Connection, rows: _Rows) -> None:
    for model, batch in ((Account, rows.accounts), (Contact, rows.contacts)):
        if batch:
            conn.execute(_table(model).insert(), batch)
    invoice_ids: dict[str, int] = {}
    if rows.invoices:
        table = _table(Invoice)
        conn.execute(table.insert(), rows.invoices)
        ids = [row["id"] for row in rows.accounts]
        for start in range(0, len(ids), 500):
            found = conn.execute(
                select(table.c.number, table.c.id).where(
                    table.c.account_id.in_(ids[start : start + 500])
                )
            )
            invoice_ids.update((number, invoice_id) for number, invoice_id in found)
    payments = [
        {key: value for key, value in row.items() if key != "invoice_number"}
        | {"invoice_id": invoice_ids[row["invoice_number"]]}
        for row in rows.payments
    ]
    for model, batch in (
        (Payment, payments),
        (Message, rows.messages),
        (PromiseRow, rows.promises),
        (HoldRow, rows.holds),
        (DisputeRow, rows.disputes),
        (EscalationRow, rows.escalations),
    ):
        if batch:
            conn.execute(_table(model).insert(), batch)


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _slug(text: str) -> str:
    for plain, ascii_ in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("&", "and")):
        text = text.lower().replace(plain, ascii_)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _weekday_on_or_after(day: date) -> date:
    return day + timedelta(days=max(0, 7 - day.weekday())) if day.weekday() >= 5 else day


def _weekday_on_or_before(day: date) -> date:
    return day - timedelta(days=day.weekday() - 4) if day.weekday() >= 5 else day


def _payment_key(invoice_number: str, index: int) -> str:
    return hashlib.sha256(f"seed|{invoice_number}|{index}".encode()).hexdigest()


class _Generator:
    """Draws every row from one ``random.Random``, account after account."""

    def __init__(
        self,
        rng: random.Random,
        *,
        as_of: date,
        now: datetime,
        languages: tuple[str, ...],
        zones: dict[str, ZoneInfo],
        taken_emails: set[str],
    ) -> None:
        self.rng = rng
        self.as_of = as_of
        self.now = now
        self.languages = languages
        self.language_weights = [3] + [1] * (len(languages) - 1)
        self.zones = zones
        self.timezones = tuple(zones)
        self.taken = taken_emails
        self.policy = PolicyConfig()
        self.starts = stage_starts(self.policy)
        self.rows = _Rows()

    # ------------------------------------------------------------------ the whole book

    def generate(self, ids: list[str]) -> _Rows:
        rng = self.rng
        scenario_of: dict[int, str] = {}
        per_scenario = round(len(ids) * SCENARIO_SHARE)
        if len(ids) >= SCENARIO_MIN_ACCOUNTS:
            per_scenario = max(1, per_scenario)
        chosen = rng.sample(range(len(ids)), min(len(ids), per_scenario * len(SCENARIOS)))
        for position, index in enumerate(chosen):
            scenario_of[index] = SCENARIOS[position // per_scenario]
        for index, account_id in enumerate(ids):
            # invoice numbers carry the account id, so they are as unique as the ids
            self.account(account_id, f"INV-{account_id}", scenario_of.get(index))
        return self.rows

    # ------------------------------------------------------------------ one account

    def account(self, account_id: str, number_stem: str, scenario: str | None) -> None:
        rng, as_of = self.rng, self.as_of
        language = rng.choices(self.languages, self.language_weights)[0]
        if language == "de" and "Europe/Berlin" in self.zones and rng.random() < 0.9:
            timezone = "Europe/Berlin"
        else:
            timezone = rng.choice(self.timezones)
        currency = self.currency(language, timezone)
        name, slug = self.company(language, currency)
        email = self.email(language, slug)

        # the chase ends where a hold began: no message goes out while it holds
        chase_end = as_of
        last_pay_day = as_of - timedelta(days=1)
        if scenario == "paid_claim":
            chase_end = as_of - timedelta(days=6)
            last_pay_day = as_of - timedelta(days=8)
        elif scenario == "promise_broken":
            chase_end = as_of - timedelta(days=rng.randint(13, 18))
        elif scenario == "promise_active":
            chase_end = as_of - timedelta(days=rng.randint(1, 6))
        elif scenario == "dispute":
            chase_end = as_of - timedelta(days=rng.randint(2, 20))
        elif scenario == "absence":
            chase_end = as_of - timedelta(days=rng.randint(1, 3))
        elif scenario == "opted_out":
            chase_end = as_of - timedelta(days=rng.randint(3, 20))

        terms = rng.choice(TERMS_DAYS)
        base = math.exp(rng.uniform(math.log(400), math.log(25_000)))

        # open invoices: due dates around as_of; the held ones have one clearly overdue
        if scenario in ("final_due_for_person", "escalated"):
            offsets = [-rng.randint(65, 80)]
        else:
            count = rng.choices((1, 2, 3), OPEN_COUNT_WEIGHTS)[0]
            offsets = [self.due_offset(terms) for _ in range(count)]
            if scenario is not None:
                offsets[0] = -rng.randint(20, 50)
        open_dues = sorted(as_of + timedelta(days=offset) for offset in offsets)

        # payment history: older invoices, paid with the persona's delays
        persona = rng.choices([p for p, _ in PERSONAS], [w for _, w in PERSONAS])[0]
        delays = self.delays(persona, rng.randint(2, 5))
        paid: list[tuple[date, int]] = []
        previous = open_dues[0]
        for delay in delays:
            due = min(
                previous - timedelta(days=rng.randint(20, 40)),
                last_pay_day - timedelta(days=delay + rng.randint(0, 5)),
            )
            paid.append((due, delay))
            previous = due
        paid.reverse()

        history: list[PaidInvoice] = []
        open_numbers: list[tuple[str, date]] = []
        sequence = 0
        for due, delay in paid:
            sequence += 1
            number = f"{number_stem}-{sequence:02d}"
            amount = _money(base * rng.uniform(0.5, 1.5))
            paid_on = due + timedelta(days=delay)
            self.rows.invoices.append(
                self.invoice(account_id, number, currency, amount, due, terms, Decimal("0.00"))
                | {"status": "paid", "paid_date": paid_on}
            )
            self.payment(account_id, number, amount, paid_on, currency, 0)
            history.append(PaidInvoice(number, amount, due, paid_on))
        for due in open_dues:
            sequence += 1
            number = f"{number_stem}-{sequence:02d}"
            amount = _money(base * rng.uniform(0.5, 1.5))
            row = self.invoice(account_id, number, currency, amount, due, terms, amount)
            issued: date = row["issue_date"]
            if rng.random() < PARTIAL_RATE and issued < last_pay_day:
                part = (amount * Decimal(rng.uniform(0.2, 0.8))).quantize(CENT)
                paid_on = issued + timedelta(days=rng.randint(1, (last_pay_day - issued).days))
                row["balance"] = amount - part
                self.payment(account_id, number, part, paid_on, currency, 0)
            self.rows.invoices.append(row)
            open_numbers.append((number, due))

        tone_profile = payer_profile(history, self.policy)
        if scenario in ("final_due_for_person", "escalated"):
            send_rate, old_finals = 1.0, True
        else:
            send_rate, old_finals = SEND_RATE, False
        sent = self.chase_history(open_numbers, chase_end, send_rate, old_finals)
        zone = self.zones[timezone]
        for day, stage, numbers in sent:
            self.message(account_id, language, email, zone, day, stage, numbers, tone_profile)

        flag_reason = None
        if scenario == "human_flagged":
            flag_reason = rng.choice(FLAG_REASONS)
        self.rows.accounts.append(
            {
                "id": account_id,
                "name": name,
                "timezone": timezone,
                "language": language,
                "human_flagged": scenario == "human_flagged",
                "flag_reason": flag_reason,
                "opted_out": scenario == "opted_out",
                "credit_hold": False,
                "next_review_at": self.now,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        first_names, last_names = (
            (FIRST_NAMES_DE, LAST_NAMES_DE) if language == "de" else (FIRST_NAMES, LAST_NAMES)
        )
        self.rows.contacts.append(
            {
                "account_id": account_id,
                "email": email,
                "name": f"{rng.choice(first_names)} {rng.choice(last_names)}",
                "role": "billing",
                "undeliverable": False,
                "opted_out": scenario == "opted_out",
            }
        )
        if scenario is not None:
            self.situation(scenario, account_id, open_numbers, sent, chase_end, zone)

    def situation(
        self,
        scenario: str,
        account_id: str,
        open_numbers: list[tuple[str, date]],
        sent: list[tuple[date, Stage, tuple[str, ...]]],
        chase_end: date,
        zone: ZoneInfo,
    ) -> None:
        """The rows that put an account in its special situation on ``as_of``."""
        rng, as_of = self.rng, self.as_of
        overdue = open_numbers[0][0]
        all_numbers = [number for number, _ in open_numbers]
        balance = sum(
            (row["balance"] for row in self.rows.invoices[-len(open_numbers) :]), Decimal(0)
        )
        if scenario in ("promise_active", "promise_broken"):
            promised = (
                as_of + timedelta(days=rng.randint(0, 10))
                if scenario == "promise_active"
                else as_of - timedelta(days=10)
            )
            self.rows.promises.append(
                {
                    "account_id": account_id,
                    "made_on": chase_end,
                    "promise_date": promised,
                    "amount": balance,
                    "invoices": all_numbers,
                    "status": "open",
                    "source": "seed: reply",
                }
            )
        elif scenario == "dispute":
            self.rows.disputes.append(
                {
                    "account_id": account_id,
                    "opened_on": chase_end,
                    "invoices": [overdue],
                    "reason": rng.choice(DISPUTE_REASONS),
                    "resolved_at": None,
                    "resolved_by": None,
                    "note": None,
                }
            )
        elif scenario == "paid_claim":
            self.rows.holds.append(
                {
                    "account_id": account_id,
                    "kind": "paid_claim",
                    "made_on": as_of - timedelta(days=6),
                    "until": as_of - timedelta(days=1),
                    "source": "seed: reply",
                }
            )
        elif scenario == "absence":
            self.rows.holds.append(
                {
                    "account_id": account_id,
                    "kind": "absence",
                    "made_on": chase_end,
                    "until": as_of + timedelta(days=4),
                    "source": "seed: out-of-office reply",
                }
            )
        elif scenario == "escalated":
            finals = [day for day, stage, _ in sent if stage == "final_notice"]
            opened_on = _weekday_on_or_after(
                finals[-1] + timedelta(days=self.policy.escalate_after_final_days)
                if finals
                else as_of - timedelta(days=rng.randint(2, 8))
            )
            opened_on = min(opened_on, as_of - timedelta(days=1))
            self.rows.escalations.append(
                {
                    "account_id": account_id,
                    "opened_on": opened_on,
                    "opened_at": to_utc(datetime.combine(opened_on, time(10), tzinfo=zone)),
                    "reason": f"final notice for {overdue} is still unpaid after "
                    f"{self.policy.escalate_after_final_days} days",
                    "invoices": all_numbers,
                    "resolved_at": None,
                    "resolved_on": None,
                    "resolved_by": None,
                    "note": None,
                }
            )

    # ------------------------------------------------------------------ pieces

    def currency(self, language: str, timezone: str) -> str:
        if language != "en":
            return "EUR"
        if timezone == "Europe/London":
            return "GBP"
        if timezone.startswith("Europe/"):
            return "EUR"
        if timezone.startswith("Australia/"):
            return "AUD"
        return "USD"

    def company(self, language: str, currency: str) -> tuple[str, str]:
        """A company name and the slug of its mail domain."""
        rng = self.rng
        if language == "de":
            brand = rng.choice(BRANDS_DE + BRANDS)
            industry = rng.choice(INDUSTRIES_DE)
            suffix = rng.choice(SUFFIXES["de"])
        else:
            brand = rng.choice(BRANDS)
            industry = rng.choice(INDUSTRIES)
            suffix = rng.choice(SUFFIXES[currency])
        shape = rng.random()
        if shape < 0.3:
            core = brand
        elif shape < 0.85:
            core = f"{brand} {industry}"
        else:
            core = f"{brand} & {rng.choice(BRANDS)}"
        return f"{core} {suffix}", _slug(core)

    def email(self, language: str, slug: str) -> str:
        mailbox = self.rng.choice(MAILBOXES_DE if language == "de" else MAILBOXES)
        domain, n = slug, 1
        while f"{mailbox}@{domain}.example" in self.taken:
            n += 1
            domain = f"{slug}-{n}"
        email = f"{mailbox}@{domain}.example"
        self.taken.add(email)
        return email

    def due_offset(self, terms: int) -> int:
        weights = [band[0] for band in DUE_OFFSET_BANDS]
        _, first, last = self.rng.choices(DUE_OFFSET_BANDS, weights)[0]
        # an invoice is never issued after as_of, so it is due at most ``terms`` days out
        return min(self.rng.randint(first, last), terms - 1)

    def delays(self, persona: str, count: int) -> list[int]:
        """Days past due each earlier invoice was paid, newest first."""
        rng = self.rng
        if persona == "prompt":
            return [rng.randint(0, 5) for _ in range(count)]
        if persona == "usual":
            return [rng.randint(5, 15) for _ in range(count)]
        delays = [rng.randint(16, 60) for _ in range(count)]
        for index in range(count // 2 + 1, count):  # a minority may have been paid sooner
            if rng.random() < 0.5:
                delays[index] = rng.randint(3, 15)
        rng.shuffle(delays)
        return delays

    def invoice(
        self,
        account_id: str,
        number: str,
        currency: str,
        amount: Decimal,
        due: date,
        terms: int,
        balance: Decimal,
    ) -> dict[str, Any]:
        return {
            "number": number,
            "account_id": account_id,
            "currency": currency,
            "amount": amount,
            "balance": balance,
            "issue_date": due - timedelta(days=terms),
            "due_date": due,
            "status": "open",
            "paid_date": None,
            "payment_link": None,
            "pdf_path": None,
            "source_hash": None,
        }

    def payment(
        self, account_id: str, number: str, amount: Decimal, on: date, currency: str, index: int
    ) -> None:
        method = self.rng.choice(("SEPA", "Wire") if currency == "EUR" else ("ACH", "Wire", "Card"))
        self.rows.payments.append(
            {
                "key": _payment_key(number, index),
                "invoice_number": number,
                "account_id": account_id,
                "amount": amount,
                "paid_date": on,
                "reference": f"{method} {self.rng.randint(10_000_000, 99_999_999)}",
            }
        )

    def message(
        self,
        account_id: str,
        language: str,
        email: str,
        zone: ZoneInfo,
        day: date,
        stage: Stage,
        numbers: tuple[str, ...],
        profile: str,
    ) -> None:
        key = message_key(account_id, stage, numbers, day)
        created = to_utc(datetime.combine(day, time(9, self.rng.randint(0, 59)), tzinfo=zone))
        what = ("invoice " if len(numbers) == 1 else "invoices ") + ", ".join(numbers)
        if language == "de":
            what = ("Rechnung " if len(numbers) == 1 else "Rechnungen ") + ", ".join(numbers)
        subject = SUBJECTS.get(language, SUBJECTS["en"])[stage].format(what=what)
        self.rows.messages.append(
            {
                "key": key,
                "message_id": f"<dunning.{key}@seed.example>",
                "account_id": account_id,
                "direction": "out",
                "stage": stage,
                "tone": tone_for(stage, profile),
                "language": language,
                "invoices": list(numbers),
                "local_day": day,
                "to_addrs": [email],
                "subject": subject[0].upper() + subject[1:],
                "body": f"[seeded {stage} message for {', '.join(numbers)}; text not kept]",
                "state": "sent",
                "attempts": 1,
                "error": None,
                "created_at": created,
                "sent_at": created + timedelta(seconds=self.rng.randint(1, 40)),
            }
        )

    # ------------------------------------------------------------------ the chase so far

    def chase_history(
        self,
        invoices: list[tuple[str, date]],
        end: date,
        send_rate: float,
        old_finals: bool,
    ) -> list[tuple[date, Stage, tuple[str, ...]]]:
        """The messages the default policy sent before ``end`` (business days only).

        A message the policy called for goes out with probability ``send_rate``; a
        skipped one is not retried within its stage. Unless ``old_finals``, a final
        notice goes out within the last ``escalate_after_final_days`` before ``as_of``
        (so the pass on ``as_of`` does not hand the account to a person).
        """
        policy, rng, starts = self.policy, self.rng, self.starts
        gap = timedelta(days=policy.min_gap_days)
        prior = timedelta(days=policy.final_notice_prior_days)
        recent = policy.escalate_after_final_days - 1
        late_final_floor = self.as_of - timedelta(days=recent)
        escalation_rank = stage_rank("escalation")
        sent: dict[str, list[tuple[date, Stage]]] = {number: [] for number, _ in invoices}
        floor: dict[str, int] = {number: -1 for number, _ in invoices}  # sent or skipped
        messages: list[tuple[date, Stage, tuple[str, ...]]] = []
        last: date | None = None
        # the days a stage window opens, and those an overdue notice turns old enough
        opens = sorted({due + timedelta(days=starts[s]) for _, due in invoices for s in STAGES})
        ripe: list[date] = []

        def due_stage(number: str, due_date: date, day: date) -> Stage | None:
            stage = stage_for_age((day - due_date).days, policy)
            if stage is None or stage_rank(stage) <= floor[number]:
                return None
            if stage != "final_notice":
                return stage
            if any(s in OVERDUE_NOTICES and on <= day - prior for on, s in sent[number]):
                return "final_notice"
            return "escalation" if floor[number] < escalation_rank else None

        def next_change(day: date) -> date | None:
            index = bisect.bisect_right(opens, day)
            later = [opens[index]] if index < len(opens) else []
            later.extend(d for d in ripe if d > day)
            if last is not None and last + gap > day:
                later.append(last + gap)
            return min(later, default=None)

        day: date | None = opens[0] if opens else None
        while day is not None and day < end:
            if day.weekday() >= 5:
                day = _weekday_on_or_after(day)
                continue
            due = [(n, s) for n, d in invoices if (s := due_stage(n, d, day)) is not None]
            if not due:
                day = next_change(day)
                continue
            if last is not None and day - last < gap:
                day = last + gap
                continue
            stage = max((s for _, s in due), key=stage_rank)
            if stage == "final_notice" and not old_finals and day < late_final_floor:
                day = _weekday_on_or_before(self.as_of - timedelta(days=rng.randint(1, recent)))
                day = max(day, late_final_floor)
                continue
            if rng.random() >= send_rate:
                for number, own in due:
                    floor[number] = max(floor[number], stage_rank(own))
                day = next_change(day)
                continue
            numbers = tuple(n for n, _ in due)
            messages.append((day, stage, numbers))
            for number in numbers:
                sent[number].append((day, stage))
                floor[number] = max(floor[number], stage_rank(stage))
            if stage in OVERDUE_NOTICES:
                ripe.append(day + prior)
            last = day
            day = next_change(day)
        return messages


__all__ = ["DEFAULT_TIMEZONES", "SeedReport", "seed_ledger"]
