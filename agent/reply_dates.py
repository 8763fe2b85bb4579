"""Dates named in a reply, resolved against the email's own date.

This module owns reading calendar dates out of free text in English and German (and the
French month and weekday names with "de retour", for absence notices) and
turning them into ``date`` values: explicit dates ("20 March", "2026-03-20",
"20.03.", "3/20"), days of the month ("the 20th"), weekdays ("Friday", "next Fri",
"Freitag"), relative days ("tomorrow", "übermorgen"), periods ("next week",
"Ende des Monats", "early April") and offsets ("in 10 days", "innerhalb von zwei
Wochen"). It is pure and stdlib-only: no clock, no IO; ``sent`` is the email's date
in the email's own offset.

Public API:

- ``resolve_dates(text, sent, *, language=None) -> list[FoundDate]``: every date the
  text names, in reading order, non-overlapping.
- ``promise_date(text, sent, *, language=None, found=None) -> FoundDate | None``: the
  date a payment is committed to.
- ``return_date(text, sent, *, language=None, found=None) -> date | None``: the day
  an absent person is back (out-of-office replies).
- ``clause_spans(text)``: the clause boundaries both helpers (and the classifier) use.
- ``sentence_at(text, pos)``: the sentence around ``pos`` (no comma or "and" breaks).

The rules (each has a test in ``tests/test_reply_dates.py``):

- A bare weekday, "this"/"coming" weekday ("Friday", "on Fri", "diesen Freitag") is the
  first such day strictly after ``sent``: "Friday" written on a Friday is a week later.
- "next <weekday>" ("next Friday", "nächsten Freitag") is the first such day at least two
  days after ``sent``: on Monday-Wednesday it is this week's Friday (same as "Friday");
  on Thursday it is not tomorrow but the Friday after; on Friday a week later.
  "<weekday> next week" / "next week <weekday>" is that day of next calendar week.
  "last Friday" / "letzten Freitag" is the most recent one strictly before ``sent``.
- A period resolves to its last day (a promise "next week" is kept if paid by then);
  ``FoundDate.first`` holds its first day. "this week" / "end of the week" /
  "Ende der Woche": this week's Friday (said on a weekend: next week's Friday).
  "next week", "end of next week", "nächste Woche": next calendar week's Friday.
  "early next week" = Monday-Wednesday (Wednesday); "mid next week" = Wednesday.
  "this weekend" = its Sunday. "this month" / "end of the month" / "Monatsende": the
  month's last day; "next month" / "end of next month": next month's last day;
  "early <month>" / "Anfang April" = the 1st-10th (10th); "mid <month>" = the 15th;
  "end of the year" = 31 Dec; "end of the quarter" = the quarter's last day.
- "in N days" / "within N days" / "in N Tagen" = ``sent`` + N calendar days; business,
  working or bank days ("Werktage") skip Saturdays and Sundays; weeks are 7 days,
  a fortnight 14; months keep the day of the month (clamped). Ranges ("2-3 days")
  take the upper bound. "a couple" = 2, "a few" / "ein paar" = 3, "several" = 5.
- Explicit dates without a year take the year that puts them nearest ``sent``
  ("05.03." on 2026-03-10 is 5 March 2026; "20.01." on 2026-12-20 is January 2027).
  A day of the month alone ("the 20th", "am 20.") is this month's, or next month's
  when it has passed; a day past the month's end is clamped to its last day.
- Slash dates: a first number above 12 is the day ("20/03"), a second number above 12
  is the day ("3/20"); when both could be either, ``language`` decides: US month-first
  for ``None``, "en" and "en-US", day-first for German and any other language tag.
- A promise clause "talks about paying" when it has a pay word or an amount ("we can do
  $2,000 by March 31 and the balance in April" -> March 31).
- "out until X" (return dates): back the day after X, moved to the next Monday when
  that is a Saturday or Sunday; "back on X" / "returning X" / "ab X wieder": X itself;
  "until <period>" without "end" ("out until next week"): the period's first day.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

__all__ = [
    "DateKind",
    "FoundDate",
    "clause_spans",
    "day_first",
    "promise_date",
    "resolve_dates",
    "return_date",
]

DateKind = Literal["explicit", "day", "weekday", "relative", "period", "offset"]


@dataclass(frozen=True, slots=True)
class FoundDate:
    """One date named in a text."""

    value: date
    """The day the words name; for a period ("next week") its last day."""
    words: str
    """The words as written (``text[start:end]``)."""
    start: int
    end: int
    kind: DateKind
    first: date | None = None
    """For a period: its first day (``None`` when the words name a single day)."""

    @property
    def earliest(self) -> date:
        return self.first or self.value


# --------------------------------------------------------------------------- vocabulary

_UMLAUTS = {"ä": "(?:ä|ae|a)", "ö": "(?:ö|oe|o)", "ü": "(?:ü|ue|u)", "ß": "(?:ß|ss)"}


def fold_pattern(pattern: str) -> str:
    """Let a regex written with umlauts also match "ae"/"a" spellings (outside ``[...]``)."""
    out: list[str] = []
    in_class = False
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "]":
            in_class = False
            out.append(ch)
        elif not in_class and ch.lower() in _UMLAUTS:
            out.append(_UMLAUTS[ch.lower()])
        else:
            out.append(ch)
    return "".join(out)


def fold_word(word: str) -> str:
    """Lower-case a word and spell umlauts out ("März" -> "maerz")."""
    w = word.lower()
    if not w.isascii():
        w = w.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return w


_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion away."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
    inserts = {a + c + b for a, b in splits for c in _ALPHABET}
    return deletes | transposes | replaces | inserts


def _vocabulary(
    names: dict[int, Iterable[str]], *, typo_min: int, protected: Iterable[str] = ()
) -> dict[str, int]:
    """Folded name -> value, plus one-edit typos of the names at least ``typo_min`` long
    (a typo shared by two values, or equal to a protected word, is left out)."""
    vocab: dict[str, int] = {}
    for value, words in names.items():
        for word in words:
            vocab[fold_word(word)] = value
    typos: dict[str, int | None] = {}
    for value, words in names.items():
        for word in words:
            folded = fold_word(word)
            if len(folded) < typo_min:
                continue
            for typo in edits1(folded):
                if typo in vocab:
                    continue
                typos[typo] = value if typos.get(typo, value) == value else None
    skip = {fold_word(w) for w in protected}
    for typo, value in typos.items():
        if value is not None and typo not in skip:
            vocab[typo] = value
    return vocab


_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "januar", "jänner", "janvier"),
    2: ("february", "feb", "febr", "februar", "feber", "février", "fevrier"),
    3: ("march", "mar", "märz", "marz", "mrz", "mär", "mars"),
    4: ("april", "apr", "avril"),
    5: ("may", "mai"),
    6: ("june", "jun", "juni", "juin"),
    7: ("july", "jul", "juli", "juillet"),
    8: ("august", "aug", "août", "aout"),
    9: ("september", "sep", "sept", "septembre"),
    10: ("october", "oct", "oktober", "okt", "octobre"),
    11: ("november", "nov", "novembre"),
    12: ("december", "dec", "dezember", "dez", "décembre", "decembre"),
}
_MONTHS = _vocabulary(_MONTH_NAMES, typo_min=6, protected=("augusta", "jungle"))

_WEEKDAY_NAMES: dict[int, tuple[str, ...]] = {
    0: ("monday", "montag", "lundi"),
    1: ("tuesday", "dienstag", "mardi"),
    2: ("wednesday", "mittwoch", "mercredi", "wensday", "wendsday", "wednsday", "wedensday"),
    3: ("thursday", "donnerstag", "jeudi", "thrusday", "thurday"),
    4: ("friday", "freitag", "vendredi", "fryday", "firday"),
    5: ("saturday", "samstag", "sonnabend", "samedi"),
    6: ("sunday", "sonntag", "dimanche"),
}
_WEEKDAYS = _vocabulary(
    _WEEKDAY_NAMES, typo_min=6, protected=("montage", "monday's", "sundae", "sundry")
)
# Standalone only after "on", "by", "this", "next", ...; anywhere before a date.
_WEEKDAY_ABBREV: dict[str, int] = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "weds": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_WEEKDAY_DE_SHORT: dict[str, int] = {"mo": 0, "di": 1, "mi": 2, "do": 3, "fr": 4, "sa": 5, "so": 6}

_NUMBER_WORDS: dict[str, int] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "fortyfive": 45,
    "sixty": 60,
    "ninety": 90,
    "couple": 2,
    "a couple": 2,
    "couple of": 2,
    "a couple of": 2,
    "few": 3,
    "a few": 3,
    "several": 5,
    "ein": 1,
    "eine": 1,
    "einer": 1,
    "einem": 1,
    "einen": 1,
    "eins": 1,
    "zwei": 2,
    "drei": 3,
    "vier": 4,
    "fuenf": 5,
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
    "zehn": 10,
    "elf": 11,
    "zwoelf": 12,
    "dreizehn": 13,
    "vierzehn": 14,
    "fuenfzehn": 15,
    "zwanzig": 20,
    "einundzwanzig": 21,
    "dreissig": 30,
    "vierzig": 40,
    "sechzig": 60,
    "neunzig": 90,
    "ein paar": 3,
    "paar": 3,
    "einige": 3,
    "einigen": 3,
    "wenige": 3,
    "wenigen": 3,
}
for _tens, _name in ((20, "twenty"), (30, "thirty")):
    for _unit, _uname in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine"), 1
    ):
        _NUMBER_WORDS[f"{_name}-{_uname}"] = _tens + _unit
        _NUMBER_WORDS[f"{_name} {_uname}"] = _tens + _unit


def _number(word: str) -> int | None:
    w = word.strip().lower()
    if w.isdigit():
        return int(w)
    return _NUMBER_WORDS.get(re.sub(r"\s+", " ", fold_word(w)))


def day_first(language: str | None) -> bool:
    """Whether an ambiguous slash date ("03/04") reads day-first for this account."""
    if not language:
        return False
    lang = language.lower().replace("_", "-")
    return not (lang == "en" or lang.startswith("en-us"))


# ------------------------------------------------------------------------- date arithmetic


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, calendar.monthrange(year, month + 1)[1]))


def _add_business_days(d: date, n: int) -> date:
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def _next_business_day(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest(sent: date, month: int, day: int) -> date | None:
    """The date with this month and day nearest ``sent`` (a tie goes to the future)."""
    best: date | None = None
    for year in (sent.year, sent.year + 1, sent.year - 1):
        d = _make(year, month, day)
        if d is None:
            continue
        if best is None or abs((d - sent).days) < abs((best - sent).days):
            best = d
    return best


def _year(raw: str | None) -> int | None:
    if not raw:
        return None
    y = int(raw)
    return 2000 + y if y < 100 else y


def _dated(sent: date, year: int | None, month: int, day: int) -> date | None:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    if year is None:
        return _nearest(sent, month, day)
    if not 1990 <= year <= 2100:
        return None
    return _make(year, month, day)


def _day_of_month(sent: date, day: int) -> date | None:
    """'the 20th': this month's, or next month's when it has passed (clamped)."""
    if not 1 <= day <= 31:
        return None
    this = date(sent.year, sent.month, min(day, calendar.monthrange(sent.year, sent.month)[1]))
    if this >= sent:
        return this
    nxt = _add_months(date(sent.year, sent.month, 1), 1)
    return date(nxt.year, nxt.month, min(day, calendar.monthrange(nxt.year, nxt.month)[1]))


def _upcoming(sent: date, weekday: int, min_days: int = 1) -> date:
    delta = (weekday - sent.weekday()) % 7
    while delta < min_days:
        delta += 7
    return sent + timedelta(days=delta)


def _previous(sent: date, weekday: int) -> date:
    delta = (sent.weekday() - weekday) % 7 or 7
    return sent - timedelta(days=delta)


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _this_friday(sent: date) -> date:
    """This week's Friday; on a Saturday or Sunday, next week's."""
    fri = _monday(sent) + timedelta(days=4)
    return fri if fri >= sent else fri + timedelta(days=7)


def _month_lookup(word: str | None) -> int | None:
    if not word:
        return None
    return _MONTHS.get(fold_word(word.rstrip(".")))


def _weekday_lookup(word: str) -> int | None:
    return _WEEKDAYS.get(fold_word(word.rstrip(".")))


# -------------------------------------------------------------------------------- patterns

_W = "a-zäöüßéû"
_ORD = r"(?:st|nd|rd|th|\.)"
_MON = rf"(?P<mon>[{_W}]{{3,10}})\.?"
_YEAR = r"(?P<y>\d{4})"
_NUM = (
    rf"(?:\d{{1,3}}|a\s+couple(?:\s+of)?|couple\s+of|a\s+few|ein\s+paar|"
    rf"(?:twenty|thirty)[\s-](?:one|two|three|four|five|six|seven|eight|nine)|[{_W}]+)"
)
_UNIT = fold_pattern(
    r"(?:business|working|bank(?:ing)?|calendar)\s+days?|days?|weeks?|fortnights?|months?|"
    r"(?:bank)?(?:werk|arbeits|geschäfts)tage?n?|kalendertage?n?|tage?n?|wochen|woche|"
    r"monate?n?|monat"
)

# One found date before clean-up: (start, end, first, value, kind).
_Hit = tuple[int, int, date | None, date, DateKind]
_Handler = Callable[[re.Match[str], str, date, bool], list[_Hit]]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(fold_pattern(pattern), re.IGNORECASE)


def _g(m: re.Match[str], *names: str) -> str | None:
    """The first of these named groups that took part in the match."""
    groups = m.groupdict()
    for name in names:
        value = groups.get(name)
        if value:
            return value
    return None


_PREP_BEFORE = _rx(
    r"(?:\b(?:on|by|this|next|coming|until|till|til|before|from|back|returning|latest|"
    r"am|bis|ab|zum|vom|diesen|nächsten|kommenden|spätestens)\s*,?\s*)$"
)
_WEEKDAY_BEFORE = re.compile(
    rf"\b(?P<wd>[{_W}]{{2,11}})\.?\s*,?\s*(?:the\s+|den\s+)?$", re.IGNORECASE
)


def _absorb_weekday(text: str, start: int) -> int:
    """Extend a date's start over a weekday written just before it ("Friday, 20 March")."""
    m = _WEEKDAY_BEFORE.search(text, max(0, start - 24), start)
    if m is None:
        return start
    word = fold_word(m["wd"])
    if word in _WEEKDAYS or word in _WEEKDAY_ABBREV or word in _WEEKDAY_DE_SHORT:
        return m.start("wd")
    return start


# Explicit dates -------------------------------------------------------------------------


def _explicit(m: re.Match[str], text: str, d: date | None) -> list[_Hit]:
    return [(_absorb_weekday(text, m.start()), m.end(), None, d, "explicit")] if d else []


def _h_iso(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    return _explicit(m, text, _dated(sent, int(m["y"]), int(m["m"]), int(m["d"])))


def _h_dmy_dot(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    return _explicit(m, text, _dated(sent, _year(_g(m, "y")), int(m["m"]), int(m["d"])))


_MONEY_BEFORE = re.compile(r"(?:[$€£]|\b(?:eur|usd|gbp|chf|um|at|ca)\.?)\s*$", re.IGNORECASE)


def _h_dm_dot_bare(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    if _MONEY_BEFORE.search(text, max(0, m.start() - 6), m.start()):
        return []
    return _h_dmy_dot(m, text, sent, dm)


_FRACTIONS = frozenset({(24, 7), (1, 2), (1, 3), (2, 3), (1, 4), (3, 4)})


def _h_slash(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    a, b = int(m["a"]), int(m["b"])
    year = _year(m["y"])
    if (
        year is None
        and (a, b) in _FRACTIONS
        and not _PREP_BEFORE.search(text, max(0, m.start() - 14), m.start())
    ):
        return []
    if a > 12 or (dm and b <= 12):
        day, month = a, b
    else:
        month, day = a, b
    return _explicit(m, text, _dated(sent, year, month, day))


def _h_day_month(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    month = _month_lookup(m["mon"])
    if month is None:
        return []
    return _explicit(m, text, _dated(sent, _year(m["y"]), month, int(m["d"])))


def _range(m: re.Match[str], begin: date | None, end: date | None) -> list[_Hit]:
    if end is None or begin is None or begin > end:
        return []
    return [
        (m.start(), m.end("d1"), None, begin, "explicit"),
        (m.start("d2"), m.end(), None, end, "explicit"),
    ]


def _h_range_dot(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    year = _year(m["y"])
    month2 = int(m["m2"])
    month1 = int(m["m1"]) if m["m1"] else month2
    end = _dated(sent, year, month2, int(m["d2"]))
    begin = _dated(sent, year or (end.year if end else None), month1, int(m["d1"]))
    return _range(m, begin, end)


def _h_range_month(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    month = _month_lookup(m["mon"])
    if month is None:
        return []
    year = _year(m["y"])
    end = _dated(sent, year, month, int(m["d2"]))
    begin = _dated(sent, year or (end.year if end else None), month, int(m["d1"]))
    return _range(m, begin, end)


def _h_weekday_day(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    """'Friday the 13th': the next such day falling on that weekday (else the day alone)."""
    word = fold_word(m["wd"])
    weekday = _WEEKDAYS.get(word, _WEEKDAY_ABBREV.get(word, _WEEKDAY_DE_SHORT.get(word)))
    if weekday is None:
        return []
    day = int(m["d"])
    first = _day_of_month(sent, day)
    if first is None:
        return []
    probe = date(first.year, first.month, 1)
    for _ in range(14):
        candidate = _make(probe.year, probe.month, day)
        if candidate and candidate >= sent and candidate.weekday() == weekday:
            return [(m.start(), m.end(), None, candidate, "explicit")]
        probe = _add_months(probe, 1)
    return [(m.start(), m.end(), None, first, "day")]


_NOT_A_DAY_AFTER = _rx(
    r"\s*(?:reminders?|notices?|times?|instal+ments?|payments?|invoices?|half|quarter|floor|"
    r"weeks?|warnings?|calls?|attempts?|tranches?|rates?|mahnung|erinnerung|stock|place|"
    r"anniversary|birthday|year|order|row|option|level|mal|zahlung|quartal|halbjahr|"
    r"woche|stelle|person|party|line|draft|rate|klasse|etage|€|eur|euro|%)"
)


def _h_day_only(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    if _NOT_A_DAY_AFTER.match(text, m.end()):
        return []
    d = _day_of_month(sent, int(m["d"]))
    return [(m.start("d"), m.end(), None, d, "day")] if d else []


# Relative days ----------------------------------------------------------------------------


def _h_days(days: int) -> _Handler:
    def handler(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
        return [(m.start(), m.end(), None, sent + timedelta(days=days), "relative")]

    return handler


_MORGEN_NOUN = _rx(r"\b(?:guten|gute[nm]?|am|jeden|heute|gestern|diesen|schönen|ganzen)\s+$")


def _h_tomorrow(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    if m[0].lower() == "morgen" and _MORGEN_NOUN.search(text, max(0, m.start() - 12), m.start()):
        return []
    return [(m.start(), m.end(), None, sent + timedelta(days=1), "relative")]


# Weekdays ---------------------------------------------------------------------------------


def _qualifier(raw: str | None) -> str:
    if not raw:
        return ""
    q = fold_word(raw.split()[0])
    if q.startswith(("next", "naechst", "nachst")):
        return "next"
    if q.startswith(("uebernaechst", "ubernachst")):
        return "after_next"
    if q in {"last", "past", "previous"} or q.startswith(("letzt", "vergangen")):
        return "last"
    return "this"


_SINCE_BEFORE = re.compile(r"\b(?:since|seit)\s+$", re.IGNORECASE)


def _h_weekday(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    word = fold_word(m["wd"])
    weekday = _WEEKDAYS.get(word)
    qualifier = _qualifier(m["q"])
    if weekday is None:
        weekday = _WEEKDAY_ABBREV.get(word)
        if weekday is None:
            return []
        if not qualifier and not _PREP_BEFORE.search(text, max(0, m.start() - 14), m.start()):
            return []
    if qualifier == "next":
        value = _upcoming(sent, weekday, 2)
    elif qualifier == "after_next":
        value = _upcoming(sent, weekday, 2) + timedelta(days=7)
    elif qualifier == "last" or _SINCE_BEFORE.search(text, max(0, m.start() - 7), m.start()):
        value = _previous(sent, weekday)
    else:
        value = _upcoming(sent, weekday, 1)
    return [(m.start(), m.end(), None, value, "weekday")]


def _h_weekday_next_week(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    word = fold_word(m["wd"])
    weekday = _WEEKDAYS.get(word, _WEEKDAY_ABBREV.get(word))
    if weekday is None:
        return []
    value = _monday(sent) + timedelta(days=7 + weekday)
    return [(m.start(), m.end(), None, value, "weekday")]


# Periods ----------------------------------------------------------------------------------


def _part(raw: str | None) -> str:
    p = re.sub(r"[\s-]+", " ", fold_word(raw or ""))
    if p in {"end", "ende", "late", "latter part", "second half", "last week", "close"}:
        return "end"
    if p in {"beginning", "start", "early", "anfang", "beginn", "first week", "first half"}:
        return "early"
    if p in {"middle", "mid", "mitte"}:
        return "mid"
    return "whole"


_NEXT_RE = re.compile(r"next|following|coming|naechst|nachst|kommend|folgend")


def _is_next(raw: str | None) -> bool:
    return bool(raw) and _NEXT_RE.search(fold_word(raw or "")) is not None


def _h_week(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    part = _part(_g(m, "part"))
    nxt = _is_next(_g(m, "which", "which_de"))
    monday = _monday(sent) + timedelta(days=7 if nxt else 0)
    if not nxt and sent.weekday() >= 5:
        monday += timedelta(days=7)
    friday = monday + timedelta(days=4)
    if part == "end":
        first, value = friday, friday
    elif part == "early":
        first, value = monday, monday + timedelta(days=2)
    elif part == "mid":
        first = value = monday + timedelta(days=2)
    else:
        first, value = monday, friday
    return [(m.start(), m.end(), max(first, sent), max(value, sent), "period")]


def _h_week_after_next(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    monday = _monday(sent) + timedelta(days=14)
    return [(m.start(), m.end(), monday, monday + timedelta(days=4), "period")]


def _h_weekend(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    nxt = _is_next(_g(m, "which"))
    saturday = _monday(sent) + timedelta(days=5 + (7 if nxt else 0))
    return [(m.start(), m.end(), max(saturday, sent), saturday + timedelta(days=1), "period")]


def _h_before_weekend(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    friday = _this_friday(sent)
    return [(m.start(), m.end(), friday, friday, "period")]


def _month_part(year: int, month: int, part: str) -> tuple[date, date]:
    last = _last_day(year, month)
    if part == "end":
        return last, last
    if part == "early":
        return date(year, month, 1), date(year, month, 10)
    if part == "mid":
        return date(year, month, 15), date(year, month, 15)
    return date(year, month, 1), last


def _h_month(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    part = _part(_g(m, "part"))
    if _g(m, "eom", "eom2"):
        part = "end"
    nxt = _is_next(_g(m, "which", "which_de"))
    base = _add_months(date(sent.year, sent.month, 1), 1 if nxt else 0)
    first, value = _month_part(base.year, base.month, part)
    if value < sent:
        # "early this month" written on the 20th: the next one.
        base = _add_months(base, 1)
        first, value = _month_part(base.year, base.month, part)
    return [(m.start(), m.end(), max(first, sent), value, "period")]


def _distance(span: tuple[date, date], sent: date) -> int:
    first, last = span
    if first <= sent <= last:
        return 0
    return min(abs((first - sent).days), abs((last - sent).days))


def _h_named_month(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    month = _month_lookup(_g(m, "mon", "mon2"))
    if month is None:
        return []
    part = _part(_g(m, "part", "part2"))
    year = _year(_g(m, "y", "y2"))
    if year is None:
        options = [_month_part(y, month, part) for y in (sent.year, sent.year + 1, sent.year - 1)]
        first, value = min(options, key=lambda span: _distance(span, sent))
    else:
        first, value = _month_part(year, month, part)
    return [(m.start(), m.end(), first, value, "period")]


def _h_year_end(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    year = sent.year + (1 if _is_next(_g(m, "which")) else 0)
    return [(m.start(), m.end(), None, date(year, 12, 31), "period")]


def _h_quarter_end(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    month = ((sent.month - 1) // 3 + 1) * 3 + (3 if _is_next(_g(m, "which")) else 0)
    year = sent.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return [(m.start(), m.end(), None, _last_day(year, month), "period")]


# Offsets ----------------------------------------------------------------------------------

_BUSINESS_UNIT = re.compile(r"business|working|bank|werk|arbeits|geschaefts|geschafts")


def _h_offset(m: re.Match[str], text: str, sent: date, dm: bool) -> list[_Hit]:
    n = _number(m["n"])
    if n is None:
        return []
    if _g(m, "n2"):
        n2 = _number(m["n2"])
        if n2 is None:
            return []
        n = max(n, n2)
    if not 0 < n <= 400:
        return []
    unit = fold_word(m["unit"])
    if _BUSINESS_UNIT.match(unit):
        value = _add_business_days(sent, n)
    elif unit.startswith(("week", "woche")):
        value = sent + timedelta(days=7 * n)
    elif unit.startswith("fortnight"):
        value = sent + timedelta(days=14 * n)
    elif unit.startswith(("month", "monat")):
        value = _add_months(sent, n)
    else:
        value = sent + timedelta(days=n)
    return [(m.start(), m.end(), None, value, "offset")]


# Rules, most specific first ----------------------------------------------------------------

_NEXT_WORD = r"(?:next|following|coming|nächste[nrms]?|kommende[nrms]?|folgende[nrms]?)"
_PART_EN = (
    r"(?P<part>end|beginning|start|middle|mid|early|late|latter\s+part|first\s+half|"
    r"second\s+half|first\s+week|last\s+week|close)"
)
_BY = r"(?:(?:by|at|towards?|before|until|till|in|around|for)\s+)?(?:the\s+)?"
_SPAN = r"(?:-|–|to|through|thru|until|till)"

_RULES: list[tuple[re.Pattern[str], _Handler]] = [
    # Ranges: "10.-19.03.", "March 10-19", "10 to 19 March".
    (
        _rx(
            r"(?<![\d.])(?P<d1>\d{1,2})\.(?:(?P<m1>\d{1,2})\.)?\s*(?:-|–|bis(?:\s+zum)?|to)\s*"
            r"(?P<d2>\d{1,2})\.(?P<m2>\d{1,2})\.(?:\s?(?P<y>\d{4}|\d{2})(?!\d))?"
        ),
        _h_range_dot,
    ),
    (
        _rx(
            rf"(?<![{_W}]){_MON}\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s*{_SPAN}\s*"
            rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?![\d:/]|[.,]\d)(?:,?\s*{_YEAR})?"
        ),
        _h_range_month,
    ),
    (
        _rx(
            rf"(?<![\d.])(?P<d1>\d{{1,2}}){_ORD}?\s*(?:{_SPAN}|bis(?:\s+zum)?)\s*"
            rf"(?P<d2>\d{{1,2}}){_ORD}?\s*(?:of\s+)?{_MON}(?:,?\s*{_YEAR})?(?![{_W}])"
        ),
        _h_range_month,
    ),
    # Explicit dates.
    (
        re.compile(r"(?<![\d.\-/])(?P<y>\d{4})([-/.])(?P<m>\d{1,2})\2(?P<d>\d{1,2})(?!\d)"),
        _h_iso,
    ),
    (
        re.compile(
            r"(?<![\d.,])(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\.(?:\s?(?P<y>\d{4}|\d{2})(?![\d.,:]))?"
        ),
        _h_dmy_dot,
    ),
    (
        _rx(
            rf"(?<![\d.])(?P<d>\d{{1,2}}){_ORD}?\s*(?:of\s+)?(?:-\s*)?{_MON}"
            rf"(?:[,\s-]*{_YEAR})?(?![{_W}])"
        ),
        _h_day_month,
    ),
    (
        _rx(
            rf"(?<![{_W}]){_MON}[\s-]+(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?"
            rf"(?![\d:]|[.,]\d)(?:,?\s*{_YEAR})?"
        ),
        _h_day_month,
    ),
    (
        re.compile(r"(?<![\w/#.\-])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\w/])"),
        _h_slash,
    ),
    (
        re.compile(r"(?<![\w\-])(?P<a>\d{1,2})-(?P<b>\d{1,2})-(?P<y>\d{4})(?![\d\-])"),
        _h_slash,
    ),
    (
        re.compile(
            r"(?<![\d.,])(?P<d>\d{1,2})\.(?P<m>\d{1,2})(?![\d.,]|\s*(?:€|eur|euro|usd|\$|uhr|h\b|"
            r"%|am\b|pm\b|prozent|mio|k\b))",
            re.IGNORECASE,
        ),
        _h_dm_dot_bare,
    ),
    # "Friday the 13th", "Freitag, den 13."
    (
        _rx(
            rf"\b(?P<wd>[{_W}]{{2,11}})\.?,?\s+(?:the\s+|den\s+)?(?P<d>\d{{1,2}})"
            rf"(?:st|nd|rd|th|\.(?!\d))(?!\d)"
        ),
        _h_weekday_day,
    ),
    # A day of the month alone: "the 20th", "am 20.".
    (re.compile(r"\b(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE), _h_day_only),
    (
        _rx(
            r"(?<![\w.])(?:am|zum|bis\s+zum|bis|ab\s+dem|ab|vom|den|per|spätestens(?:\s+am)?)\s+"
            r"(?P<d>\d{1,2})\.(?!\d)"
        ),
        _h_day_only,
    ),
    # A weekday of next week: "Friday next week", "nächste Woche Freitag".
    (
        _rx(
            rf"\b(?:(?:next|following)\s+week(?:'s)?|{_NEXT_WORD}\s+woche|in\s+der\s+"
            rf"{_NEXT_WORD}\s+woche)\s*,?\s*(?:on\s+|am\s+)?(?P<wd>[{_W}]{{3,11}})\b"
        ),
        _h_weekday_next_week,
    ),
    (
        _rx(
            rf"\b(?P<wd>[{_W}]{{3,11}})\.?\s*,?\s*(?:of\s+)?(?:(?:next|the\s+following)\s+week|"
            rf"(?:nächster|kommender|der\s+nächsten|der\s+kommenden)\s+woche)\b"
        ),
        _h_weekday_next_week,
    ),
    # Weeks.
    (
        _rx(r"\b(?:the\s+)?week\s+after\s+next\b|\b(?:in\s+der\s+)?übernächste[nr]?\s+woche\b"),
        _h_week_after_next,
    ),
    (
        _rx(
            rf"\b{_BY}{_PART_EN}(?:\s+of)?[\s-]+(?:the\s+)?(?P<which>{_NEXT_WORD}|this|current|"
            rf"the)?\s*week(?:'s)?\b"
        ),
        _h_week,
    ),
    (
        _rx(
            r"\b(?:bis\s+)?(?:zum\s+|zu\s+)?(?P<part>ende|anfang|mitte|beginn)\s+(?:der\s+|des\s+)?"
            rf"(?:(?P<which>{_NEXT_WORD}|diese[rn]?|laufende[rn]?)\s+)?woche\b"
        ),
        _h_week,
    ),
    (
        _rx(
            rf"\b(?:(?:later|sometime|some\s+time|by)\s+)?(?P<which>{_NEXT_WORD}|this|current)\s+"
            rf"week(?:'s)?\b|\b(?:in\s+|im\s+laufe\s+)?(?:der\s+)?(?P<which_de>{_NEXT_WORD}|"
            r"diese[rn]?)\s+woche\b|\bwithin\s+the\s+week\b|\binnerhalb\s+der\s+woche\b|"
            r"\bim\s+laufe\s+der\s+woche\b"
        ),
        _h_week,
    ),
    (_rx(r"\b(?:before|vor)\s+(?:the|dem)\s+(?:weekend|wochenende)\b"), _h_before_weekend),
    (
        _rx(
            r"\b(?:(?:over|during|on|at|by|übers|über|bis\s+zum|am)\s+)?(?:the\s+|das\s+)?"
            r"(?:(?P<which>next|nächste[ns]?|kommende[ns]?|this|dieses)\s+)?(?:weekend|wochenende)\b"
        ),
        _h_weekend,
    ),
    # Months.
    (
        _rx(
            rf"\b{_BY}{_PART_EN}(?:\s+of)?[\s-]+(?:the\s+)?(?P<which>{_NEXT_WORD}|this|current|"
            rf"the)?\s*month(?:'s)?\b"
        ),
        _h_month,
    ),
    (
        _rx(
            r"\b(?:(?:by|at|before|until|till)\s+)?(?:the\s+)?(?:(?P<which>next|this)\s+)?"
            r"(?P<eom>month[\s-]?end)\b|\b(?P<eom2>eom)\b"
        ),
        _h_month,
    ),
    (
        _rx(
            r"\b(?:bis\s+)?(?:zum\s+|zu\s+)?(?P<part>ende|anfang|mitte|beginn)\s+(?:des\s+)?"
            rf"(?:(?P<which>{_NEXT_WORD}|dieses|diesen|laufenden)\s+)?monat(?:s|es)?\b"
        ),
        _h_month,
    ),
    (_rx(r"\b(?:bis\s+)?(?:zum\s+)?monats(?P<part>ende|anfang|mitte|beginn)\b"), _h_month),
    (
        _rx(
            rf"\b(?:(?:later|sometime|some\s+time)\s+)?(?P<which>{_NEXT_WORD}|this|current)\s+"
            rf"month(?:'s)?\b|\b(?:in\s+|im\s+laufe\s+)?(?:des\s+|dem\s+|im\s+)?"
            rf"(?P<which_de>{_NEXT_WORD}|diese[nm]?|laufende[nm]?)\s+monat(?:s|es)?\b"
        ),
        _h_month,
    ),
    (
        _rx(
            rf"\b{_BY}{_PART_EN}(?:\s+of)?[\s-]+{_MON}(?:\s+{_YEAR})?(?![{_W}])|"
            r"\b(?:bis\s+)?(?:zum\s+|zu\s+)?(?P<part2>ende|anfang|mitte|beginn)\s+"
            rf"(?P<mon2>[{_W}]{{3,10}})\.?(?:\s+(?P<y2>\d{{4}}))?(?![{_W}])"
        ),
        _h_named_month,
    ),
    (
        _rx(rf"\b(?:in|im|during|within|throughout)\s+{_MON}(?:\s+{_YEAR})?(?![{_W}])(?!\s*\d)"),
        _h_named_month,
    ),
    # Years and quarters.
    (
        _rx(
            rf"\b{_BY}end\s+of\s+(?:the\s+)?(?P<which>{_NEXT_WORD}|this|current)?\s*year\b|"
            r"\b(?:bis\s+)?(?:zum\s+)?jahresende\b|\bende\s+(?:des|dieses)\s+jahres\b|"
            r"\byear[\s-]end\b"
        ),
        _h_year_end,
    ),
    (
        _rx(
            rf"\b{_BY}end\s+of\s+(?:the\s+)?(?P<which>{_NEXT_WORD}|this|current)?\s*quarter\b|"
            r"\b(?:bis\s+)?(?:zum\s+)?quartalsende\b|\bende\s+(?:des|dieses)\s+quartals\b|"
            r"\bquarter[\s-]end\b"
        ),
        _h_quarter_end,
    ),
    # Offsets.
    (
        _rx(
            r"\b(?:in|within|inside(?:\s+of)?|during|over|after|innerhalb(?:\s+von)?|binnen|"
            r"nach|in\s+den|innerhalb\s+der)\s+(?:the\s+)?(?:next\s+|coming\s+|another\s+|"
            rf"nächsten\s+|kommenden\s+|weiteren\s+)?(?P<n>{_NUM})(?:\s*(?:-|–|to|or|bis|oder)"
            rf"\s*(?P<n2>{_NUM}))?\s+(?:more\s+|further\s+|additional\s+|extra\s+|weiteren?\s+)?"
            rf"(?P<unit>{_UNIT})(?:'s?)?(?:\s+time)?\b"
        ),
        _h_offset,
    ),
    (
        _rx(
            rf"\b(?:noch\s+)?(?P<n>{_NUM})(?:\s*(?:-|–|to|or|bis|oder)\s*(?P<n2>{_NUM}))?\s+"
            rf"(?:more|further|additional|extra|weitere|weiteren|zusätzliche)\s+(?P<unit>{_UNIT})\b"
        ),
        _h_offset,
    ),
    (
        _rx(
            rf"\b(?P<n>{_NUM})(?:\s*(?:-|–|to|or)\s*(?P<n2>{_NUM}))?\s+(?P<unit>{_UNIT})\s+"
            r"(?:from\s+(?:now|today)|ab\s+(?:heute|jetzt|sofort)|later|später)\b"
        ),
        _h_offset,
    ),
    (_rx(rf"\bnoch\s+(?P<n>{_NUM})\s+(?P<unit>tage?n?|wochen|woche)\b"), _h_offset),
    # Weekdays.
    (
        _rx(
            r"\b(?:(?P<q>this\s+coming|this|next|coming|last|past|previous|diese[nrms]?|"
            r"nächste[nrms]?|kommende[nrms]?|letzte[nrms]?|vergangene[nrms]?|"
            rf"übernächste[nrms]?)\s+)?(?P<wd>[mtwfsd][{_W}]{{2,10}})\b\.?"
        ),
        _h_weekday,
    ),
    # Single days.
    (_rx(r"\b(?:the\s+)?day\s+after\s+tomorrow\b|\bübermorgen\b"), _h_days(2)),
    (_rx(r"\b(?:the\s+)?day\s+before\s+yesterday\b|\bvorgestern\b"), _h_days(-2)),
    (_rx(r"\btom+or+ow\b|\btmrw?\b|\b2morrow\b|\bmorgen\b"), _h_tomorrow),
    (_rx(r"\byesterday\b|\bgestern\b"), _h_days(-1)),
    (
        _rx(
            r"\b(?:later\s+)?today\b|\btonight\b|\bthis\s+(?:afternoon|evening)\b|"
            r"\b(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?(?:business\s+)?day\b|"
            r"\b(?:by\s+)?close\s+of\s+business\b|\beod\b|\bcob\b|\b(?:noch\s+)?heute(?:\s+noch)?\b"
        ),
        _h_days(0),
    ),
]


def resolve_dates(text: str, sent: date, *, language: str | None = None) -> list[FoundDate]:
    """Every date ``text`` names, resolved against ``sent`` (the email's date in its own
    offset), in reading order. Overlapping readings go to the more specific rule."""
    if not text:
        return []
    dm = day_first(language)
    taken: list[tuple[int, int]] = []
    hits: list[_Hit] = []
    for pattern, handler in _RULES:
        for m in pattern.finditer(text):
            for hit in handler(m, text, sent, dm):
                start, end = hit[0], hit[1]
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                hits.append(hit)
    hits.sort(key=lambda h: h[0])
    return [
        FoundDate(value=value, words=text[start:end], start=start, end=end, kind=kind, first=first)
        for start, end, first, value, kind in hits
    ]


# ---------------------------------------------------------------------------------- clauses

_CLAUSE_BREAK = re.compile(
    r"[!?;\n]+|(?<![\d\s])(?<!\b[a-z])\.+(?=\s|$)|(?<=\d\d\d)\.(?=\s|$)|,(?=\s)|:\s|"
    r"\s(?:but|aber|however|jedoch|sondern|although|though|obwohl|whereas|and|und|then|dann|"
    r"also|plus|as\s+well\s+as|sowie)\s|\s[-–]\s",
    re.IGNORECASE,
)


def clause_spans(text: str) -> list[tuple[int, int]]:
    """Clause boundaries: sentences, split again at commas and at "but", "and", "aber",
    "und" ... A date or a negation belongs to the clause it is in."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _CLAUSE_BREAK.finditer(text):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans or [(0, len(text))]


def clause_at(spans: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    """The clause holding ``pos`` (or the one just before it)."""
    starts = [s for s, _ in spans]
    i = max(0, bisect.bisect_right(starts, pos) - 1)
    return spans[i]


NEGATION = re.compile(
    fold_pattern(
        r"\b(?:not|never|no|cannot|can't|cant|won't|wont|don't|dont|didn't|didnt|haven't|"
        r"havent|hasn't|hasnt|isn't|isnt|wasn't|wasnt|aren't|arent|weren't|doesn't|doesnt|"
        r"couldn't|couldnt|shouldn't|wouldn't|unable|nicht|nie|niemals|kein|keine|keinen|"
        r"keinem|keiner|keines)\b|n't\b"
    ),
    re.IGNORECASE,
)
_NOT_BEFORE = _rx(r"\b(?:before|until|till|prior\s+to|vor|bis|erst|earlier\s+than|later\s+than)\b")
_PAY_CUE = _rx(
    r"\b(?:pay|paid|paying|payment|payments|settle|settled|transfer|wire|remit|remittance|"
    r"process|release|run|instal+ment|rest|remainder|remaining|balance|"
    r"zahl\w*|bezahl\w*|überw\w*|begleich\w*|ausgleich\w*|anweis\w*|erfolg\w*|veranlass\w*|"
    r"rate|raten|restbetrag|rest)\b"
    # an amount is what gets paid: "we can do $2,000 by March 31"
    r"|[$€£]\s?\d|\b\d[\d.,]*\s?(?:€|[$£]|eur\b|usd\b|gbp\b|chf\b)"
)
_NOT_A_PROMISE_BEFORE = _rx(
    r"\b(?:due|fällig|dated|datiert|vom|invoice\s+date|rechnungsdatum|issued|since|seit|"
    r"received|erhalten|sent|geschickt|billed|from)\W*(?:on|am|at|the|den|dem)?\W*$"
)


def _negated_before(text: str, clause_start: int, pos: int) -> bool:
    """A negation earlier in the clause, not answered by "before"/"until" ("we can't pay
    before the 20th" still names the 20th)."""
    window = text[clause_start:pos]
    last = None
    for last in NEGATION.finditer(window):  # noqa: B007 - the last negation counts
        pass
    if last is None:
        return False
    return _NOT_BEFORE.search(window, last.end()) is None


# German puts the negation after the date: "Wir können diese Woche nicht zahlen" (but
# "Vor dem 20. können wir nicht zahlen" still names the 20th).
_NEGATED_AFTER = _rx(
    r"\b(?:nicht|nie|niemals|kein\w*)\s+(?:[\w']+\s+){0,2}?(?:zahl\w*|bezahl\w*|überw\w*|"
    r"begleich\w*|ausgleich\w*|anweis\w*|veranlass\w*|möglich|machbar)\b"
)


def promise_date(
    text: str,
    sent: date,
    *,
    language: str | None = None,
    found: list[FoundDate] | None = None,
) -> FoundDate | None:
    """The date a payment is committed to: the first date on or after ``sent`` in a clause
    that talks about paying and is not negated ("we can't pay this week, but next week"
    -> next week); failing that, the first such date in any clause that is not negated.
    Dates cited as due or invoice dates ("due on the 5th", "vom 01.03.") are skipped."""
    found = resolve_dates(text, sent, language=language) if found is None else found
    spans = clause_spans(text)
    fallback: FoundDate | None = None
    for item in found:
        if item.value < sent:
            continue
        start, end = clause_at(spans, item.start)
        if _negated_before(text, start, item.start) or (
            _NEGATED_AFTER.search(text, item.end, max(end, item.end))
            and not _NOT_BEFORE.search(text, start, item.start)
        ):
            continue
        if _NOT_A_PROMISE_BEFORE.search(text, max(start, item.start - 24), item.start):
            continue
        if _PAY_CUE.search(text, start, max(end, item.end)):
            return item
        if fallback is None:
            fallback = item
    return fallback


_SENTENCE_BREAK = re.compile(r"[!?;\n]+|(?<![\d\s])(?<!\b[a-z])\.+(?=\s|$)|(?<=\d\d\d)\.(?=\s|$)")


def sentence_at(text: str, pos: int) -> tuple[int, int]:
    """The sentence holding ``pos``: ``clause_spans`` without the comma and conjunction
    breaks ("I'll pay it when I'm back, Monday the 23rd." is one sentence)."""
    return clause_at(_sentence_spans(text), pos)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_BREAK.finditer(text):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans or [(0, len(text))]


_BACK_CUE = _rx(
    r"\b(?:back|return|returning|returns|wieder|zurück|available|reachable|erreichbar|"
    r"in\s+the\s+office|im\s+büro|resume|anwesend|retour)\b"
)
_UNTIL_CUE = _rx(
    r"(?:\b(?:until|till|til|through|thru|to|including|inclusive|bis|einschließlich|"
    r"inklusive)\b|[-–])[\s\w,.]*$"
)
_FROM_AWAY_CUE = _rx(r"\b(?:ab|from|starting|beginning|vom|seit|since)\b[\s\w,.]*$")
# "until"/"bis" that a period's own words took in ("until the end of next week").
_UNTIL_WORDS = _rx(r"(?:until|till|til|bis)\b")
# "Ab dem 23.03. bin ich wieder im Büro": "ab X", the back cue later in the clause.
_AB_BEFORE = _rx(r"\bab\s+(?:dem\s+|den\s+)?$")
_BACK_LATER = _rx(r"\b(?:wieder|zurück)\b")


def return_date(
    text: str,
    sent: date,
    *,
    language: str | None = None,
    found: list[FoundDate] | None = None,
) -> date | None:
    """When an absent person is back, from an out-of-office text.

    "back on X", "returning X", "zurück am X", "ab X wieder im Büro": X (a period: its
    first day). "out until X", "bis X abwesend", "10.-19.03.": the day after X, moved to
    Monday when it falls on a weekend (for a period without "end": its first day, "out
    until next week" = next Monday). A back-cue date wins over an until-cue date; with
    neither, ``None``."""
    found = resolve_dates(text, sent, language=language) if found is None else found
    spans = clause_spans(text)
    back: date | None = None
    until: date | None = None
    for item in found:
        if item.value < sent:
            continue
        start, end = clause_at(spans, item.start)
        # a date the clause break runs through ("ab Montag, 13. April"): its last clause
        end = max(end, clause_at(spans, max(item.start, item.end - 1))[1])
        before = text[max(start, item.start - 40) : item.start]
        after = text[item.end : min(end, item.end + 30)]
        if (
            _BACK_CUE.search(before)
            or re.match(r"\s*(?:wieder|zurück|zurueck|back)\b", after, re.IGNORECASE)
            or (_AB_BEFORE.search(before) and _BACK_LATER.search(after))
        ):
            if back is None:
                back = item.earliest
            continue
        if (
            _UNTIL_CUE.search(before) or _UNTIL_WORDS.match(item.words)
        ) and not _FROM_AWAY_CUE.search(before[-12:]):
            if (
                item.first is not None
                and item.first != item.value
                and "end" not in (fold_word(item.words))
            ):
                candidate = item.first
            else:
                candidate = _next_business_day(item.value + timedelta(days=1))
            if until is None or candidate > until:
                until = candidate
    return back or until
