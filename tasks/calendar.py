"""Tasks as an RFC 5545 calendar: one VTODO per task, written by icalendar.

The list's ``text/calendar`` representation, the subscription feeds and the exports all
write tasks through here, so a task has the same UID, the same fields and the same bytes in
each. A calendar can hold every task a user has: ``calendar_chunks`` streams it one VTODO at
a time, and memory does not grow with the number of tasks.
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from icalendar import Calendar, Todo, vRecur, vText

from tasks.recurrence import RecurrenceError, recurrence_text

PRODID = "-//taskservice//tasks//EN"
MEDIA_TYPE = "text/calendar"
# Control characters no TEXT value may hold (RFC 5545 §3.3.11: TSAFE-CHAR excludes CONTROL);
# icalendar escapes line breaks and leaves these as they are. A title may carry them.
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: str) -> vText:
    """Client text as a TEXT value (RFC 5545 §3.3.11): line breaks, commas and semicolons
    escaped by icalendar, the other control characters replaced."""
    return vText(CONTROLS.sub("\ufffd", value))


def _instant(value: str) -> datetime:
    """An instant of the task JSON: ISO 8601 text in UTC (tasks/reads.py)."""
    return datetime.fromisoformat(value).astimezone(UTC)


def _rule(recurrence: str | None) -> str | None:
    """The RRULE value of a task's recurrence, or None: also for a rule that no longer reads
    as one (written by hand in a shell), which must not break the calendar it is in."""
    if not recurrence:
        return None
    try:
        return recurrence_text(recurrence)
    except RecurrenceError:
        return None


def task_uid(task_id: int) -> str:
    """Stable for the task's whole life, whatever URL or representation it was read through
    (RFC 5545 §3.8.4.7), so a calendar app updates the to-do instead of adding another."""
    return f"task-{task_id}@{settings.CALENDAR_UID_DOMAIN}"


def task_todo(task: Mapping[str, Any]) -> Todo:
    """The VTODO of a task given as its JSON (``url``, ``id``, ``title``, ``due_to``, ...); a
    recurring task's with its RRULE and a DTSTART."""
    todo = Todo()
    todo.add("uid", task_uid(task["id"]))
    updated = _instant(task["updated"])
    # DTSTAMP is when this description of the to-do last changed (§3.8.7.2, with METHOD absent).
    todo.add("dtstamp", updated)
    todo.add("summary", _text(task["title"]))
    due = _instant(task["due_to"])
    todo.add("due", due)
    rule = _rule(task.get("recurrence"))
    if rule is not None:
        # The occurrences of a recurring to-do start at DTSTART, which counts as the first
        # (RFC 5545 §3.8.5.3), and each keeps the DUE - DTSTART of the first: DTSTART is DUE
        # (§3.8.2.3 allows DUE equal to DTSTART), so each occurrence is due when it starts,
        # and a COUNT counts from the one due now (tasks.recurrence.completion()).
        todo.add("dtstart", due)
        todo.add("rrule", vRecur.from_ical(rule))
    todo.add("status", "COMPLETED" if task["completed"] else "NEEDS-ACTION")
    todo.add("created", _instant(task["created"]))
    todo.add("last-modified", updated)
    if task.get("url"):
        todo.add("url", task["url"])
    return todo


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    # The de facto name property calendar apps show (RFC 7986 adds NAME; both are read).
    # icalendar does not know either as TEXT and would write a name's line break raw,
    # ending the content line (or refusing it with an AssertionError mid-stream): a name
    # stored before names were checked must not break the calendar.
    calendar.add("x-wr-calname", _text(name))
    calendar.add("name", _text(name))
    return calendar


def calendar_chunks(tasks: Iterable[Mapping[str, Any]], *, name: str) -> Iterator[bytes]:
    """The calendar of ``tasks`` as a stream of bytes: the VCALENDAR's own lines, then one
    VTODO at a time, then its end. Each part is icalendar's (escaping, folding, CRLF)."""
    end = b"END:VCALENDAR\r\n"
    yield _calendar(name).to_ical().removesuffix(end)
    for task in tasks:
        yield task_todo(task).to_ical()
    yield end


def calendar_bytes(tasks: Iterable[Mapping[str, Any]], *, name: str) -> bytes:
    return b"".join(calendar_chunks(tasks, name=name))
