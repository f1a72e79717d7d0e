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
from django.db.models import Expression, F, TextField
from django.db.models.functions import Cast
from django.urls import get_script_prefix, reverse
from rest_framework.request import Request

from api.caches import BoundedCache

COLUMNS = ("id", "title", "person_id", "due_to", "completed", "created", "updated")
DATETIMES = ("due_to", "created", "updated")
# Hosts come from the client: with ALLOWED_HOSTS = ["*"] the cache could be grown without end.
_prefixes: BoundedCache[str, tuple[str, str]] = BoundedCache("reads.prefixes", 64)


def select() -> list[str | Expression]:
    """What to select for COLUMNS on this database, for ``TaskLinks.task_from_cells()``.

    SQLite keeps aware datetimes as UTC text, "2016-10-18 19:12:01[.ffffff]", which is DRF's
    ISO 8601 form but for the "T" and the "Z": selected as text, the driver hands them over
    unparsed and the JSON's text is two string operations away (parsing each value into a
    datetime and formatting it back cost more than the query; so did writing it in SQL).
    PostgreSQL's aware datetimes are written by the renderers exactly as DRF writes them.
    """
    vendor = connection.vendor
    if vendor not in _selects:
        if vendor == "sqlite":
            _selects[vendor] = [Cast(F(name), TextField()) if name in DATETIMES else name for name in COLUMNS]
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
            prefixes = (
                request.build_absolute_uri(reverse("task-list")),
                request.build_absolute_uri(reverse("user-list")),
            )
            _prefixes.put(origin, prefixes)
        self.tasks, self.users = prefixes

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        """JSON of a task from a dict of COLUMNS (datetimes as aware datetime objects)."""
        return self.task_from_cells([row[name] for name in COLUMNS])

    def task_from_cells(self, cells: Sequence[Any]) -> dict[str, Any]:
        """JSON of a task from the cells of ``select()``, as the database driver returns them:
        instants as aware datetimes or as UTC text in SQLite's form (see select())."""
        return self.tasks_from_cells([cells])[0]

    def tasks_from_cells(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """task_from_cells() of each row, in one pass (a page is most of a list's time)."""
        tasks, users = self.tasks, self.users
        if rows and type(rows[0][3]) is str:
            return [
                {
                    "url": f"{tasks}{task_id}/",
                    "id": task_id,
                    "title": title,
                    "person": f"{users}{person_id}/",
                    "due_to": due_to.replace(" ", "T") + "Z",
                    "completed": bool(completed),  # SQLite may answer 0 or 1
                    "created": created.replace(" ", "T") + "Z",
                    "updated": updated.replace(" ", "T") + "Z",
                }
                for task_id, title, person_id, due_to, completed, created, updated in rows
            ]
        return [
            {
                "url": f"{tasks}{task_id}/",
                "id": task_id,
                "title": title,
                "person": f"{users}{person_id}/",
                "due_to": due_to,
                "completed": bool(completed),
                "created": created,
                "updated": updated,
            }
            for task_id, title, person_id, due_to, completed, created, updated in rows
        ]
