"""The one injectable clock: every piece of code asks it for the time.

``SystemClock`` is the wall clock. ``FixedClock`` is one instant (tests, replays).
``DayClock`` is "a date alone": for every account it answers a time inside that
account's sending window on that date, in the account's own time zone, which is
what ``--as-of DATE`` means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self, tz: ZoneInfo | None = None) -> datetime:
        """The current instant, aware, expressed in ``tz`` (UTC when omitted)."""
        ...

    def due_by(self, tz: ZoneInfo) -> datetime:
        """Work scheduled up to this instant is due now (for an account in ``tz``)."""
        ...


class SystemClock:
    def now(self, tz: ZoneInfo | None = None) -> datetime:
        return datetime.now(tz or UTC)

    def due_by(self, tz: ZoneInfo) -> datetime:
        return self.now(tz)


@dataclass(frozen=True)
class FixedClock:
    instant: datetime

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")

    def now(self, tz: ZoneInfo | None = None) -> datetime:
        return self.instant.astimezone(tz or UTC)

    def due_by(self, tz: ZoneInfo) -> datetime:
        return self.now(tz)


@dataclass(frozen=True)
class DayClock:
    """A calendar day; each time zone sees it at ``local_time`` on that day, and all
    work scheduled for that day (in the account's zone) counts as due."""

    day: date
    local_time: time = time(10, 0)

    def now(self, tz: ZoneInfo | None = None) -> datetime:
        return datetime.combine(self.day, self.local_time, tzinfo=tz or UTC)

    def due_by(self, tz: ZoneInfo) -> datetime:
        """Everything due on that day: a run "as of" a date does that day's work."""
        return datetime.combine(self.day, time.max, tzinfo=tz)


def parse_as_of(value: str | None, local_time: time = time(10, 0)) -> Clock:
    """``--as-of``: nothing is the wall clock, a timestamp is fixed, and a date alone is a
    DayClock at ``local_time`` (the caller passes a time inside the sending window)."""
    if not value:
        return SystemClock()
    try:
        if len(value) == 10:
            return DayClock(date.fromisoformat(value), local_time)
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"--as-of: {value!r} is neither a date (YYYY-MM-DD) nor an ISO 8601 timestamp"
        ) from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return FixedClock(instant)


def to_utc(value: datetime) -> datetime:
    """Timestamps are stored as aware UTC (sqlmodel's UTCDateTime); the one conversion in."""
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime {value} cannot be stored: give it a time zone")
    return value.astimezone(UTC)
