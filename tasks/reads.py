"""The read path: a task's JSON built straight from its database row.

TaskSerializer (DRF's HyperlinkedModelSerializer) validates writes; rendering a page of
100 tasks through it costs milliseconds, mostly in reverse() per link and in datetime
handling per field. Here the links are two prefixes resolved once per request, and the
rows come out of the database as the values JSON needs. The bytes a client sees are the
serializer's, exactly (tests/tasks/test_reads.py holds the two side by side).
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Expression, F, TextField
from django.db.models.functions import Cast
from django.urls import get_script_prefix, reverse
from rest_framework.request import Request

COLUMNS = ("id", "title", "person_id", "due_to", "completed", "created", "updated")
DATETIMES = ("due_to", "created", "updated")
_prefixes: dict[str, tuple[str, str]] = {}


def _sqlite_iso(stored: str) -> str:
    # Django keeps aware datetimes in SQLite as UTC text, "2016-10-18 19:12:01[.ffffff]":
    # the ISO 8601 form DRF writes differs only by the "T" and the "Z". Parsing each value
    # into a datetime and formatting it back cost more than the rest of the row.
    return f"{stored[:10]}T{stored[11:]}Z"


def _as_is(value: Any) -> Any:
    return value  # PostgreSQL hands back aware datetimes, which the renderers write as DRF does


def select() -> tuple[list[str | Expression], Callable[[Any], Any]]:
    """What to select for COLUMNS on this database, and how to turn a datetime cell into JSON."""
    return _selects[connection.vendor] if connection.vendor in _selects else _select(connection.vendor)


def _select(vendor: str) -> tuple[list[str | Expression], Callable[[Any], Any]]:
    chosen: tuple[list[str | Expression], Callable[[Any], Any]]
    if vendor == "sqlite":
        chosen = [Cast(F(name), TextField()) if name in DATETIMES else name for name in COLUMNS], _sqlite_iso
    else:
        chosen = list(COLUMNS), _as_is
    _selects[vendor] = chosen
    return chosen


_selects: dict[str, tuple[list[str | Expression], Callable[[Any], Any]]] = {}


class TaskLinks:
    """The absolute URL prefixes of tasks and users, resolved once per host."""

    def __init__(self, request: Request) -> None:
        origin = f"{request.scheme}://{request.get_host()}{get_script_prefix()}"
        prefixes = _prefixes.get(origin)
        if prefixes is None:
            prefixes = _prefixes[origin] = (
                request.build_absolute_uri(reverse("task-list")),
                request.build_absolute_uri(reverse("user-list")),
            )
        self.tasks, self.users = prefixes

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        """JSON of a task from a dict of COLUMNS whose datetimes are datetime objects."""
        return self.task_from_cells([row[name] for name in COLUMNS], _as_is)

    def task_from_cells(self, cells: Sequence[Any], iso: Callable[[Any], Any]) -> dict[str, Any]:
        """JSON of a task from the cells of ``select()``."""
        task_id, title, person_id, due_to, completed, created, updated = cells
        return {
            "url": f"{self.tasks}{task_id}/",
            "id": task_id,
            "title": title,
            "person": f"{self.users}{person_id}/",
            "due_to": iso(due_to),
            "completed": completed,
            "created": iso(created),
            "updated": iso(updated),
        }
