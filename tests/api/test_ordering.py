"""``?ordering=``: each orderable field at most once, so a sort key costs what a normal one does.

The keyset condition a cursor adds (api/pagination.py) has one term per key field, each
repeating the fields before it: its size grows with the square of the key. A request that
names one field 240 times used to build that condition, on every request, uncached.
"""

import base64
import json
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.pagination import PageQuery, _sort_key
from tests.helpers.pages import DUE, make_tasks, walk
from users.models import User


def cursor(ordering: list[str], values: list[Any]) -> str:
    raw = json.dumps({"d": "n", "o": ordering, "k": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def conditions(q: Q) -> int:
    """The comparisons in a WHERE condition built of ``q``."""
    return sum(conditions(child) if isinstance(child, Q) else 1 for child in q.children)


def task_queries(context: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in context.captured_queries if "tasks_task" in query["sql"]]


@pytest.mark.parametrize(
    ("ordering", "message"),
    [
        ("title,title", "title is given more than once"),
        ("title,-title", "title is given more than once"),
        ("-due_to,title,due_to", "due_to is given more than once"),
        ("due_to,title,created,id,title", "At most 4 fields"),
        (",".join(["title"] * 240), "At most 4 fields"),
    ],
    ids=["repeated", "both-directions", "repeated-later", "too-many", "240-times"],
)
def test_an_ordering_naming_a_field_twice_or_too_many_fields_is_400(
    owner: User, owner_client: APIClient, ordering: str, message: str
) -> None:
    make_tasks(owner, 3)

    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get("/tasks/", {"ordering": ordering})

    assert response.status_code == 400
    assert message in response.json()["ordering"][0]
    assert task_queries(queries) == []  # refused before any task is read


def test_the_attack_with_a_matching_cursor_reads_nothing(owner: User, owner_client: APIClient) -> None:
    """The reported request: 240 x ``title`` with a cursor written for that sort key."""
    make_tasks(owner, 3)
    hostile = cursor(["title"] * 240 + ["id"], ["title 0"] * 240 + [1])

    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get("/tasks/", {"ordering": ",".join(["title"] * 240), "cursor": hostile})
    # The filtered path (any other parameter) reaches the paginator through filter_queryset().
    with CaptureQueriesContext(connection) as filtered:
        also = owner_client.get(
            "/tasks/", {"ordering": ",".join(["title"] * 240), "cursor": hostile, "completed": "false"}
        )

    assert (response.status_code, also.status_code) == (400, 400)
    assert task_queries(queries) == task_queries(filtered) == []


def test_the_keyset_condition_stays_small_whatever_order_by_the_queryset_carries() -> None:
    """The paginator's own bound, for a queryset ordered by code rather than by the client:
    a repeated field sorts nothing more, so it leaves the key."""
    key = _sort_key(["title"] * 240 + ["-title", "due_to"])
    page = PageQuery(key, ["t", DUE, 1], backwards=False, limit=10)

    assert key == [("title", False), ("due_to", False), ("id", False)]
    # One term per key field, each with the equalities of the fields before it: 1 + 2 + 3.
    assert conditions(page.beyond(["t", DUE, 1])) == 6


@pytest.mark.parametrize(
    ("ordering", "sort_key"),
    [
        # Ties are broken by id, in the direction of the last ordering field.
        ("-due_to,title", lambda task: (-task.due_to.timestamp(), task.title, task.pk)),
        ("title,-due_to", lambda task: (task.title, -task.due_to.timestamp(), -task.pk)),
        ("due_to,title,created,id", lambda task: (task.due_to, task.title, task.created, task.pk)),
    ],
)
def test_a_multi_field_ordering_pages_through_every_task_once(
    owner: User, owner_client: APIClient, ordering: str, sort_key: Any
) -> None:
    tasks = make_tasks(owner, 29, distinct_due=3)
    for task in tasks:
        task.refresh_from_db()

    # The cursor in each next link carries the ordering: a page that lost it would break the order.
    ids, pages = walk(owner_client, "/tasks/", ordering=ordering, page_size=4)

    assert ids == [task.pk for task in sorted(tasks, key=sort_key)]
    assert pages == 8
