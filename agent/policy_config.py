"""Every number of the dunning policy, with the defaults of ``shared/eval-cases.md``.

A plain pydantic model so it validates (a bad value names the setting) and can be
nested in the settings (``[policy]`` in ``dunning.toml``, ``DUNNING_POLICY__*`` in
the environment).
"""

from __future__ import annotations

import hashlib
import json
from datetime import time

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PolicyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reminder_from_days: int = Field(-3, description="reminder due from this age (days past due)")
    first_overdue_from_days: int = Field(3, description="first_overdue due from this age")
    escalation_from_days: int = Field(15, description="escalation due from this age")
    final_notice_from_days: int = Field(45, description="final_notice due from this age")
    min_gap_days: int = Field(5, ge=0, description="days between two chase messages")
    final_notice_prior_days: int = Field(
        7, ge=0, description="an overdue notice must precede a final notice by this many days"
    )
    escalate_after_final_days: int = Field(
        10, ge=0, description="days after a final notice before a person takes over"
    )
    promise_grace_days: int = Field(3, ge=0, description="grace after a promised date")
    paid_claim_hold_days: int = Field(5, ge=0, description="hold after 'we have paid'")
    absence_default_days: int = Field(7, ge=0, description="hold after an absence reply")
    promise_without_date_days: int = Field(
        7, ge=0, description="hold after a promise that names no date"
    )
    min_reply_confidence: float = Field(
        0.5, ge=0, le=1, description="a reply understood less surely than this goes to a person"
    )
    good_payer_within_days: int = Field(
        5, ge=0, description="paid every earlier invoice within this many days: one tone softer"
    )
    late_payer_after_days: int = Field(
        15, ge=0, description="paid most earlier invoices later than this: one tone firmer"
    )
    send_window_start: time = Field(time(8, 0), description="local time sending may start")
    send_window_end: time = Field(time(18, 0), description="local time sending stops")
    business_days: str = Field(
        "mon,tue,wed,thu,fri", description="weekdays messages may go out, comma-separated"
    )

    @field_validator("business_days", mode="before")
    @classmethod
    def _known_days(cls, value: object) -> str:
        parts = value if isinstance(value, list | tuple) else str(value).split(",")
        days = [str(part).strip().lower()[:3] for part in parts if str(part).strip()]
        unknown = [day for day in days if day not in WEEKDAYS]
        if unknown or not days:
            raise ValueError(f"expected weekday names from {', '.join(WEEKDAYS)}, got {value!r}")
        return ",".join(days)

    @model_validator(mode="after")
    def _ordered(self) -> PolicyConfig:
        starts = [
            self.reminder_from_days,
            self.first_overdue_from_days,
            self.escalation_from_days,
            self.final_notice_from_days,
        ]
        if starts != sorted(set(starts)):
            raise ValueError("stage windows must start in order: reminder < first_overdue < ...")
        if self.send_window_start >= self.send_window_end:
            raise ValueError("send_window_start must be before send_window_end")
        return self

    @property
    def time_in_window(self) -> time:
        """A local time inside the sending window: 10:00 when the window has it, else its
        start. ``--as-of DATE`` runs each account at this time."""
        preferred = time(10, 0)
        if self.send_window_start <= preferred < self.send_window_end:
            return preferred
        return self.send_window_start

    @property
    def business_weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.business_days.split(","))

    @property
    def version(self) -> str:
        """``default`` for the shipped policy, else a short hash of the numbers."""
        if self == PolicyConfig():
            return "default-1"
        digest = hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()
        return f"custom-{digest[:8]}"
