"""An unreachable or locked database is a JSON 503 with Retry-After, never a 500.

In process (the real-server faults are the soak's: ``make soak``): the driver errors are
raised as Django raises them, a ``django.db`` error caused by the driver's own.
"""

import sqlite3

import psycopg
import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from rest_framework.test import APIClient

from api.exceptions import server_error
from tasks.views import TaskViewSet


def django_error(kind: type[Exception], cause: Exception) -> Exception:
    try:
        raise cause
    except Exception as exc:
        try:
            raise kind(str(exc)) from exc
        except Exception as wrapped:
            return wrapped


UNAVAILABLE = [
    django_error(OperationalError, sqlite3.OperationalError("database is locked")),
    django_error(OperationalError, psycopg.OperationalError("connection refused")),
    django_error(OperationalError, psycopg.errors.AdminShutdown("terminating connection")),
    django_error(InterfaceError, psycopg.InterfaceError("the connection is closed")),
]


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: str(e))
def test_an_unavailable_database_is_a_json_503_with_retry_after(
    owner_client: APIClient, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def unavailable(self: TaskViewSet, request: object) -> None:
        raise error

    monkeypatch.setattr(TaskViewSet, "list", unavailable)
    owner_client.raise_request_exception = False
    response = owner_client.get("/tasks/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_other_sqlite_errors_stay_500s(owner_client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: TaskViewSet, request: object) -> None:
        raise django_error(OperationalError, sqlite3.OperationalError("no such table: tasks_task"))

    monkeypatch.setattr(TaskViewSet, "list", broken)
    owner_client.raise_request_exception = False
    assert owner_client.get("/tasks/").status_code == 500


def test_outside_drf_an_unavailable_database_is_a_503_too() -> None:
    request = RequestFactory().get("/admin/")
    try:
        raise UNAVAILABLE[1]
    except OperationalError:
        response = server_error(request)  # as Django calls handler500: while handling it
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        assert server_error(request).status_code == 500


def test_a_token_checked_while_the_database_is_down_is_a_503_not_a_401(
    owner_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session not in the cache yet (a fresh login, or Redis emptied by a restart) must be
    # read from the database: while that is down the answer is "retry", not "bad token".
    def unavailable(session_id: str) -> None:
        raise UNAVAILABLE[1]

    monkeypatch.setattr("tokens.revocation._load", unavailable)
    owner_client.raise_request_exception = False
    response = owner_client.get("/tasks/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
