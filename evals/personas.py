"""The simulator's customers: personas with documented, configurable parameters, and the
emails they write (varied templates, so the reply path sees varied wording).

Payment is a daily chance per open invoice. ``REMINDER_LIFT`` is calibrated to the
field trials of payment reminders, which report roughly a 7 to 9% relative rise in
on-time payment when a reminder is sent: a reminder multiplies the chance of paying
by 1.08 during the ``LIFT_DAYS`` that follow it (a forgetful payer reacts much more,
see its ``nudge_chance``). A message that ignores what the customer said (a chase
message while its promise or dispute stands, or after it asked to unsubscribe) is a
trust violation: it multiplies the customer's goodwill by ``GOODWILL_HIT``, and
goodwill multiplies every later chance of paying.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

REMINDER_LIFT = 0.08
"""Relative rise in the daily chance of paying after a reminder (field trials: 7-9%)."""
LIFT_DAYS = 7
GOODWILL_HIT = 0.75
GOODWILL_FLOOR = 0.2


@dataclass(frozen=True)
class Persona:
    """How one kind of customer pays and answers. Chances are per open invoice per day."""

    name: str
    share: float
    """Fraction of the simulated accounts."""
    on_time_chance: float
    """Daily chance of paying from 3 days before to 5 days after the due date."""
    late_chance: float
    """Daily chance of paying later than that."""
    nudge_chance: float = 0.0
    """Daily chance of paying in the 2 to 5 days after a message (forgetful payers)."""
    promise_keep: float = 0.0
    """Promisers: the share of promises kept (paid on the promised day)."""
    replies: str | None = None
    """What it answers to its first message: promise, dispute, copy, away, left."""


PERSONAS: tuple[Persona, ...] = (
    Persona("prompt", 0.20, on_time_chance=0.30, late_chance=0.20),
    Persona("forgetful", 0.20, on_time_chance=0.02, late_chance=0.01, nudge_chance=0.30),
    Persona(
        "promiser",
        0.15,
        on_time_chance=0.01,
        late_chance=0.01,
        promise_keep=0.6,
        replies="promise",
    ),
    Persona("disputer", 0.08, on_time_chance=0.0, late_chance=0.0, replies="dispute"),
    Persona("process_bound", 0.10, on_time_chance=0.0, late_chance=0.0, replies="copy"),
    Persona("away", 0.07, on_time_chance=0.0, late_chance=0.06, replies="away"),
    Persona("left", 0.05, on_time_chance=0.0, late_chance=0.0, replies="left"),
    Persona("non_responder", 0.15, on_time_chance=0.01, late_chance=0.025),
)


def pick_persona(rng: random.Random, personas: tuple[Persona, ...] = PERSONAS) -> Persona:
    roll, total = rng.random() * sum(p.share for p in personas), 0.0
    for persona in personas:
        total += persona.share
        if roll < total:
            return persona
    return personas[-1]


def _weekday(day: date) -> str:
    return day.strftime("%A")


def promise_text(rng: random.Random, numbers: str, promised: date, today: date) -> str:
    days = (promised - today).days
    options = [
        f"Hi,\n\nsorry for the delay. We will pay {numbers} on {promised:%A %d %B}.\n\nThanks",
        f"Hello, payment for {numbers} goes out in {days} days.\n",
        f"We'll settle {numbers} by {promised:%B %d}. Apologies for the wait.\n",
        f"Hi - cash is a bit tight this month but we will pay on {_weekday(promised)} "
        f"{promised:%d %B}.\n",
        f"Noted. Payment of {numbers} is scheduled for {promised.isoformat()}.\n",
    ]
    return rng.choice(options)


def dispute_text(rng: random.Random, numbers: str) -> str:
    return rng.choice(
        [
            f"Hello,\n\nthe amount on {numbers} is wrong: we were quoted a lower price. Please "
            "send a corrected invoice or a credit note.\n",
            f"We never received the goods billed on {numbers}. We will not pay until this "
            "is sorted out.\n",
            f"{numbers}: we were double billed for this order. Please correct it.\n",
            f"Half of the items on {numbers} arrived damaged; we dispute the invoice.\n",
        ]
    )


def copy_text(rng: random.Random, numbers: str) -> str:
    return rng.choice(
        [
            f"Hi there,\n\ncould you resend a copy of invoice {numbers}? We can't find it in "
            "our system.\n",
            f"Please send us a copy of {numbers}; our AP team needs the PDF to process it.\n",
            f"We have no record of {numbers}. Can you send the invoice again?\n",
        ]
    )


def away_text(rng: random.Random, back: date) -> str:
    return rng.choice(
        [
            f"I am out of the office with no access to email. I will be back on "
            f"{back:%A %d %B %Y}.\n",
            f"Thank you for your email. I am on annual leave and will return on {back:%d %B %Y}.\n",
        ]
    )


def redirect_text(rng: random.Random, new_address: str) -> str:
    return rng.choice(
        [
            f"Dana no longer works here. Please contact {new_address} instead.\n",
            f"I have left the company. Please write to {new_address} from now on.\n",
        ]
    )


def promised_day(rng: random.Random, today: date) -> date:
    return today + timedelta(days=rng.randint(3, 10))
