"""Recurring tasks: the RRULE a task takes (tasks.recurrence), its next occurrence, and what
completing a recurring task does through the API."""

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from dateutil.rrule import rrulestr
from django.utils import timezone
from rest_framework.test import APIClient

from tasks import recurrence
from tasks.models import Task
from tasks.reads import instant_text
from tasks.recurrence import (
    HORIZON_DAYS,
    HORIZON_YEARS,
    RecurrenceError,
    completion,
    occurrence_after,
    recurrence_parse,
    recurrence_text,
)
from tests.helpers.linear import assert_linear

# 2030-01-07 is a Monday.
MONDAY = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)
NEVER = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# What a rule may be

ACCEPTED = [
    ("FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO"),
    ("rrule:freq=weekly;byday=mo", "FREQ=WEEKLY;BYDAY=MO"),  # any case, RRULE: dropped
    ("BYDAY=MO,WE;INTERVAL=2;FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"),  # FREQ first
    ("FREQ=MONTHLY;BYDAY=+1MO,-1FR", "FREQ=MONTHLY;BYDAY=1MO,-1FR"),
    ("FREQ=MONTHLY;BYMONTHDAY=+05,-1", "FREQ=MONTHLY;BYMONTHDAY=5,-1"),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
    ("WKST=SU;BYDAY=MO;BYWEEKNO=20,-1;FREQ=YEARLY", "FREQ=YEARLY;BYDAY=MO;BYWEEKNO=20,-1;WKST=SU"),
    ("FREQ=YEARLY;BYYEARDAY=1,-1;BYMONTH=1,12", "FREQ=YEARLY;BYYEARDAY=1,-1;BYMONTH=1,12"),
    ("FREQ=DAILY;UNTIL=20301231T235959Z", "FREQ=DAILY;UNTIL=20301231T235959Z"),
    ("FREQ=DAILY;COUNT=010", "FREQ=DAILY;COUNT=10"),
    ("FREQ=DAILY;INTERVAL=1;BYMONTH=2;BYMONTHDAY=29", "FREQ=DAILY;INTERVAL=1;BYMONTHDAY=29;BYMONTH=2"),
    (
        NEVER,
        "FREQ=YEARLY;BYMONTHDAY=30;BYMONTH=2",
    ),  # valid RFC 5545 (invalid dates are ignored): never recurs
    (f"FREQ=YEARLY;INTERVAL={HORIZON_YEARS}", f"FREQ=YEARLY;INTERVAL={HORIZON_YEARS}"),
    (f"FREQ=DAILY;INTERVAL={HORIZON_DAYS}", f"FREQ=DAILY;INTERVAL={HORIZON_DAYS}"),
]


@pytest.mark.parametrize(("given", "stored"), ACCEPTED)
def test_a_valid_rule_is_taken_in_its_stored_form(given: str, stored: str) -> None:
    assert recurrence_text(given) == stored
    assert recurrence_text(stored) == stored  # the stored form is its own stored form


REFUSED = [
    ("", "Give a rule"),
    ("WEEKLY", "is not a rule part NAME=VALUE"),
    ("FREQ=DAILY;", "is not a rule part NAME=VALUE"),
    ("FREQ=DAILY; BYDAY=MO", "is not a rule part taken here"),
    ("BYDAY=MO", "FREQ is required"),
    ("FREQ=FORTNIGHTLY", "is not one of DAILY, WEEKLY, MONTHLY, YEARLY"),
    ("FREQ=HOURLY", "at most daily"),
    ("FREQ=MINUTELY", "at most daily"),
    ("FREQ=SECONDLY;COUNT=5", "at most daily"),
    ("FREQ=DAILY;BYHOUR=9,17", "BYHOUR is not taken"),
    ("FREQ=DAILY;BYMINUTE=0", "BYMINUTE is not taken"),
    ("FREQ=DAILY;BYSECOND=0", "BYSECOND is not taken"),
    ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
    ("FREQ=DAILY;BYDAY=MO;BYDAY=TU", "BYDAY is given twice"),
    ("FREQ=DAILY;COUNT=2;UNTIL=20301231T235959Z", "not both"),
    ("FREQ=DAILY;COUNT=0", "COUNT: 0 is out of range"),
    ("FREQ=DAILY;COUNT=-1", "is not a number"),
    ("FREQ=DAILY;COUNT=10001", "COUNT: 10001 is out of range (1 to 10000)"),
    ("FREQ=DAILY;INTERVAL=0", "INTERVAL: 0 is out of range"),
    ("FREQ=DAILY;INTERVAL=1.5", "is not a number"),
    (f"FREQ=YEARLY;INTERVAL={HORIZON_YEARS + 1}", f"out of range (1 to {HORIZON_YEARS})"),
    (f"FREQ=MONTHLY;INTERVAL={12 * HORIZON_YEARS + 1}", "out of range"),
    (f"FREQ=DAILY;INTERVAL={HORIZON_DAYS + 1}", "out of range"),
    ("FREQ=DAILY;INTERVAL=99999999999999999999", "is not a number"),
    ("FREQ=DAILY;UNTIL=20301231", "is not a UTC date-time"),  # a DATE: DTSTART is a DATE-TIME
    ("FREQ=DAILY;UNTIL=20301231T235959", "is not a UTC date-time"),  # floating
    ("FREQ=DAILY;UNTIL=2030-12-31T23:59:59Z", "is not a UTC date-time"),
    ("FREQ=DAILY;UNTIL=20300230T000000Z", "is not a valid date-time"),
    ("DTSTART:20300101T000000Z\nRRULE:FREQ=DAILY", "due_to is its start"),
    ("FREQ=DAILY;DTSTART=20300101T000000Z", "due_to is its start"),
    ("RRULE:RRULE:FREQ=DAILY", "is not a rule part taken here"),
    ("FREQ=DAILY;X-NAME=1", "is not a rule part taken here"),
    ("RSCALE=GREGORIAN;FREQ=DAILY", "is not a rule part taken here"),  # RFC 7529
    ("FREQ=DAILY;BYEASTER=0", "is not a rule part taken here"),  # dateutil's own
    ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot go with FREQ=WEEKLY"),
    ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO needs FREQ=YEARLY"),
    ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY needs FREQ=YEARLY"),
    ("FREQ=WEEKLY;BYDAY=1MO", "needs FREQ=MONTHLY or FREQ=YEARLY"),
    ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "cannot be numbered beside BYWEEKNO"),
    ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs another BY part"),
    ("FREQ=MONTHLY;BYMONTH=13", "BYMONTH: 13 is out of range"),
    ("FREQ=MONTHLY;BYMONTH=-1", "is not a number"),  # BYMONTH has no sign
    ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY: 32 is out of range"),
    ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY: 0 is out of range"),
    ("FREQ=YEARLY;BYYEARDAY=367", "out of range"),
    ("FREQ=YEARLY;BYWEEKNO=54", "out of range"),
    ("FREQ=MONTHLY;BYDAY=54MO", "out of range"),
    ("FREQ=MONTHLY;BYDAY=+MO", "is not a number"),
    ("FREQ=MONTHLY;BYDAY=XX", "is not a weekday"),
    ("FREQ=MONTHLY;BYDAY=MO,,TU", "is not a weekday"),
    ("FREQ=MONTHLY;BYMONTHDAY=1,,2", "is not a number"),
    ("FREQ=WEEKLY;WKST=MONDAY", "is not a weekday"),
    ("FREQ=WEEKLY;BYDAY=\u017fU", "ASCII"),  # the long s upper-cases to S
    ("FREQ=DAILY;BYMONTHDAY=\u0661", "ASCII"),  # an Arabic-Indic digit one
    ("FREQ=DAILY;BYMONTH=" + "1," * 200 + "1", "At most 255 characters"),
]


@pytest.mark.parametrize(("given", "message"), REFUSED)
def test_a_rule_that_is_not_taken_is_refused_saying_why(given: str, message: str) -> None:
    with pytest.raises(RecurrenceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recurrence_parse(given)


def test_reading_a_rule_grows_linearly_with_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    # Lists are the longest rules there are; the check is written without regular expressions,
    # and no step may go through the list once per item.
    def hostile(count: int) -> str:
        return "FREQ=YEARLY;BYYEARDAY=" + ",".join(["-366"] * count)

    def read(text: str) -> object:
        return recurrence_parse(text)

    monkeypatch.setattr(recurrence, "MAX_LENGTH", 10**6)  # the cap would make any read constant-time
    assert recurrence_parse(hostile(5)).by_year_day == (-366,) * 5
    assert_linear(read, hostile, count=2000)


# The next occurrence


def chain(rule_text: str, start: datetime, steps: int) -> list[datetime]:
    """The due dates a task goes through, completed ``steps`` times from ``start``."""
    due_to, rule, dates = start, rule_text, []
    for _ in range(steps):
        following = completion(rule, due_to=due_to)
        if following is None:
            break
        due_to, rule = following.due_to, following.recurrence
        dates.append(due_to)
    return dates


@pytest.mark.parametrize(
    ("rule", "start", "expected"),
    [
        ("FREQ=DAILY", "2030-01-07T09:30", ["2030-01-08T09:30", "2030-01-09T09:30"]),
        ("FREQ=DAILY;INTERVAL=3", "2030-01-07T09:30", ["2030-01-10T09:30", "2030-01-13T09:30"]),
        (
            "FREQ=DAILY;BYDAY=SA,SU",
            "2030-01-07T09:30",
            ["2030-01-12T09:30", "2030-01-13T09:30", "2030-01-19T09:30"],
        ),
        ("FREQ=WEEKLY", "2030-01-07T09:30", ["2030-01-14T09:30", "2030-01-21T09:30"]),
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "2030-01-07T09:30",
            ["2030-01-09T09:30", "2030-01-11T09:30", "2030-01-14T09:30"],
        ),
        # Every other week, counted from the start's week (Monday to Sunday).
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
            "2030-01-03T08:00",
            ["2030-01-15T08:00", "2030-01-17T08:00", "2030-01-29T08:00"],
        ),
        # A start off the rule still counts as the first occurrence; the next one is the rule's.
        ("FREQ=WEEKLY;BYDAY=MO", "2030-01-09T09:30", ["2030-01-14T09:30"]),
        # The 31st: months without one are skipped (§3.3.10: invalid dates are ignored).
        ("FREQ=MONTHLY", "2030-01-31T12:00", ["2030-03-31T12:00", "2030-05-31T12:00", "2030-07-31T12:00"]),
        ("FREQ=MONTHLY;BYMONTHDAY=31", "2030-01-31T12:00", ["2030-03-31T12:00", "2030-05-31T12:00"]),
        # The last day of each month, February included, in a leap year too.
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "2031-12-31T12:00",
            ["2032-01-31T12:00", "2032-02-29T12:00", "2032-03-31T12:00"],
        ),
        ("FREQ=MONTHLY;BYMONTHDAY=30", "2030-01-30T12:00", ["2030-03-30T12:00", "2030-04-30T12:00"]),
        ("FREQ=MONTHLY;BYDAY=-1FR", "2030-01-25T17:00", ["2030-02-22T17:00", "2030-03-29T17:00"]),
        # The last weekday of the month (2030-03-31 is a Sunday).
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "2030-01-31T17:00",
            ["2030-02-28T17:00", "2030-03-29T17:00"],
        ),
        ("FREQ=MONTHLY;INTERVAL=3;BYDAY=2TU", "2030-01-08T10:00", ["2030-04-09T10:00", "2030-07-09T10:00"]),
        ("FREQ=YEARLY", "2030-03-15T07:00", ["2031-03-15T07:00", "2032-03-15T07:00"]),
        # February 29th: every leap year, and 2100 is none.
        ("FREQ=YEARLY", "2096-02-29T07:00", ["2104-02-29T07:00", "2108-02-29T07:00"]),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            "2030-01-01T00:00",
            ["2044-02-29T00:00", "2072-02-29T00:00"],
        ),
        # Week 1 holds January 4th, and may start in December (§3.3.10, ISO 8601).
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO", "2030-01-01T06:00", ["2030-12-30T06:00", "2031-12-29T06:00"]),
        ("FREQ=YEARLY;BYYEARDAY=-1", "2030-06-01T06:00", ["2030-12-31T06:00", "2031-12-31T06:00"]),
        (f"FREQ=YEARLY;INTERVAL={HORIZON_YEARS}", "2030-06-01T06:00", ["2080-06-01T06:00"]),
    ],
)
def test_completing_moves_to_each_next_occurrence(rule: str, start: str, expected: list[str]) -> None:
    assert chain(rule, at(start), len(expected)) == [at(date) for date in expected]


def test_the_time_of_day_and_its_fraction_are_due_tos() -> None:
    start = datetime(2030, 1, 7, 23, 59, 58, 250_000, tzinfo=UTC)

    assert chain("FREQ=MONTHLY;BYDAY=1MO", start, 2) == [
        start.replace(month=2, day=4),
        start.replace(month=3, day=4),
    ]


def test_weekdays_are_read_in_utc() -> None:
    # Monday 2030-01-07 at 23:30 in UTC is already Tuesday in Berlin: the rule's Monday is UTC's.
    start = datetime(2030, 1, 7, 23, 30, tzinfo=UTC)

    assert chain("FREQ=WEEKLY;BYDAY=MO", start, 1) == [datetime(2030, 1, 14, 23, 30, tzinfo=UTC)]
    # An instant given with another offset is the same instant, read in UTC.
    berlin = start.astimezone(timezone.get_fixed_timezone(60))
    assert chain("FREQ=WEEKLY;BYDAY=MO", berlin, 1) == [datetime(2030, 1, 14, 23, 30, tzinfo=UTC)]


def test_until_is_the_last_occurrence_it_allows() -> None:
    rule = "FREQ=DAILY;UNTIL=20300109T093000Z"  # due at 09:30: the 9th's occurrence is the last

    assert chain(rule, MONDAY, 5) == [at("2030-01-08T09:30"), at("2030-01-09T09:30")]
    assert completion(rule, due_to=at("2030-01-09T09:30")) is None
    assert completion("FREQ=DAILY;UNTIL=20300109T092959Z", due_to=at("2030-01-08T09:30")) is None


def test_count_counts_the_occurrences_left_and_goes_down_with_each_completion() -> None:
    first = completion("FREQ=WEEKLY;COUNT=3;BYDAY=MO", due_to=MONDAY)
    assert first is not None
    assert (first.due_to, first.recurrence) == (at("2030-01-14T09:30"), "FREQ=WEEKLY;COUNT=2;BYDAY=MO")
    second = completion(first.recurrence, due_to=first.due_to)
    assert second is not None
    assert (second.due_to, second.recurrence) == (at("2030-01-21T09:30"), "FREQ=WEEKLY;COUNT=1;BYDAY=MO")
    assert completion(second.recurrence, due_to=second.due_to) is None  # three occurrences in all

    # What a calendar counts from the same start and rule: the same three.
    series = list(rrulestr("FREQ=WEEKLY;COUNT=3;BYDAY=MO", dtstart=MONDAY))
    assert series == [MONDAY, first.due_to, second.due_to]


@pytest.fixture
def counted_periods(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Every period a search for the next occurrence expands, and every expansion dateutil
    is asked for (as a dict of its options), in order."""
    seen: list[Any] = []
    period_starts = recurrence._period_starts
    rrule = recurrence.rrule

    def counting_periods(*args: Any) -> Iterator[Any]:
        for start in period_starts(*args):
            seen.append(start)
            yield start

    def counting_rrule(**options: Any) -> Any:
        seen.append(options)
        return rrule(**options)

    monkeypatch.setattr(recurrence, "_period_starts", counting_periods)
    monkeypatch.setattr(recurrence, "rrule", counting_rrule)
    return seen


@pytest.mark.parametrize(
    ("rule", "periods"),
    [
        # One period a year, a month, a week or a day of the 50 years after the start.
        (NEVER, HORIZON_YEARS + 1),
        ("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30", 12 * HORIZON_YEARS + 1),
        ("FREQ=WEEKLY;BYMONTH=2;BYDAY=MO;BYSETPOS=5", HORIZON_DAYS // 7 + 1),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", HORIZON_DAYS + 1),
        # A start off the interval of its weekday: never again.
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", HORIZON_DAYS // 7 + 1),
    ],
)
def test_a_rule_that_never_occurs_is_searched_for_a_bounded_number_of_periods(
    counted_periods: list[Any], rule: str, periods: int
) -> None:
    assert occurrence_after(recurrence_parse(rule), start=MONDAY) is None

    starts = [seen for seen in counted_periods if not isinstance(seen, dict)]
    asked_of_dateutil = [seen for seen in counted_periods if isinstance(seen, dict)]
    assert len(starts) == periods
    assert starts[-1] <= (MONDAY + timedelta(days=HORIZON_DAYS)).date()
    if rule.startswith(("FREQ=YEARLY", "FREQ=MONTHLY")):
        # dateutil reads one period each time, never the years up to 9999 it would otherwise.
        assert len(asked_of_dateutil) == periods
        assert {options["interval"] for options in asked_of_dateutil} == {
            recurrence._ONE_PERIOD[rule.removeprefix("FREQ=").split(";")[0]]
        }
    else:
        assert asked_of_dateutil == []


def test_an_occurrence_within_the_horizon_is_found_and_one_beyond_it_is_not() -> None:
    # Mondays that are February 29th: 2044, 2072, then 2112, 40 years on.
    mondays = recurrence_parse("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    assert occurrence_after(mondays, start=at("2030-01-01T00:00")) == at("2044-02-29T00:00")
    assert occurrence_after(mondays, start=at("2072-02-29T00:00")) == at("2112-02-29T00:00")

    # Every 25 years from a February 29th: 2025, 2050, 2075 and 2100 have none; 2400 does.
    every_25_years = "FREQ=YEARLY;INTERVAL=25;BYMONTH=2;BYMONTHDAY=29"
    assert next(iter(rrulestr(every_25_years, dtstart=at("2000-02-29T00:00")))) == at("2000-02-29T00:00")
    assert occurrence_after(recurrence_parse(every_25_years), start=at("2000-02-29T00:00")) is None
    assert completion(every_25_years, due_to=at("2000-02-29T00:00")) is None


def test_the_last_days_of_the_calendar_end_the_series_without_an_error() -> None:
    end = datetime(9999, 12, 30, 12, 0, tzinfo=UTC)

    assert chain("FREQ=DAILY", end, 3) == [datetime(9999, 12, 31, 12, 0, tzinfo=UTC)]
    assert chain("FREQ=WEEKLY", end, 1) == []
    # Week 52 of 9999 runs into the year 10000, where no date is.
    assert chain(
        "FREQ=YEARLY;BYWEEKNO=52;BYDAY=MO,TU,WE,TH,FR,SA,SU", datetime(9999, 12, 26, tzinfo=UTC), 9
    ) == [
        datetime(9999, 12, 27, tzinfo=UTC),
        datetime(9999, 12, 28, tzinfo=UTC),
        datetime(9999, 12, 29, tzinfo=UTC),
        datetime(9999, 12, 30, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
    ]
    assert chain("FREQ=MONTHLY;BYDAY=-1FR", end, 2) == [datetime(9999, 12, 31, 12, 0, tzinfo=UTC)]


WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def random_rule(rng: random.Random) -> str:
    """A rule §3.3.10 allows, with the parts that pick days."""
    freq = rng.choice(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"])
    parts = [f"FREQ={freq}"]
    if rng.random() < 0.4:
        parts.append(f"INTERVAL={rng.randint(1, 4)}")
    if rng.random() < 0.5 or (freq == "WEEKLY" and rng.random() < 0.5):
        days = rng.sample(WEEKDAYS, rng.randint(1, 3))
        if freq in ("MONTHLY", "YEARLY") and rng.random() < 0.5:
            days = [f"{rng.choice([1, 2, 3, -1, -2])}{day}" for day in days]
        parts.append("BYDAY=" + ",".join(days))
    if freq != "WEEKLY" and rng.random() < 0.4:
        days = [rng.choice([1, 2, 15, 28, 29, 30, 31, -1, -2]) for _ in range(rng.randint(1, 2))]
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if rng.random() < 0.3:
        parts.append("BYMONTH=" + ",".join(str(rng.randint(1, 12)) for _ in range(rng.randint(1, 3))))
    numbered = any(part.startswith("BYDAY=") and part[6:7] in "-123" for part in parts)
    if freq == "YEARLY" and not numbered and rng.random() < 0.2:
        parts.append(f"BYWEEKNO={rng.choice([1, 2, 20, 52, 53, -1])}")
    if freq == "YEARLY" and rng.random() < 0.2:
        parts.append(f"BYYEARDAY={rng.choice([1, 100, 365, 366, -1])}")
    if len(parts) > 1 and rng.random() < 0.3:
        parts.append(f"BYSETPOS={rng.choice([1, 2, -1])}")
    if rng.random() < 0.2:
        parts.append(f"WKST={rng.choice(WEEKDAYS)}")
    return ";".join(parts)


def dateutil_series(rule_text: str, start: datetime) -> Iterator[datetime]:
    """The occurrences after ``start`` as dateutil's rrulestr reads the rule, for comparison."""
    rule = recurrence_parse(rule_text)
    dtstart = start
    if rule.freq == "WEEKLY" and rule.by_day:
        # dateutil's first week runs from DTSTART, where the rule's is the whole week (see
        # tasks.recurrence._day_or_week): start it on the week's first day, BYDAY given.
        dtstart = start - timedelta(days=(start.weekday() - (rule.week_start or 0)) % 7)
    return (occurrence for occurrence in rrulestr(rule_text, dtstart=dtstart) if occurrence > start)


def test_completions_walk_the_series_dateutil_reads_from_the_first_start() -> None:
    # Starts in the calendar's last decades: dateutil looks for a rare rule's next occurrence
    # until the year 9999, which is then at most 60 years away.
    rng = random.Random(20300107)
    compared = 0
    for _ in range(400):
        rule = random_rule(rng)
        try:
            recurrence_parse(rule)
        except RecurrenceError:
            continue  # a combination §3.3.10 forbids (tested above)
        start = datetime(
            rng.randint(9940, 9960), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), tzinfo=UTC
        )
        ours = chain(rule, start, 8)
        theirs = list(itertools.islice(dateutil_series(rule, start), len(ours) + 1))
        assert ours == theirs[: len(ours)], (rule, start)
        if len(ours) < 8 and len(theirs) > len(ours):  # a next occurrence past the horizon
            last = ours[-1] if ours else start
            assert theirs[len(ours)] - last > timedelta(days=HORIZON_DAYS - 366), (rule, start)
        compared += 1
    assert compared > 330


# Through the API


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The clock, stopped (at the real time: tokens are checked against it too)."""
    now = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def create(client: APIClient, **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/tasks/", {"title": "Water the plants", "due_to": "2030-01-07T09:30:00Z", **fields}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def complete(client: APIClient, task: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.patch(task["url"], {"completed": True, **fields}, format="json")
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


def stored(task: dict[str, Any]) -> tuple[datetime, bool, str, datetime | None]:
    row = Task.objects.get(pk=task["id"])
    return row.due_to, row.completed, row.recurrence, row.last_completed


def test_completing_a_recurring_task_moves_it_to_the_next_occurrence_and_keeps_it_open(
    owner_client: APIClient, fixed_now: datetime
) -> None:
    task = create(owner_client, recurrence="FREQ=WEEKLY;BYDAY=MO,TH")
    assert (task["recurrence"], task["last_completed"]) == ("FREQ=WEEKLY;BYDAY=MO,TH", None)

    answer = complete(owner_client, task)

    assert answer["due_to"] == "2030-01-10T09:30:00Z"
    assert answer["completed"] is False
    assert answer["last_completed"] == instant_text(fixed_now)
    assert answer["recurrence"] == "FREQ=WEEKLY;BYDAY=MO,TH"
    assert stored(task) == (at("2030-01-10T09:30"), False, "FREQ=WEEKLY;BYDAY=MO,TH", fixed_now)
    assert owner_client.get(task["url"]).json() == answer

    again = complete(owner_client, task)
    assert (again["due_to"], again["completed"]) == ("2030-01-14T09:30:00Z", False)


def test_completing_a_task_that_does_not_recur_is_as_it_was(
    owner_client: APIClient, fixed_now: datetime
) -> None:
    task = create(owner_client)

    answer = complete(owner_client, task)

    assert (answer["due_to"], answer["completed"], answer["recurrence"], answer["last_completed"]) == (
        "2030-01-07T09:30:00Z",
        True,
        None,
        None,
    )
    assert stored(task) == (MONDAY, True, "", None)


def test_completing_the_last_occurrence_completes_the_task(
    owner_client: APIClient, fixed_now: datetime
) -> None:
    task = create(owner_client, recurrence="FREQ=DAILY;COUNT=2")

    first = complete(owner_client, task)
    assert (first["due_to"], first["completed"], first["recurrence"]) == (
        "2030-01-08T09:30:00Z",
        False,
        "FREQ=DAILY;COUNT=1",
    )
    last = complete(owner_client, task)

    assert (last["due_to"], last["completed"], last["recurrence"]) == (
        "2030-01-08T09:30:00Z",
        True,
        "FREQ=DAILY;COUNT=1",
    )
    assert last["last_completed"] == instant_text(fixed_now)


@pytest.mark.parametrize("rule", ["FREQ=DAILY;UNTIL=20300107T235959Z", NEVER])
def test_a_rule_with_no_next_occurrence_completes_the_task(
    owner_client: APIClient, fixed_now: datetime, rule: str
) -> None:
    task = create(owner_client, recurrence=rule)

    answer = complete(owner_client, task)

    assert (answer["due_to"], answer["completed"], answer["last_completed"]) == (
        "2030-01-07T09:30:00Z",
        True,
        instant_text(fixed_now),
    )


def test_completing_reads_the_rule_and_due_to_sent_with_it(
    owner_client: APIClient, fixed_now: datetime
) -> None:
    task = create(owner_client, recurrence="FREQ=DAILY")

    answer = complete(owner_client, task, due_to="2030-02-01T08:00:00+01:00", recurrence="freq=monthly")

    assert (answer["due_to"], answer["completed"], answer["recurrence"]) == (
        "2030-03-01T07:00:00Z",
        False,
        "FREQ=MONTHLY",
    )


def test_a_completed_task_sent_completed_again_does_not_move(
    owner_client: APIClient, fixed_now: datetime
) -> None:
    task = create(owner_client, recurrence="FREQ=DAILY", completed=True)
    assert (task["due_to"], task["completed"], task["last_completed"]) == ("2030-01-07T09:30:00Z", True, None)

    answer = complete(owner_client, task)

    assert (answer["due_to"], answer["completed"], answer["last_completed"]) == (
        "2030-01-07T09:30:00Z",
        True,
        None,
    )
    reopened = owner_client.patch(task["url"], {"completed": False}, format="json").json()
    assert (reopened["due_to"], reopened["completed"]) == ("2030-01-07T09:30:00Z", False)


def test_a_rule_is_answered_in_its_stored_form_and_null_removes_it(owner_client: APIClient) -> None:
    task = create(owner_client, recurrence="RRULE:byday=mo;freq=weekly")
    assert task["recurrence"] == "FREQ=WEEKLY;BYDAY=MO"
    assert stored(task)[2] == "FREQ=WEEKLY;BYDAY=MO"

    answer = owner_client.patch(task["url"], {"recurrence": None}, format="json").json()

    assert answer["recurrence"] is None
    assert stored(task)[2] == ""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "FREQ=HOURLY is not taken: a task recurs at most daily."),
        ("", "Give a rule, e.g. FREQ=WEEKLY;BYDAY=MO, or null for none."),
        (7, "Not a valid string."),
        ("DTSTART:20300101T000000Z\nRRULE:FREQ=DAILY", "Give the rule alone"),
    ],
)
def test_a_refused_rule_is_a_400_naming_recurrence_and_writes_nothing(
    owner_client: APIClient, rule: Any, message: str
) -> None:
    created = owner_client.post(
        "/tasks/", {"title": "t", "due_to": "2030-01-07T09:30:00Z", "recurrence": rule}, format="json"
    )
    task = create(owner_client)
    changed = owner_client.patch(task["url"], {"recurrence": rule}, format="json")

    for response in (created, changed):
        assert response.status_code == 400
        [refusal] = response.json()["recurrence"]
        assert refusal.startswith(message)
    assert Task.objects.count() == 1
    assert stored(task)[2] == ""


def test_xml_carries_and_writes_the_rule(owner_client: APIClient) -> None:
    body = (
        b"<root><title>Water</title><due_to>2030-01-07T09:30:00Z</due_to>"
        b"<recurrence>freq=weekly</recurrence></root>"
    )

    response = owner_client.post(
        "/tasks/", body, content_type="application/xml", HTTP_ACCEPT="application/xml"
    )

    assert response.status_code == 201, response.content
    answer = ElementTree.fromstring(response.content)  # noqa: S314  the server's own answer
    assert answer.findtext("recurrence") == "FREQ=WEEKLY"
    assert answer.find("last_completed").get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"  # type: ignore[union-attr]
