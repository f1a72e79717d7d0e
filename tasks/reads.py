"""The read path: every task the API hands out, built straight from its database row.

One interface (ids and options in, task JSON out) for every read: the detail
(``task_detail``), a page of the list, filtered or not (``task_page``, which the calendar
representation of the list renders too), and a person's own tasks for the feeds and the
exports (``member_task_rows``). Writes answer through the same builder (``task_from_model``).

One row format: the database hands over instants as UTC text in one form on every
database, ``2016-10-18 19:12:01[.ffffff]`` (SQLite keeps them so; PostgreSQL writes them so
in SQL, see ``_stored_text``), and ``TaskLinks.tasks_from_cells`` is the one place that
turns a row into the task's JSON, instants as DRF writes them, ``2016-10-18T19:12:01Z``.
Every consumer (the renderers, the ETag, the calendar, the exports) gets that text.

TaskSerializer (DRF's serializer) validates writes; rendering a page of 100 tasks through it
costs milliseconds, mostly in reverse() per link and in datetime handling per field. Here
the links are two prefixes resolved once per request, and the plain list and the detail run
SQL compiled once per shape (api/prepared.py). The bytes a client sees are the
serializer's, exactly (tests/tasks/test_reads.py holds the two side by side).
"""

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import DateTimeField, Expression, F, Func, QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import get_script_prefix, reverse
from rest_framework.request import Request

from api import prepared
from api.caches import BoundedCache
from api.pagination import PageQuery
from tasks.models import Task
from tasks.permissions import member_tasks, task_page_by_project, task_scope, with_caller_role
from users.principal import Caller

COLUMNS = (
    "id",
    "title",
    "project_id",
    "person_id",
    "due_to",
    "completed",
    "recurrence",
    "last_completed",
    "created",
    "updated",
)
DATETIMES = ("due_to", "last_completed", "created", "updated")
# The first and the last instant a DateTimeField holds: the bounds of a first page (_from_start()).
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
# Hosts come from the client: with ALLOWED_HOSTS = ["*"] the cache could be grown without end.
_prefixes: BoundedCache[str, tuple[str, str, str]] = BoundedCache("reads.prefixes", 64)
_selects: BoundedCache[str, list[str | Expression]] = BoundedCache("reads.selects", 8)


def _stored_text(name: str) -> Expression:
    """The instant ``name`` as UTC text, ``2016-10-18 19:12:01`` with ``.ffffff`` only when
    there is a fraction (as DRF writes it).

    SQLite stores aware datetimes as exactly that text: selected as text, the driver hands
    it over unparsed. PostgreSQL writes a timestamp as that text in its own output form (the
    ISO DateStyle, which psycopg needs anyway) but drops the fraction's trailing zeros, so a
    fraction is padded back to six digits. to_char() did the same at 1.7 times the server's
    time (0.169 ms against 0.102 for a page's 400 instants, BENCHMARKS.md). Django's and
    psycopg's loaders would parse every timestamptz into a datetime only for it to be
    written back as text.
    """
    if connection.vendor == "postgresql":
        return Func(
            F(name),
            template="CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s "
            "THEN (%(expressions)s AT TIME ZONE 'UTC')::text "
            "ELSE rpad((%(expressions)s AT TIME ZONE 'UTC')::text, 26, '0') END",
            output_field=TextField(),
        )
    return Cast(F(name), TextField())


def select() -> list[str | Expression]:
    """What to select for COLUMNS on this database, for ``TaskLinks.tasks_from_cells()``."""
    vendor = connection.vendor
    selected = _selects.get(vendor)
    if selected is None:
        selected = [_stored_text(name) if name in DATETIMES else name for name in COLUMNS]
        _selects.put(vendor, selected)
    return selected


def stored_text(instant: datetime | None) -> str | None:
    """An aware datetime as ``select()`` reads it from the database."""
    if instant is None:
        return None
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def instant_text(instant: datetime) -> str:
    """An aware datetime as the task JSON writes it: ``2016-10-18T19:12:01[.ffffff]Z``."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(sep="T") + "Z"


class TaskLinks:
    """The absolute URL prefixes of tasks, projects and users, resolved once per host; and
    the one builder of a task's JSON from its row."""

    def __init__(self, request: Request) -> None:
        origin = f"{request.scheme}://{request.get_host()}{get_script_prefix()}"
        prefixes = _prefixes.get(origin)
        if prefixes is None:
            prefixes = (
                request.build_absolute_uri(reverse("task-list")),
                request.build_absolute_uri(reverse("project-list")),
                request.build_absolute_uri(reverse("user-list")),
            )
            _prefixes.put(origin, prefixes)
        self.tasks, self.projects, self.users = prefixes

    @classmethod
    def at(cls, origin: str) -> "TaskLinks":
        """The links under a fixed origin, for JSON that leaves without a request (events)."""
        prefixes = _prefixes.get(origin)
        if prefixes is None:
            base = origin.rstrip("/")
            prefixes = (
                base + reverse("task-list"),
                base + reverse("project-list"),
                base + reverse("user-list"),
            )
            _prefixes.put(origin, prefixes)
        links = cls.__new__(cls)
        links.tasks, links.projects, links.users = prefixes
        return links

    def task(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """JSON of a task from a dict of COLUMNS as ``select()`` reads them."""
        return self.task_from_cells([row[name] for name in COLUMNS])

    def task_from_cells(self, cells: Sequence[Any]) -> dict[str, Any]:
        """JSON of a task from the cells of ``select()``, as the database driver returns them."""
        return self.tasks_from_cells([cells])[0]

    def tasks_from_cells(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """task_from_cells() of each row, in one pass (a page is most of a list's time)."""
        tasks, projects, users = self.tasks, self.projects, self.users
        return [
            {
                "url": f"{tasks}{task_id}/",
                "id": task_id,
                "title": title,
                "project": f"{projects}{project_id}/",
                "person": f"{users}{person_id}/",
                "due_to": due_to.replace(" ", "T") + "Z",
                "completed": bool(completed),  # SQLite answers 0 or 1
                "recurrence": recurrence or None,
                "last_completed": last_completed and last_completed.replace(" ", "T") + "Z",
                "created": created.replace(" ", "T") + "Z",
                "updated": updated.replace(" ", "T") + "Z",
            }
            for (
                task_id,
                title,
                project_id,
                person_id,
                due_to,
                completed,
                recurrence,
                last_completed,
                created,
                updated,
            ) in rows
        ]

    def task_from_model(self, task: Task) -> dict[str, Any]:
        """JSON of a task in hand (the answer to a write), through the same builder."""
        return self.task_from_cells(
            [
                task.pk,
                task.title,
                task.project_id,
                task.person_id,
                stored_text(task.due_to),
                task.completed,
                task.recurrence,
                stored_text(task.last_completed),
                stored_text(task.created),
                stored_text(task.updated),
            ]
        )


class Found(NamedTuple):
    """A task the detail read: its JSON, and the caller's role in its project for the
    permission check (None for staff outside it)."""

    caller_role: str | None
    task: dict[str, Any]


def _visible(caller: Caller, slots: prepared.Slots) -> QuerySet[Task]:
    """tasks_visible_to() for a prepared query: the caller's id is the slot ``person``."""
    return Task.objects.filter(task_scope(caller_id=slots.get("person"), is_staff=caller.is_staff))


def _from_start(tasks: QuerySet[Task], page: PageQuery, slots: prepared.Slots) -> QuerySet[Task]:
    """``tasks`` from where the page starts in its first sort key (``due_to >= start``; a
    first page in due order from the earliest instant): what beyond() implies, written as a
    range that an index on (project, that key) starts at.

    beyond()'s OR neither database starts a range at: PostgreSQL reads each project's tasks
    from its first, and SQLite reads every later task of the table through task_due_idx
    (1.6-2.5 s for a page in the middle of 1,000,000 tasks). On SQLite the range also makes the
    planner read (project, due_to, id), each project only until the page is full, rather
    than (project, id) and sort every task of the caller's (40-110 ms a first page of
    102,070 tasks once ANALYZE has run): BENCHMARKS.md.
    """
    name, descending = page.key[0]
    rising = descending == page.backwards  # beyond() asks for greater values
    if page.start is not None:
        bound = slots["key0"]
    elif isinstance(Task._meta.get_field(name), DateTimeField):
        bound = EARLIEST if rising else LATEST
    else:
        return tasks
    return tasks.filter(**{f"{name}__{'gte' if rising else 'lte'}": bound})


def task_detail(*, caller: Caller, task_id: int, links: TaskLinks) -> Found | None:
    """The task ``task_id`` if the caller sees it, else None."""

    def build(slots: prepared.Slots) -> QuerySet[Any]:
        tasks = with_caller_role(_visible(caller, slots), slots["person"])
        return tasks.filter(pk=slots["id"]).order_by().values_list(*select(), "caller_role")[:1]

    found = prepared.rows(("task-detail", caller.is_staff), build, id=task_id, person=caller.pk)
    if not found:
        return None
    *cells, role = found[0]
    return Found(role, links.task_from_cells(cells))


def task_page(
    *, caller: Caller, page: PageQuery, links: TaskLinks, within: QuerySet[Task] | None = None
) -> list[dict[str, Any]]:
    """One page of the tasks the caller sees, as ``page`` asks for it.

    ``within``: those tasks narrowed by the list's filters (a queryset built on
    tasks.permissions.tasks_visible_to()); without it, every task the caller sees, through
    SQL compiled once per shape.
    """
    if within is not None:
        return links.tasks_from_cells(
            list(page.apply(_from_start(within, page, page.slots)).values_list(*select()))
        )

    def build(slots: prepared.Slots) -> QuerySet[Any] | prepared.Statement:
        def from_start(tasks: QuerySet[Task]) -> QuerySet[Task]:
            return page.apply(_from_start(tasks, page, slots), slots)

        # The same tasks as task_scope()'s page (tests/tasks/test_reads.py walks them).
        if connection.vendor == "postgresql" and not caller.is_staff:
            order = [f"-{name}" if descending != page.backwards else name for name, descending in page.key]
            return task_page_by_project(
                caller_id=slots["person"], page=from_start, order=order, size=page.limit, columns=select()
            )
        # Staff; and SQLite, which stops reading each project of the IN list once the page is full.
        scope = task_scope(caller_id=slots.get("person"), is_staff=caller.is_staff)
        return from_start(Task.objects.filter(scope)).values_list(*select())

    shape = ("task-list", caller.is_staff, page.shape)
    slots = page.slots
    if not caller.is_staff:  # staff's scope names no one (see task_detail())
        slots["person"] = caller.pk
    return links.tasks_from_cells(prepared.rows(shape, build, **slots))


def member_task_cells(*, user_id: int, order: Sequence[str], chunk_size: int) -> Iterator[Sequence[Any]]:
    """The cells of ``select()`` of every task of the user's projects, ``chunk_size`` rows
    fetched at a time (a server-side cursor on PostgreSQL, fetchmany on SQLite)."""
    return member_tasks(user_id).order_by(*order).values_list(*select()).iterator(chunk_size=chunk_size)


def member_task_rows(
    *, user_id: int, links: TaskLinks, order: Sequence[str] = ("id",), chunk_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Every task of the user's projects (staff too: see tasks.permissions.member_tasks) as
    task JSON, in ``order``, read ``chunk_size`` rows at a time."""
    for cells in member_task_cells(user_id=user_id, order=order, chunk_size=chunk_size):
        yield links.task_from_cells(cells)
