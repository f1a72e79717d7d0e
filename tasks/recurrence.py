"""Recurring tasks: a task's RFC 5545 recurrence rule, checked, and its next occurrence.

A task's ``recurrence`` is the value of an RRULE property (RFC 5545 §3.8.5.3) whose start
(DTSTART) is the task's ``due_to``: ``FREQ=WEEKLY;BYDAY=MO``. Completing the task moves
``due_to`` to the rule's next occurrence after the current one (tasks.services).

What a rule may be, and why:

- The grammar of §3.3.10, exactly: FREQ required, every part at most once,
  not both UNTIL and COUNT, each number in its range, and none of the parts §3.3.10 forbids
  with the frequency (BYWEEKNO other than YEARLY, BYYEARDAY other than YEARLY, BYMONTHDAY
  with WEEKLY, a numbered BYDAY other than MONTHLY or YEARLY or beside BYWEEKNO, BYSETPOS
  alone). Names and values in any case, with or without a leading ``RRULE:``; nothing else:
  no DTSTART (``due_to`` is the start), no other property, no extension part (RFC 7529's
  RSCALE and SKIP included). Neither dateutil's ``rrulestr`` nor icalendar's ``vRecur``
  checks this (both take repeated parts, a negative COUNT, BYMONTH=13 or unknown parts), so
  the check is written here; dateutil computes the occurrences.
- FREQ is DAILY, WEEKLY, MONTHLY or YEARLY, and BYHOUR, BYMINUTE and BYSECOND are refused:
  a task's time of day is its ``due_to``'s, and a to-do recurs at most daily. Those parts
  are what would let one rule ask for up to 86,400 occurrences a day, each one for the
  server to step through.
- The next occurrence is looked for within ``HORIZON_DAYS`` (50 years) of ``due_to``, and
  at most once per period of the rule (each day, week, month or year in that span, a period
  per INTERVAL): a rule that never occurs (``FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30``, which
  §3.3.10 lets through: invalid dates are ignored) or occurs only beyond it has no next
  occurrence, found in bounded work. dateutil alone would look until the year 9999
  (seconds of work for a daily rule; dateutil issues #1094, #1393), so it is asked for one
  month or year at a time (``_month_or_year()``). INTERVAL is refused when one interval does
  not fit in the horizon (it could never recur), and COUNT is at most ``MAX_COUNT``; what
  COUNT counts is ``completion()``'s.
- UNTIL is a UTC date-time (``20301231T235959Z``): §3.3.10 wants UNTIL of DTSTART's value
  type, and ``due_to`` is a UTC date-time.

A rule is stored and answered in one form (``Rule.text``): upper case, the parts in the order
§3.3.10 lists them (FREQ first, as §3.3.10 asks writers to, for older readers), numbers
without a plus sign or leading zeros.

Everything is read in UTC, as ``due_to`` is: BYDAY=MO is a Monday in UTC, BYMONTHDAY=1 the
first of a month in UTC, and an occurrence is at ``due_to``'s time of day in UTC. A client in
another zone whose due time falls on another date there sees the weekday of UTC.
"""

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import MAXYEAR, UTC, date, datetime

from dateutil.rrule import MONTHLY, YEARLY, rrule, weekdays

MAX_LENGTH = 255  # the model's column
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # as date.weekday() counts them
# 50 years of 365.2425 days: the search horizon of the next occurrence.
HORIZON_YEARS = 50
HORIZON_DAYS = 18_262
# The longest INTERVAL of each frequency: one interval within the horizon.
MAX_INTERVAL = {
    "DAILY": HORIZON_DAYS,
    "WEEKLY": HORIZON_DAYS // 7,
    "MONTHLY": HORIZON_YEARS * 12,
    "YEARLY": HORIZON_YEARS,
}
# 27 years of daily completions, one at a time; a series longer than that has no COUNT.
MAX_COUNT = 10_000
# The parts, in the order §3.3.10 lists them (and the stored form writes them).
PARTS = (
    "FREQ",
    "UNTIL",
    "COUNT",
    "INTERVAL",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
SUB_DAILY_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
# Number lists: the part, and (signed, most digits, largest magnitude) from §3.3.10's grammar.
NUMBER_LISTS = {
    "BYMONTHDAY": (True, 2, 31),
    "BYYEARDAY": (True, 3, 366),
    "BYWEEKNO": (True, 2, 53),
    "BYMONTH": (False, 2, 12),
    "BYSETPOS": (True, 3, 366),
}
EXAMPLE = "FREQ=WEEKLY;BYDAY=MO"


class RecurrenceError(ValueError):
    """A recurrence rule refused: the message says why, for the client to read."""


@dataclass(frozen=True)
class Rule:
    """A checked rule. Parts not given are None (INTERVAL, WKST) or empty, so that the
    stored form writes back only what was given."""

    freq: str
    until: datetime | None = None
    count: int | None = None
    interval: int | None = None
    by_day: tuple[tuple[int, int], ...] = ()  # (ordinal, weekday): ordinal 0 is every such weekday
    by_month_day: tuple[int, ...] = ()
    by_year_day: tuple[int, ...] = ()
    by_week_no: tuple[int, ...] = ()
    by_month: tuple[int, ...] = ()
    by_set_pos: tuple[int, ...] = ()
    week_start: int | None = None

    @property
    def text(self) -> str:
        """The stored form: see the module's docstring."""
        parts = [f"FREQ={self.freq}"]
        if self.until is not None:
            until = self.until
            parts.append(
                f"UNTIL={until.year:04d}{until.month:02d}{until.day:02d}"
                f"T{until.hour:02d}{until.minute:02d}{until.second:02d}Z"
            )
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.interval is not None:
            parts.append(f"INTERVAL={self.interval}")
        if self.by_day:
            parts.append(
                "BYDAY=" + ",".join(f"{ordinal or ''}{WEEKDAYS[day]}" for ordinal, day in self.by_day)
            )
        for name, values in (
            ("BYMONTHDAY", self.by_month_day),
            ("BYYEARDAY", self.by_year_day),
            ("BYWEEKNO", self.by_week_no),
            ("BYMONTH", self.by_month),
            ("BYSETPOS", self.by_set_pos),
        ):
            if values:
                parts.append(f"{name}=" + ",".join(str(value) for value in values))
        if self.week_start is not None:
            parts.append(f"WKST={WEEKDAYS[self.week_start]}")
        return ";".join(parts)


def _shown(text: str) -> str:
    """Client text in a message: cut short, as repr() writes it."""
    return repr(text if len(text) <= 20 else text[:20] + "...")


def _integer(text: str, *, part: str, signed: bool, digits: int, low: int, high: int) -> int:
    """An integer of §3.3.10's grammar: ``[+/-]`` when ``signed``, then 1 to ``digits``
    ASCII digits; its magnitude within ``low`` and ``high``."""
    body = text[1:] if signed and text[:1] in ("+", "-") else text
    if not (1 <= len(body) <= digits and body.isascii() and body.isdigit()):
        sign = "an optional + or -, then " if signed else ""
        raise RecurrenceError(f"{part}: {_shown(text)} is not a number ({sign}1 to {digits} digits).")
    value = int(text)
    if not low <= abs(value) <= high:
        span = f"{low} to {high}" + (f" or -{high} to -{low}" if signed else "")
        raise RecurrenceError(f"{part}: {value} is out of range ({span}).")
    return value


def _weekday(text: str, *, part: str) -> int:
    if text not in WEEKDAYS:
        raise RecurrenceError(f"{part}: {_shown(text)} is not a weekday ({', '.join(WEEKDAYS)}).")
    return WEEKDAYS.index(text)


def _until(text: str) -> datetime:
    """A UTC DATE-TIME (§3.3.5, form #2): ``YYYYMMDDTHHMMSSZ``."""
    shape = len(text) == 16 and text[8] == "T" and text[15] == "Z"
    digits = text[:8] + text[9:15]
    if not (shape and digits.isascii() and digits.isdigit()):
        raise RecurrenceError(
            f"UNTIL: {_shown(text)} is not a UTC date-time such as 20301231T235959Z (the same "
            "value type as the start, due_to, as RFC 5545 §3.3.10 requires)."
        )
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise RecurrenceError(f"UNTIL: {_shown(text)} is not a valid date-time ({exc}).") from exc


def _by_day(text: str, *, freq: str) -> tuple[tuple[int, int], ...]:
    days = []
    for item in text.split(","):
        ordinal_text, weekday_text = item[:-2], item[-2:]
        ordinal = 0
        if ordinal_text:
            if freq not in ("MONTHLY", "YEARLY"):
                raise RecurrenceError(
                    f"BYDAY: a numbered weekday ({_shown(item)}) needs FREQ=MONTHLY or FREQ=YEARLY."
                )
            ordinal = _integer(ordinal_text, part="BYDAY", signed=True, digits=2, low=1, high=53)
        days.append((ordinal, _weekday(weekday_text, part="BYDAY")))
    return tuple(days)


def recurrence_parse(value: str) -> Rule:
    """The rule ``value`` stands for; RecurrenceError saying what is wrong with it."""
    if len(value) > MAX_LENGTH:
        raise RecurrenceError(f"At most {MAX_LENGTH} characters.")
    if not value.isascii():
        raise RecurrenceError(f"A rule is ASCII letters, digits and + - , ; =, e.g. {EXAMPLE}.")
    text = value.upper()
    text = text.removeprefix("RRULE:")
    if "DTSTART" in text:
        raise RecurrenceError(
            f"Give the rule alone, e.g. {EXAMPLE}: the task's due_to is its start (DTSTART)."
        )
    if not text:
        raise RecurrenceError(f"Give a rule, e.g. {EXAMPLE}, or null for none.")
    given: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, part_value = part.partition("=")
        if not (equals and name and part_value):
            raise RecurrenceError(
                f"{_shown(part)} is not a rule part NAME=VALUE; a rule is such parts joined by ;, e.g. {EXAMPLE}."
            )
        if name in SUB_DAILY_PARTS:
            raise RecurrenceError(
                f"{name} is not taken: a task recurs at its due_to's time of day, at most daily."
            )
        if name not in PARTS:
            raise RecurrenceError(f"{_shown(name)} is not a rule part taken here ({', '.join(PARTS)}).")
        if name in given:
            raise RecurrenceError(f"{name} is given twice; each part at most once (RFC 5545 §3.3.10).")
        given[name] = part_value
    return _rule(given)


def _rule(given: dict[str, str]) -> Rule:
    """The rule of its parts (each a known name with a value), checked against §3.3.10."""
    freq = given.get("FREQ")
    if freq is None:
        raise RecurrenceError(f"FREQ is required, e.g. {EXAMPLE}.")
    if freq not in FREQUENCIES:
        if freq in ("HOURLY", "MINUTELY", "SECONDLY"):
            raise RecurrenceError(f"FREQ={freq} is not taken: a task recurs at most daily.")
        raise RecurrenceError(f"FREQ: {_shown(freq)} is not one of {', '.join(FREQUENCIES)}.")
    if "UNTIL" in given and "COUNT" in given:
        raise RecurrenceError("Give UNTIL or COUNT, not both (RFC 5545 §3.3.10).")
    if "BYWEEKNO" in given and freq != "YEARLY":
        raise RecurrenceError("BYWEEKNO needs FREQ=YEARLY (RFC 5545 §3.3.10).")
    if "BYYEARDAY" in given and freq != "YEARLY":
        raise RecurrenceError("BYYEARDAY needs FREQ=YEARLY (RFC 5545 §3.3.10).")
    if "BYMONTHDAY" in given and freq == "WEEKLY":
        raise RecurrenceError("BYMONTHDAY cannot go with FREQ=WEEKLY (RFC 5545 §3.3.10).")
    if "BYSETPOS" in given and not any(name.startswith("BY") and name != "BYSETPOS" for name in given):
        raise RecurrenceError("BYSETPOS needs another BY part to choose from (RFC 5545 §3.3.10).")

    interval = None
    if "INTERVAL" in given:
        interval = _integer(
            given["INTERVAL"], part="INTERVAL", signed=False, digits=5, low=1, high=MAX_INTERVAL[freq]
        )
    count = None
    if "COUNT" in given:
        count = _integer(given["COUNT"], part="COUNT", signed=False, digits=5, low=1, high=MAX_COUNT)
    by_day = _by_day(given["BYDAY"], freq=freq) if "BYDAY" in given else ()
    if "BYWEEKNO" in given and any(ordinal for ordinal, _ in by_day):
        raise RecurrenceError("BYDAY cannot be numbered beside BYWEEKNO (RFC 5545 §3.3.10).")
    lists = {
        name: tuple(
            _integer(item, part=name, signed=signed, digits=digits, low=1, high=high)
            for item in given[name].split(",")
        )
        for name, (signed, digits, high) in NUMBER_LISTS.items()
        if name in given
    }
    return Rule(
        freq=freq,
        until=_until(given["UNTIL"]) if "UNTIL" in given else None,
        count=count,
        interval=interval,
        by_day=by_day,
        by_month_day=lists.get("BYMONTHDAY", ()),
        by_year_day=lists.get("BYYEARDAY", ()),
        by_week_no=lists.get("BYWEEKNO", ()),
        by_month=lists.get("BYMONTH", ()),
        by_set_pos=lists.get("BYSETPOS", ()),
        week_start=_weekday(given["WKST"], part="WKST") if "WKST" in given else None,
    )


def recurrence_text(value: str) -> str:
    """``value`` in the stored form; RecurrenceError if it is not a rule taken here."""
    return recurrence_parse(value).text


# The next occurrence, in bounded work.


def _period_starts(rule: Rule, anchor: date) -> Iterator[date]:
    """The first day of each period of the rule from the one holding ``anchor`` (each day,
    week, month or year, every INTERVAL), up to HORIZON_DAYS after it: at most HORIZON_DAYS
    + 1 periods, however the rule reads."""
    interval = rule.interval or 1
    last = min(anchor.toordinal() + HORIZON_DAYS, date.max.toordinal())
    if rule.freq in ("DAILY", "WEEKLY"):
        if rule.freq == "DAILY":
            start, step = anchor.toordinal(), interval
        else:  # weeks begin on WKST, Monday unless given (§3.3.10)
            start = anchor.toordinal() - (anchor.weekday() - (rule.week_start or 0)) % 7
            step = 7 * interval
        for ordinal in range(start, last + 1, step):
            yield date.fromordinal(ordinal)
        return
    # Months counted from the year 0: the anchor's month, or its year's January.
    if rule.freq == "MONTHLY":
        month, months = anchor.year * 12 + anchor.month - 1, interval
    else:
        month, months = anchor.year * 12, 12 * interval
    while True:
        year, month_of_year = divmod(month, 12)
        if year > MAXYEAR:
            return
        start_day = date(year, month_of_year + 1, 1)
        if start_day.toordinal() > last:
            return
        yield start_day
        month += months


def _positions(days: list[date], positions: tuple[int, ...]) -> list[date]:
    """BYSETPOS: the days at those positions of a period's set, 1 the first, -1 the last."""
    if not positions:
        return days
    size = len(days)
    return sorted(
        {days[position - 1 if position > 0 else position] for position in positions if abs(position) <= size}
    )


# An expansion: the first day of a period of the rule to the days of that period it keeps.
Expansion = Callable[[date], list[date]]


def _day_or_week(rule: Rule, anchor: date) -> Expansion:
    """The expansion of a DAILY or WEEKLY rule.

    Here the BY parts only narrow a day or the seven days of a week (§3.3.10's table: BYMONTH,
    BYMONTHDAY and BYDAY limit a day; BYMONTH limits and BYDAY picks in a week), a few set
    lookups per day, written here; dateutil expands months and years.

    A week is always its seven days, the first one included: BYSETPOS counts from WKST, not
    from DTSTART (dateutil starts the first week at DTSTART). So the occurrences after one
    occurrence are the same whichever occurrence is the start, which completing a task
    relies on: it moves the start (``due_to``) to the next occurrence.
    """
    months = frozenset(rule.by_month)
    month_days = frozenset(rule.by_month_day)
    days_of_week = frozenset(day for _, day in rule.by_day)
    if rule.freq == "WEEKLY" and not days_of_week:
        days_of_week = frozenset({anchor.weekday()})  # a week's day is DTSTART's unless BYDAY says
    length = 1 if rule.freq == "DAILY" else 7

    def kept(day: date) -> bool:
        if months and day.month not in months:
            return False
        if days_of_week and day.weekday() not in days_of_week:
            return False
        if month_days and day.day not in month_days:
            from_end = day.day - calendar.monthrange(day.year, day.month)[1] - 1  # -1: the last day
            return from_end in month_days
        return True

    def expand(start: date) -> list[date]:
        if length == 1:
            days = [start] if kept(start) else []
        else:
            first = start.toordinal()
            ordinals = range(first, min(first + length, date.max.toordinal() + 1))
            days = [day for ordinal in ordinals if kept(day := date.fromordinal(ordinal))]
        return _positions(days, rule.by_set_pos)

    return expand


# dateutil steps a rule period by period until it finds an occurrence or passes the year
# 9999. With an INTERVAL that long, it reads exactly one period, whatever the rule.
_ONE_PERIOD = {"MONTHLY": 12 * MAXYEAR, "YEARLY": MAXYEAR}


def _month_or_year(rule: Rule, anchor: date) -> Expansion:
    """The expansion of a MONTHLY or YEARLY rule, by dateutil: numbered weekdays, days counted
    from a month's end, week numbers (WKST), BYSETPOS."""
    by_month, by_month_day = rule.by_month, rule.by_month_day
    if not (rule.by_week_no or rule.by_year_day or rule.by_month_day or rule.by_day):
        # No day given: DTSTART's day (and month, yearly), which dateutil would take from
        # each period's own start here.
        by_month_day = (anchor.day,)
        if rule.freq == "YEARLY" and not by_month:
            by_month = (anchor.month,)
    options = {
        "freq": YEARLY if rule.freq == "YEARLY" else MONTHLY,
        "interval": _ONE_PERIOD[rule.freq],
        "wkst": rule.week_start or 0,  # Monday unless given (§3.3.10), not the locale's
        "bymonth": by_month or None,
        "bymonthday": by_month_day or None,
        "byyearday": rule.by_year_day or None,
        "byweekno": rule.by_week_no or None,
        "byweekday": [weekdays[day](ordinal or None) for ordinal, day in rule.by_day] or None,
        "bysetpos": rule.by_set_pos or None,
    }

    def expand(start: date) -> list[date]:
        # Dates only: an occurrence's time of day is due_to's.
        period = rrule(dtstart=datetime(start.year, start.month, 1), **options)  # noqa: DTZ001
        return [occurrence.date() for occurrence in period]

    return expand


def occurrence_after(rule: Rule, *, start: datetime) -> datetime | None:
    """The rule's first occurrence after ``start`` (its DTSTART), within HORIZON_DAYS and
    UNTIL; None if there is none. COUNT is not read: see ``completion()``. Every part is read
    in UTC, and the occurrence is at ``start``'s time of day in UTC (see the module's
    docstring).

    Each period of the rule in the horizon is expanded at most once (see
    ``_period_starts()``), so a rule that never occurs costs a bounded number of steps.
    """
    start = start.astimezone(UTC)
    anchor = start.date()
    expand = (_day_or_week if rule.freq in ("DAILY", "WEEKLY") else _month_or_year)(rule, anchor)
    for period in _period_starts(rule, anchor):
        if rule.until is not None and period > rule.until.date():
            return None
        for day in expand(period):
            occurrence = datetime.combine(day, start.timetz())
            if occurrence > start:
                if rule.until is not None and occurrence > rule.until:
                    return None
                return occurrence
    return None


@dataclass(frozen=True)
class Completion:
    """What completing a recurring task makes of it: due at the next occurrence, with the
    rule of the occurrences left."""

    due_to: datetime
    recurrence: str


def completion(recurrence: str, *, due_to: datetime) -> Completion | None:
    """The task due at ``due_to`` with ``recurrence``, once that occurrence is completed:
    due at the next occurrence after ``due_to``; None when the series ends there (UNTIL
    passed, COUNT used up, or no occurrence within the horizon).

    COUNT counts the occurrences left, the one due at ``due_to`` included: DTSTART always
    counts as the first occurrence (§3.8.5.3), and ``due_to`` is DTSTART. Each completion
    takes one: COUNT=3 becomes COUNT=2 with the next ``due_to``, and completing COUNT=1
    ends the series. So the rule and ``due_to`` together always describe the occurrences to
    come, as a calendar reading the task's VTODO counts them.
    """
    rule = recurrence_parse(recurrence)
    if rule.count == 1:
        return None
    following = occurrence_after(rule, start=due_to)
    if following is None:
        return None
    if rule.count is not None:
        rule = replace(rule, count=rule.count - 1)
    return Completion(due_to=following, recurrence=rule.text)
