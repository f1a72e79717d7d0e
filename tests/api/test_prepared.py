"""Querysets compiled once per shape and run on the driver's connection (api/prepared.py)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from api import prepared
from tasks.models import Task
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
