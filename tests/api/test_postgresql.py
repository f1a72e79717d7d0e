"""The PostgreSQL backend (api/postgresql): a health check that makes no round trip while
the connection is quiet, and still finds a connection the server has ended; the read
path's statements prepared on the server (api/prepared.py, DATABASE_PREPARED_STATEMENTS)."""

import select
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.db.backends.postgresql.base import DatabaseWrapper as DjangosWrapper
from django.test import Client

from tasks.models import Task
from tokens.services import token_pair_issue
from users.models import User

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Django's own health check (SELECT 1), each time it runs."""
    asked: list[str] = []
    djangos = DjangosWrapper.is_usable

    def counted(self: Any) -> bool:
        asked.append("SELECT 1")
        return djangos(self)

    monkeypatch.setattr(DjangosWrapper, "is_usable", counted)
    return asked


@pytest.fixture
def other_session() -> Iterator[psycopg.Connection[Any]]:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as session:
        yield session


def health_check() -> None:
    """What Django does before the first query of a request."""
    connection.close_if_unusable_or_obsolete()
    connection.close_if_health_check_failed()


def wait_for_input(timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if connection.connection is None or connection.connection.pgconn.socket < 0:
            return
        poller = select.poll()
        poller.register(connection.connection.pgconn.socket, select.POLLIN)
        if poller.poll(50):
            return
    raise AssertionError("the server sent nothing")


def test_a_quiet_connection_is_kept_without_a_round_trip(round_trips: list[str]) -> None:
    connection.ensure_connection()
    kept = connection.connection
    for _ in range(3):
        health_check()
        assert connection.connection is kept
    assert round_trips == []


def test_a_connection_the_server_ended_is_replaced_before_the_query(
    round_trips: list[str], other_session: psycopg.Connection[Any]
) -> None:
    connection.ensure_connection()
    ended = connection.connection
    other_session.execute("SELECT pg_terminate_backend(%s)", [ended.info.backend_pid])
    wait_for_input()

    health_check()

    assert round_trips == ["SELECT 1"]  # the server spoke: Django's check decided
    assert connection.connection is None  # closed; the next query connects afresh
    assert Task.objects.count() == 0


def test_a_notification_costs_one_round_trip_and_keeps_the_connection(
    round_trips: list[str], other_session: psycopg.Connection[Any]
) -> None:
    connection.ensure_connection()
    kept = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("LISTEN health_check_test")
    other_session.execute("NOTIFY health_check_test")
    wait_for_input()

    health_check()

    assert round_trips == ["SELECT 1"]
    assert connection.connection is kept


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def test_the_read_path_runs_prepared_statements(owner: User) -> None:
    task = Task.objects.create(person=owner, title="prepared", due_to=datetime(2030, 1, 1, tzinfo=UTC))
    client = Client(headers={"Authorization": f"Bearer {token_pair_issue(user=owner)['access']}"})

    assert client.get(f"/tasks/{task.pk}/").status_code == 200
    assert client.get("/tasks/").status_code == 200

    reads = [statement for statement in prepared_statements() if '"tasks_task"' in statement]
    assert len(reads) == 2  # the detail and the page: one statement each, no more
    assert client.get(f"/tasks/{task.pk}/").json()["title"] == "prepared"
    assert len([s for s in prepared_statements() if '"tasks_task"' in s]) == 2  # reused, not added


def test_a_create_runs_its_insert_prepared(owner: User) -> None:
    client = Client(headers={"Authorization": f"Bearer {token_pair_issue(user=owner)['access']}"})
    body = {"title": "prepared", "due_to": "2030-01-01T00:00:00Z"}

    for _ in range(2):
        assert client.post("/tasks/", body, content_type="application/json").status_code == 201

    inserts = [statement for statement in prepared_statements() if statement.startswith("INSERT")]
    assert len(inserts) == 1  # one statement, made at the first create and run again
    assert '"tasks_task"' in inserts[0]


def test_without_prepared_statements_nothing_is_prepared(owner: User) -> None:
    task = Task.objects.create(person=owner, title="unprepared", due_to=datetime(2030, 1, 1, tzinfo=UTC))
    connection.ensure_connection()
    connection.connection.prepare_threshold = None  # as DATABASE_PREPARED_STATEMENTS=false sets it
    client = Client(headers={"Authorization": f"Bearer {token_pair_issue(user=owner)['access']}"})

    assert client.get(f"/tasks/{task.pk}/").json()["title"] == "unprepared"
    assert client.get("/tasks/").status_code == 200
    body = {"title": "unprepared", "due_to": "2030-01-01T00:00:00Z"}
    assert client.post("/tasks/", body, content_type="application/json").status_code == 201
    assert prepared_statements() == []


def test_a_failed_transaction_is_not_usable(round_trips: list[str]) -> None:
    # Django asks is_usable() after errors, and before checking constraints at the end of a
    # test: a connection in a failed transaction must say no, as SELECT 1 would.
    connection.ensure_connection()
    with transaction.atomic():
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM no_such_table")
        assert connection.is_usable() is False
        assert round_trips == ["SELECT 1"]
        transaction.set_rollback(True)
