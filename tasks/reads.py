"""The read path: a task's JSON built straight from its database row.

TaskSerializer (DRF's HyperlinkedModelSerializer) validates writes; rendering a page of
100 tasks through it costs milliseconds, mostly in reverse() per link and in datetime
handling per field. Here the links are two prefixes resolved once per request, and the
rows come out of the database as the values JSON needs. The bytes a client sees are the
serializer's, exactly (tests/tasks/test_reads.py holds the two side by side).
"""

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Expression, F, TextField, Value
from django.db.models.functions import Cast, Concat, Replace
from django.urls import get_script_prefix, reverse
from rest_framework.request import Request

COLUMNS = ("id", "title", "person_id", "due_to", "completed", "created", "updated")
DATETIMES = ("due_to", "created", "updated")
_prefixes: dict[str, tuple[str, str]] = {}
# Hosts come from the client: with ALLOWED_HOSTS = ["*"] the cache could be grown without end.
_MAX_ORIGINS = 64


def _sqlite_iso(name: str) -> Expression:
    # Django keeps aware datetimes in SQLite as UTC text, "2016-10-18 19:12:01[.ffffff]":
    # the ISO 8601 form DRF writes differs only by the "T" and the "Z", so SQLite writes it.
    # Parsing each value into a datetime and formatting it back cost more than the query.
    text = Cast(F(name), TextField())
    return Concat(Replace(text, Value(" "), Value("T")), Value("Z"), output_field=TextField())


def select() -> list[str | Expression]:
    """What to select for COLUMNS on this database: cells the JSON can take as they are
    (PostgreSQL's aware datetimes are written by the renderers exactly as DRF writes them)."""
    vendor = connection.vendor
    if vendor not in _selects:
        if vendor == "sqlite":
            _selects[vendor] = [_sqlite_iso(name) if name in DATETIMES else name for name in COLUMNS]
        else:
            _selects[vendor] = list(COLUMNS)
    return _selects[vendor]


_selects: dict[str, list[str | Expression]] = {}


class TaskLinks:
    """The absolute URL prefixes of tasks and users, resolved once per host."""

    def __init__(self, request: Request) -> None:
        origin = f"{request.scheme}://{request.get_host()}{get_script_prefix()}"
        prefixes = _prefixes.get(origin)
        if prefixes is None:
            if len(_prefixes) >= _MAX_ORIGINS:
                _prefixes.clear()
            prefixes = _prefixes[origin] = (
                request.build_absolute_uri(reverse("task-list")),
                request.build_absolute_uri(reverse("user-list")),
            )
        self.tasks, self.users = prefixes

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        """JSON of a task from a dict of COLUMNS (datetimes as aware datetime objects)."""
        return self.task_from_cells([row[name] for name in COLUMNS])

    def task_from_cells(self, cells: Sequence[Any]) -> dict[str, Any]:
        """JSON of a task from the cells of ``select()``, as the database driver returns them."""
        task_id, title, person_id, due_to, completed, created, updated = cells
        return {
            "url": f"{self.tasks}{task_id}/",
            "id": task_id,
            "title": title,
            "person": f"{self.users}{person_id}/",
            "due_to": due_to,
            "completed": bool(completed),  # SQLite answers 0 or 1
            "created": created,
            "updated": updated,
        }
