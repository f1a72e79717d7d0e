"""Querysets compiled once per shape and run on the driver's connection (api/prepared.py)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.signals import pre_save
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from api import prepared
from events.models import Event
from tasks.models import Task
from tests.helpers.projects import personal_project
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(owner: User, other: User) -> list[Task]:
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [
        Task.objects.create(person=person, title=f"t{i}", due_to=due)
        for i in range(3)
        for person in (owner, other)
    ]


def counting_build() -> tuple[Callable[[prepared.Slots], QuerySet[Any]], list[prepared.Slots]]:
    calls: list[prepared.Slots] = []

    def build(slots: prepared.Slots) -> QuerySet[Any]:
        calls.append(slots)
        return (
            Task.objects.filter(person_id=slots["person"], id__gte=slots["low"])
            .order_by("id")
            .values_list("id", "title")
        )

    return build, calls


def orm(person: User, low: int) -> list[tuple[int, str]]:
    return list(Task.objects.filter(person=person, id__gte=low).order_by("id").values_list("id", "title"))


def test_rows_equal_the_orms_and_the_sql_is_compiled_once(
    tasks: list[Task], owner: User, other: User
) -> None:
    build, calls = counting_build()
    shape = ("test", "rows")

    for person in (owner, other, owner):
        for low in (0, tasks[2].pk):
            assert [tuple(row) for row in prepared.rows(shape, build, person=person.pk, low=low)] == orm(
                person, low
            )

    assert len(calls) == 1  # the compilation, with sentinels; every call ran its SQL


def test_a_watched_connection_sees_every_query(tasks: list[Task], owner: User) -> None:
    # assertNumQueries, DEBUG's log and execute_wrappers (tracing) go through Django's cursor.
    build, _ = counting_build()
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    prepared.rows(("test", "watched"), build, person=owner.pk, low=0)  # compiled and cached
    with CaptureQueriesContext(connection) as logged:
        logged_rows = prepared.rows(("test", "watched"), build, person=owner.pk, low=0)
    with connection.execute_wrapper(wrapper):
        wrapped_rows = prepared.rows(("test", "watched"), build, person=owner.pk, low=0)

    assert len(logged.captured_queries) == 1
    assert len(seen) == 1
    assert [tuple(row) for row in logged_rows] == [tuple(row) for row in wrapped_rows] == orm(owner, 0)


def cached_with_bad_sql(owner: User) -> Callable[[], list[Any]]:
    build, _ = counting_build()
    shape = ("test", "broken", uuid.uuid4().hex)  # the cache outlives the test: a shape of its own
    prepared.rows(shape, build, person=owner.pk, low=0)
    cache = connections["default"].__dict__["prepared_queries"]
    compiled = cache.get(shape)
    cache.put(shape, type(compiled)("SELECT x FROM no_such_table", "SELECT x FROM no_such_table", (), {}))
    return lambda: prepared.rows(shape, build, person=owner.pk, low=0)


def test_a_database_error_is_djangos_not_the_drivers(owner: User) -> None:
    # The API's exception handler answers django.db's errors (a 503 for an unreachable
    # database); the driver's own classes would be a 500.
    run = cached_with_bad_sql(owner)

    with pytest.raises(DatabaseError) as raised:
        run()

    assert type(raised.value).__module__ == "django.db.utils"


def test_a_broken_transaction_refuses_further_queries(owner: User) -> None:
    run = cached_with_bad_sql(owner)
    build, _ = counting_build()

    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False):
            run()
        with pytest.raises(TransactionManagementError):
            prepared.rows(("test", "after"), build, person=owner.pk, low=0)


# insert(): Model.save() of a new row, its INSERT compiled once per model and connection.

COLUMNS = ["title", "person_id", "project_id", "due_to", "completed", "recurrence", "last_completed"]


def twins(owner: User, other: User) -> list[dict[str, Any]]:
    due = datetime(2030, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    return [
        {"person_id": owner.pk, "title": "plain", "due_to": due},
        {"person_id": other.pk, "title": "ünïcødé ✓ 'quoted' %s", "due_to": due, "completed": True},
        {
            "person_id": owner.pk,
            "title": "x" * 100,
            "due_to": due,
            "recurrence": "FREQ=DAILY",
            "last_completed": due,
        },
    ]


def fresh_insert_cache() -> None:
    prepared._cache(connections["default"]).entries.pop(("insert", Task), None)  # the wrapper, not the proxy


def test_insert_writes_the_row_save_writes(owner: User, other: User, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_insert_cache()
    compiled: list[Any] = []
    compile_insert = prepared._compile_insert

    def counted(*args: Any) -> Any:
        compiled.append(args)
        return compile_insert(*args)

    monkeypatch.setattr(prepared, "_compile_insert", counted)

    for values in twins(owner, other):
        project_id = personal_project(owner if values["person_id"] == owner.pk else other).pk
        saved = Task(project_id=project_id, **values)
        saved.save()
        inserted = Task(project_id=project_id, **values)
        prepared.insert(inserted)

        assert inserted.pk not in (None, saved.pk)
        assert (inserted._state.adding, inserted._state.db) == (saved._state.adding, saved._state.db)
        rows = {
            row.pop("id"): row
            for row in Task.objects.filter(pk__in=[saved.pk, inserted.pk]).values(
                "id", *COLUMNS, "created", "updated"
            )
        }
        stamps = {pk: (rows[pk].pop("created"), rows[pk].pop("updated")) for pk in rows}
        assert rows[inserted.pk] == rows[saved.pk]
        # auto_now_add and auto_now: set on the instance, as written.
        assert stamps[inserted.pk] == (inserted.created, inserted.updated)
        assert None not in stamps[inserted.pk]

    assert len(compiled) == 1  # then the statement is reused


def new_task(owner: User, title: Any = "t") -> Task:
    """An unsaved task of ``owner``'s in their personal project."""
    return Task(
        project_id=personal_project(owner).pk,
        person_id=owner.pk,
        title=title,
        due_to=datetime(2030, 1, 1, tzinfo=UTC),
    )


def test_insert_is_numbered_by_the_change_triggers(owner: User) -> None:
    task = new_task(owner)
    prepared.insert(task)

    with connection.cursor() as cursor:
        cursor.execute("SELECT version, entered FROM tasks_task WHERE id = %s", [task.pk])
        version, entered = cursor.fetchone()
    assert version > 0
    assert entered == version  # it came into its project with this change


def test_a_watched_connection_sees_the_insert(owner: User) -> None:
    prepared.insert(new_task(owner))  # compiled and cached
    inserted = new_task(owner)  # its project read before the watch
    with CaptureQueriesContext(connection) as logged:
        prepared.insert(inserted)

    assert [query["sql"].split()[0] for query in logged.captured_queries] == ["INSERT"]
    assert Task.objects.filter(pk=inserted.pk).exists()


def test_save_itself_runs_where_it_would_differ(owner: User) -> None:
    heard: list[Task] = []

    def receiver(sender: Any, instance: Task, **kwargs: Any) -> None:
        heard.append(instance)

    pre_save.connect(receiver, sender=Task, dispatch_uid="test_prepared")
    try:
        listened = new_task(owner)
        prepared.insert(listened)
    finally:
        pre_save.disconnect(sender=Task, dispatch_uid="test_prepared")
    expressed = new_task(owner, title=Lower(Value("LOUD")))
    prepared.insert(expressed)

    assert heard == [listened]
    assert Task.objects.get(pk=expressed.pk).title == "loud"


def test_a_failed_insert_breaks_its_transaction(owner: User) -> None:
    blank = new_task(owner, title="")

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            prepared.insert(blank)  # the check constraint: no blank title
        with pytest.raises(TransactionManagementError):
            Task.objects.count()


def test_a_statement_around_compiled_querysets_runs_as_they_would(
    tasks: list[Task], owner: User, other: User
) -> None:
    built: list[prepared.Slots] = []

    def build(slots: prepared.Slots) -> prepared.Statement:
        built.append(slots)
        inner, _ = counting_build()
        sql, params = inner(slots).query.get_compiler(connection=connection).as_sql()
        return prepared.Statement(f'SELECT "t"."id", "t"."title" FROM ({sql}) "t" ORDER BY 1 DESC', params)  # noqa: S608

    for person in (owner, other, owner):
        for low in (0, tasks[2].pk):
            found = prepared.rows(("test", "statement"), build, person=person.pk, low=low)
            assert [tuple(row) for row in found] == orm(person, low)[::-1]

    assert len(built) == 1


def test_a_row_with_json_is_inserted_by_the_compiled_statement_as_save_writes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On PostgreSQL a JSONField's parameter is psycopg's Jsonb, which has no equality of its
    # own: once, that sent every such row to save(), at twice the cost (the events outbox).
    prepared._cache(connections["default"]).entries.pop(("insert", Event), None)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    values = {"type": "task.created", "project_id": 7, "person_id": 8, "occurred": at}
    data = {"title": "Ünïcode", "nested": {"list": [1, 2.5, None, True]}}
    saved = Event(**values, data=data)
    saved.save()

    def no_save(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fell back to save()")

    monkeypatch.setattr(Event, "save", no_save)
    inserted = Event(**values, data=data)
    prepared.insert(inserted)

    rows = {
        row.pop("id"): row
        for row in Event.objects.filter(pk__in=[saved.pk, inserted.pk]).values(
            "id", "type", "project_id", "person_id", "occurred", "data", "relayed"
        )
    }
    assert rows[inserted.pk] == rows[saved.pk]
    assert Event.objects.get(pk=inserted.pk).key == inserted.key
