"""The changes feed: what changed among the tasks a caller sees since a sync token, for
clients that keep a copy (``GET /tasks/changes/?since=``, TaskViewSet.changes).

Numbering (the database does it: tasks/migrations/0003_sync.py and 0006). Every row a
statement writes to a task or a membership takes a change number. A task's ``version`` is
the number of its last change and ``entered`` the number at which it came into its project;
a task deleted or moved out of a project leaves a ``Tombstone``; a membership that begins or
ends leaves an ``AccessChange``. A read needs a bound: a number at or below which nothing is
still to commit, so that a write it did not see gets a number above everything it handed
out. On PostgreSQL writers do not wait for one another: each open writing transaction
shows, in an advisory lock, a number below all of its own, and ``tasks_change_bound()``
is the oldest of those, or the last number taken when no write is open. A page reads no item
above it: a write committed after an older one still open waits for it to end (a
transaction left open after a write holds the feed back, for every reader, until it ends).
On SQLite, whose writers are serialised, the clock's row counts every number and is the
bound.

Reading. Every item of the feed has a position ``(number, kind, task id)``; a page is the
items after the token's position up to the bound, in that order, read by one SQL statement
(one snapshot; on PostgreSQL the bound is read by one statement before it).
An item stands where the caller began or stopped seeing a task:

- kind 0, gone: a task left a project (tombstone) while the caller was in it;
- kind 1, left: the caller left a project; the tasks that were in it then;
- kind 2, changed: a task the caller sees, at its version;
- kind 3, joined: the caller joined a project; its tasks.

An item says what is true when it is read (the task's JSON now; or, for kinds 0 and 1, that
the caller does not see the task now, else nothing), so a task is in ``changes`` or in
``deleted``, never both, and ``deleted`` names only tasks the caller could once see. No change
is missed: every event that changes what a caller sees of a task (the task written, moved or
deleted, a membership of its project begun or ended) has an item at its number, above
the bound of every earlier read; the first page whose range holds it tells the task's state
from then on, and every later item about the task tells the same state until the next such
event. A client that applies the pages in order holds exactly what it sees as of its last
page, once no write older than that page's bound was still open (else, as of the next page
after those writes end). Whether the caller was in a project when a task left it is read
backwards from now: their first access change after that number is a departure, or there is
none and they are in it now (access changes alternate).

Tokens are opaque: the position of the last item handed out, or, once a page has nothing
more, the end of the bound at that read (so an idle client's token stays recent);
and ``base``, the clock when a sync without ``since`` began, up to which deletions and joins
concern nothing the client holds. They are signed: a forged or damaged one is a 400.
Tombstones and access changes older than SYNC_RETENTION_DAYS are pruned (``changes_prune``,
``manage.py prune_changes``), which first raises the clock's ``horizon``: a token that would
need what was pruned is refused (410), and the client syncs again without ``since``.

Staff see every task: their feed is every task's version and the tombstones of tasks that no
longer exist. (A caller made staff, or no longer staff, should sync again without ``since``:
the feed does not record the change of the flag.)
"""

# ruff: noqa: S608 - the SQL below names tables from the models; every value is a bound parameter.

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import connection, transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Greatest

from projects.permissions import member_project_ids
from tasks.models import AccessChange, ChangeClock, Task, Tombstone
from tasks.permissions import task_scope
from tasks.reads import TaskLinks, select
from users.principal import Caller

KIND_GONE, KIND_LEFT, KIND_CHANGED, KIND_JOINED = range(4)
LAST_KIND = KIND_JOINED
MAX_ID = 2**63 - 1  # past any id (a BigAutoField)
_signer = signing.Signer(salt="tasks.changes")


class TokenRefused(ValueError):
    """Not a token this service made (garbled, forged, or signed with a retired key)."""


class TokenExpired(Exception):
    """The token needs deletions that were pruned: the client must sync again without ``since``."""


@dataclass(frozen=True, order=True)
class Position:
    """Where an item stands in the feed; the feed is in this order."""

    number: int
    kind: int
    task_id: int

    @classmethod
    def end_of(cls, number: int) -> "Position":
        """After every item numbered ``number``."""
        return cls(number, LAST_KIND, MAX_ID)

    def bounds(self, kind: int) -> tuple[int, int]:
        """``(number, id)``: an item of ``kind`` is after this position iff its number is
        above ``number``, or equal to it and its task id above ``id``."""
        if kind > self.kind:
            return self.number, -1
        if kind < self.kind:
            return self.number, MAX_ID
        return self.number, self.task_id


@dataclass(frozen=True)
class Token:
    position: Position
    # The clock when the client's copy began (a sync without since): the deletions and joins
    # numbered up to it happened before anything the client holds.
    base: int

    @property
    def deletions_after(self) -> Position:
        """Where the deletions and joins the client still needs begin."""
        return max(self.position, Position.end_of(self.base))


def token_text(token: Token) -> str:
    position = token.position
    signed = _signer.sign(f"{position.number}.{position.kind}.{position.task_id}.{token.base}")
    return base64.urlsafe_b64encode(signed.encode()).decode().rstrip("=")


def token_from_text(text: str) -> Token:
    """The token ``text`` stands for; TokenRefused unless this service made it."""
    try:
        signed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        number, kind, task_id, base = (int(part) for part in _signer.unsign(signed).split("."))
    except (ValueError, TypeError, binascii.Error, signing.BadSignature) as exc:
        raise TokenRefused(text) from exc
    if not (
        0 <= number <= MAX_ID and 0 <= kind <= LAST_KIND and -1 <= task_id <= MAX_ID and 0 <= base <= MAX_ID
    ):
        raise TokenRefused(text)
    return Token(Position(number, kind, task_id), base)


@dataclass(frozen=True)
class Page:
    changes: list[dict[str, Any]]  # task JSON, as the list and the detail write it
    deleted: list[int]  # ids of tasks the caller could see and does not see now
    next: Token
    more: bool  # another page follows at once; else ``next`` is the token to keep for later


def _after(number: str, task_id: str, position: Position, kind: int) -> tuple[str, list[int]]:
    """SQL: an item of ``kind`` whose columns ``number`` and ``task_id`` hold its position
    comes after ``position``."""
    n, i = position.bounds(kind)
    # The first term lets an index on the number serve the range; the second is the tie.
    return f"{number} >= %s AND ({number} > %s OR {task_id} > %s)", [n, n, i]


def _task_columns() -> str:
    """tasks.reads.select() as SQL over the task table (the read path's exact row format)."""
    query = Task.objects.all().query
    compiler = query.get_compiler(connection=connection)
    columns = []
    for column in select():
        expression = F(column) if isinstance(column, str) else column
        sql, params = compiler.compile(expression.resolve_expression(query))
        if params:  # select() names columns and formats them: nothing to bind
            raise ValueError(f"a task column with parameters: {sql}")
        columns.append(sql)
    return ", ".join(columns)


def _statement(
    *, caller: Caller, since: Token | None, limit: int, bound: int | None
) -> tuple[str, list[Any]]:
    """The statement of a page: the bound and the clock's horizon, then the page's items
    (number, kind, task id, and the task's cells for a change) up to the bound, LIMIT
    ``limit``. ``bound`` None: the clock's number is the bound (SQLite)."""
    quote = connection.ops.quote_name
    task, tombstone, access = (quote(m._meta.db_table) for m in (Task, Tombstone, AccessChange))
    clock = quote(ChangeClock._meta.db_table)
    # tasks.permissions' rule: staff see every task, anyone else their projects' (``mine``).
    every_task = not task_scope(caller_id=caller.pk, is_staff=caller.is_staff)
    position = since.position if since else Position.end_of(-1)
    branches: list[tuple[str, list[Any]]] = []

    def branch(sql: str, *params: Any) -> None:
        branches.append((sql, list(params)))

    if every_task:
        mine_sql, mine_params = "", []
        unseen = f"NOT EXISTS (SELECT 1 FROM {task} t WHERE t.id = g.task_id)"
    else:
        # No order: Membership's would join projects for every page.
        member_sql, member_params = member_project_ids(caller.pk).order_by().query.sql_with_params()
        mine_sql, mine_params = f"mine AS ({member_sql}), ", list(member_params)
        unseen = (
            f"NOT EXISTS (SELECT 1 FROM {task} t WHERE t.id = g.task_id "
            "AND t.project_id IN (SELECT project_id FROM mine))"
        )

    # A sync without since: the client holds nothing yet, every task it sees comes as changed.
    if since is not None:
        after = since.deletions_after
        range_sql, range_params = _after("g.number", "g.task_id", after, KIND_GONE)
        if every_task:
            branch(
                f"SELECT g.number, {KIND_GONE}, g.task_id FROM {tombstone} g WHERE {range_sql} AND {unseen}",
                *range_params,
            )
        else:
            # Gone while the caller was in its project: their first access change after the
            # tombstone is a departure, or there is none and they are in it now. (Access
            # changes alternate; those from the tombstone on are within retention.)
            branch(
                f"SELECT g.number, {KIND_GONE}, g.task_id FROM {tombstone} g WHERE {range_sql} "
                f"AND g.project_id IN (SELECT project_id FROM mine UNION SELECT a.project_id FROM {access} a "
                "WHERE a.user_id = %s AND a.number >= %s) "
                f"AND COALESCE((SELECT NOT a.gained FROM {access} a WHERE a.user_id = %s AND a.project_id = g.project_id "
                "AND a.number >= g.number ORDER BY a.number, a.id LIMIT 1), "
                f"g.project_id IN (SELECT project_id FROM mine)) AND {unseen}",
                *range_params,
                caller.pk,
                after.number,
                caller.pk,
            )
            # Left: the tasks that were in the project when the caller left it (there still,
            # or gone from it since), that the caller does not see now.
            range_sql, range_params = _after("a.number", "t.id", after, KIND_LEFT)
            branch(
                f"SELECT a.number, {KIND_LEFT}, t.id FROM {access} a "
                f"JOIN {task} t ON t.project_id = a.project_id AND t.entered < a.number "
                f"WHERE a.user_id = %s AND NOT a.gained AND {range_sql} "
                "AND a.project_id NOT IN (SELECT project_id FROM mine)",
                caller.pk,
                *range_params,
            )
            range_sql, range_params = _after("a.number", "g.task_id", after, KIND_LEFT)
            branch(
                f"SELECT a.number, {KIND_LEFT}, g.task_id FROM {access} a "
                f"JOIN {tombstone} g ON g.project_id = a.project_id AND g.entered < a.number AND g.number >= a.number "
                f"WHERE a.user_id = %s AND NOT a.gained AND {range_sql} AND {unseen}",
                caller.pk,
                *range_params,
            )
            # Joined: every task of a project the caller has come into and is in now.
            range_sql, range_params = _after("a.number", "t.id", after, KIND_JOINED)
            branch(
                f"SELECT a.number, {KIND_JOINED}, t.id FROM {access} a JOIN {task} t ON t.project_id = a.project_id "
                f"WHERE a.user_id = %s AND a.gained AND {range_sql} "
                "AND a.project_id IN (SELECT project_id FROM mine)",
                caller.pk,
                *range_params,
            )
    range_sql, range_params = _after("t.version", "t.id", position, KIND_CHANGED)
    if every_task:
        branch(f"SELECT t.version, {KIND_CHANGED}, t.id FROM {task} t WHERE {range_sql}", *range_params)
    elif connection.vendor == "postgresql":
        # Each project's first ``limit`` changes from its (project, version) index, in order:
        # the page is among them. With ``project_id IN (mine)`` PostgreSQL read every task of
        # the caller's projects and sorted them, each page (40 ms for a member of 112,000).
        branch(
            f"SELECT t.version, {KIND_CHANGED}, t.id FROM mine CROSS JOIN LATERAL (SELECT t.version, t.id "
            f"FROM {task} t WHERE t.project_id = mine.project_id AND {range_sql} "
            "ORDER BY t.version, t.id LIMIT %s) t",
            *range_params,
            limit,
        )
    else:  # SQLite has no LATERAL
        branch(
            f"SELECT t.version, {KIND_CHANGED}, t.id FROM {task} t WHERE {range_sql} "
            "AND t.project_id IN (SELECT project_id FROM mine)",
            *range_params,
        )

    items = " UNION ALL ".join(sql for sql, _ in branches)
    up_to_bound, page_params, number_sql, number_params = "", [], "COALESCE(MAX(number), 0)", []
    if bound is not None:
        # Items above the bound wait for the writes still open below them.
        up_to_bound, page_params = "WHERE num <= %s ", [bound]
        number_sql, number_params = "%s", [bound]
    sql = (
        f"WITH {mine_sql}items (num, kind, task_id) AS ({items}), "
        f"page AS (SELECT num, kind, task_id FROM items {up_to_bound}ORDER BY num, kind, task_id LIMIT %s) "
        f"SELECT clock.number, clock.horizon, page.num, page.kind, page.task_id, {_task_columns()} "
        f"FROM (SELECT {number_sql} AS number, COALESCE(MAX(horizon), 0) AS horizon FROM {clock}) clock "
        f"LEFT JOIN page ON 1 = 1 LEFT JOIN {task} ON {task}.id = page.task_id AND page.kind >= {KIND_CHANGED} "
        "ORDER BY page.num, page.kind, page.task_id"
    )
    params = [
        *mine_params,
        *(p for _, branch_params in branches for p in branch_params),
        *page_params,
        limit,
        *number_params,
    ]
    return sql, params


def changes_page(*, caller: Caller, since: Token | None, size: int, links: TaskLinks) -> Page:
    """The next ``size`` items of the caller's feed after ``since`` (None: from the start,
    every task the caller sees). TokenExpired when ``since`` needs pruned deletions."""
    with connection.cursor() as cursor:
        bound = None
        if connection.vendor == "postgresql":
            # A statement of its own, before the page's: the page's snapshot is taken after
            # the bound, so it sees every write the bound counts as ended.
            cursor.execute("SELECT tasks_change_bound()")
            bound = cursor.fetchone()[0]
        sql, params = _statement(caller=caller, since=since, limit=size + 1, bound=bound)
        cursor.execute(sql, params)
        rows: Sequence[Sequence[Any]] = cursor.fetchall()
    clock, horizon = rows[0][0], rows[0][1]
    if since is not None and since.deletions_after < Position.end_of(horizon):
        raise TokenExpired
    items = [row[2:] for row in rows if row[2] is not None]
    more = len(items) > size
    items = items[:size]
    # A task may come twice (its version, and a project joined); the same read, the same JSON.
    changed: dict[int, Sequence[Any]] = {}
    deleted: dict[int, None] = {}
    for _number, kind, task_id, *cells in items:
        if kind >= KIND_CHANGED:
            changed[task_id] = cells
        else:
            deleted[task_id] = None
    position = since.position if since else Position.end_of(-1)
    if items:
        position = max(position, Position(*items[-1][:3]))
    if not more:
        position = max(position, Position.end_of(clock))  # everything up to the bound is told
    return Page(
        changes=links.tasks_from_cells(list(changed.values())),
        deleted=list(deleted),
        next=Token(position, since.base if since else clock),
        more=more,
    )


def changes_prune(*, before: datetime) -> int:
    """Remove the tombstones and access changes written before ``before``; how many went.

    The horizon is raised first, in a transaction of its own: a token that needs what goes is
    refused (410) from before it goes, never read without it.
    """
    last = max(
        (
            number
            for number in (
                Tombstone.objects.filter(at__lt=before).aggregate(last=Max("number"))["last"],
                AccessChange.objects.filter(at__lt=before).aggregate(last=Max("number"))["last"],
            )
            if number is not None
        ),
        default=None,
    )
    if last is None:
        return 0
    with transaction.atomic():
        ChangeClock.objects.filter(pk=1).update(horizon=Greatest(F("horizon"), Value(last)))
    with transaction.atomic():
        removed, _ = Tombstone.objects.filter(number__lte=last).delete()
        removed += AccessChange.objects.filter(number__lte=last).delete()[0]
    return removed
