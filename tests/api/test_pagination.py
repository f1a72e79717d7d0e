import base64
import json
import string
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework.utils.urls import replace_query_param

from api.pagination import _link_template
from tasks.models import Task
from tests.helpers.pages import DUE, make_tasks, walk
from users.models import User


def cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_the_envelope_is_next_previous_results(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 1)

    body = owner_client.get("/tasks/").json()

    assert set(body) == {"next", "previous", "results"}
    assert body["next"] is None
    assert body["previous"] is None
    assert len(body["results"]) == 1


def test_an_empty_list_is_an_empty_page(owner_client: APIClient) -> None:
    assert owner_client.get("/tasks/").json() == {"next": None, "previous": None, "results": []}


def test_default_page_size_is_100(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 101)

    body = owner_client.get("/tasks/").json()

    assert len(body["results"]) == 100
    assert body["next"] is not None


def test_exactly_a_full_page_has_no_next(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 3)

    body = owner_client.get("/tasks/", {"page_size": 3}).json()

    assert len(body["results"]) == 3
    assert body["next"] is None


def test_page_size_up_to_1000_is_allowed(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 150)

    response = owner_client.get("/tasks/", {"page_size": 1000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 150
    assert response.json()["next"] is None


@pytest.mark.parametrize("page_size", ["0", "1001", "-1", "abc", "10000000", "1.5", ""])
def test_a_bad_page_size_is_400_naming_it(owner_client: APIClient, page_size: str) -> None:
    response = owner_client.get("/tasks/", {"page_size": page_size})

    assert response.status_code == 400
    assert "page_size" in response.json()


@pytest.mark.parametrize(
    ("ordering", "sort_key"),
    [
        # Ties are broken by id, in the direction of the last ordering field.
        ("due_to", lambda task: (task.due_to, task.pk)),
        ("-due_to", lambda task: (-task.due_to.timestamp(), -task.pk)),
        ("title", lambda task: (task.title, task.pk)),
        ("-title", lambda task: (tuple(-ord(c) for c in task.title), -task.pk)),
    ],
)
def test_walking_next_visits_every_task_once_in_order(
    owner: User, owner_client: APIClient, ordering: str, sort_key: Any
) -> None:
    # 3 due dates and 4 titles over 47 tasks: every page boundary falls inside a tie.
    tasks = make_tasks(owner, 47, distinct_due=3)

    ids, pages = walk(owner_client, "/tasks/", ordering=ordering, page_size=5)

    assert ids == [task.pk for task in sorted(tasks, key=sort_key)]
    assert pages == 10


def test_walking_newest_first_through_tied_creation_times(owner: User, owner_client: APIClient) -> None:
    tasks = make_tasks(owner, 20)
    for n, task in enumerate(tasks):
        task.created = DUE + timedelta(microseconds=n % 3)
    Task.objects.bulk_update(tasks, ["created"])

    ids, _ = walk(owner_client, "/tasks/", ordering="-created", page_size=3)

    assert ids == [task.pk for task in sorted(tasks, key=lambda task: (task.created, task.pk), reverse=True)]


def test_walking_with_the_default_ordering_matches_due_to(owner: User, owner_client: APIClient) -> None:
    tasks = make_tasks(owner, 23, distinct_due=2)

    ids, _ = walk(owner_client, "/tasks/", page_size=4)

    assert ids == [task.pk for task in sorted(tasks, key=lambda task: (task.due_to, task.pk))]


def test_walking_a_filtered_list_keeps_the_filter(owner: User, owner_client: APIClient) -> None:
    tasks = make_tasks(owner, 30, distinct_due=2)

    ids, _ = walk(owner_client, "/tasks/", completed="true", page_size=3)

    expected = sorted((t for t in tasks if t.completed), key=lambda task: (task.due_to, task.pk))
    assert ids == [task.pk for task in expected]


def test_previous_from_page_two_is_page_one_again(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 12, distinct_due=2)
    first = owner_client.get("/tasks/", {"page_size": 5}).json()
    second = owner_client.get(first["next"]).json()

    back = owner_client.get(second["previous"]).json()

    assert [task["id"] for task in back["results"]] == [task["id"] for task in first["results"]]
    assert back["previous"] is None
    assert owner_client.get(back["next"]).json()["results"] == second["results"]


def test_previous_walks_back_to_the_start(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 17, distinct_due=3)
    ids, _ = walk(owner_client, "/tasks/", ordering="-due_to", page_size=4)
    body = owner_client.get("/tasks/", {"ordering": "-due_to", "page_size": 4}).json()
    while body["next"] is not None:
        body = owner_client.get(body["next"]).json()

    seen = [task["id"] for task in body["results"]]
    while body["previous"] is not None:
        body = owner_client.get(body["previous"]).json()
        seen = [task["id"] for task in body["results"]] + seen

    assert seen == ids


def test_links_are_absolute_and_keep_the_other_parameters(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 10)
    first = owner_client.get("/tasks/", {"ordering": "title", "page_size": 2, "search": "title"}).json()
    second = owner_client.get(first["next"]).json()

    for link in (first["next"], second["previous"]):
        parts = urlsplit(link)
        assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", "/tasks/")
        query = parse_qs(parts.query)
        assert query["ordering"] == ["title"]
        assert query["page_size"] == ["2"]
        assert query["search"] == ["title"]
        assert len(query["cursor"]) == 1


def test_a_cursor_from_another_ordering_is_400(owner: User, owner_client: APIClient) -> None:
    make_tasks(owner, 4)
    link = owner_client.get("/tasks/", {"ordering": "title", "page_size": 2}).json()["next"]
    title_cursor = parse_qs(urlsplit(link).query)["cursor"][0]

    response = owner_client.get("/tasks/", {"ordering": "due_to", "cursor": title_cursor})

    assert response.status_code == 400
    assert "cursor" in response.json()


@pytest.mark.parametrize(
    "bad_cursor",
    [
        "garbage!!",
        "Zm9v",  # "foo"
        cursor([]),
        cursor({}),
        cursor({"d": "x", "o": ["due_to", "id"], "k": ["2030-01-01T12:00:00Z", 1]}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": ["2030-01-01T12:00:00Z"]}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": "2030-01-01T12:00:00Z"}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": ["not a date", 1]}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": [None, 1]}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": [{"a": 1}, 1]}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": ["2030-01-01T12:00:00Z", "one"]}),
        # Before year 1 once in UTC: the database adapter would overflow.
        cursor({"d": "n", "o": ["due_to", "id"], "k": ["0001-01-01T00:00:00+01:00", 1]}),
        cursor({"d": "p", "o": ["due_to", "id"], "k": ["9999-12-31T23:59:59-01:00", 1]}),
        # This paginator never writes an instant without its offset.
        cursor({"d": "n", "o": ["due_to", "id"], "k": ["2030-01-01T12:00:00", 1]}),
        cursor({"d": "n", "o": ["due_to", "id"], "k": ["2030-01-01", 1]}),
    ],
)
def test_a_garbage_cursor_is_400(owner: User, owner_client: APIClient, bad_cursor: str) -> None:
    make_tasks(owner, 2)

    response = owner_client.get("/tasks/", {"cursor": bad_cursor})

    assert response.status_code == 400
    assert "cursor" in response.json()


def test_the_users_list_is_paginated_too(owner_client: APIClient) -> None:
    body = owner_client.get("/users/").json()

    assert set(body) == {"next", "previous", "results"}


# The links: the cursor spliced into a template worked out once per URL must give what DRF's
# replace_query_param() gives, whatever else the URL holds.

CURSOR_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=80)


@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(["cursor", "page_size", "xcursor", "a", "ordering", "c%75rsor"]), st.text()
        ),
        max_size=5,
    ).map(urlencode),
    raw_tail=st.sampled_from(
        ["", "&cursor=0000000000000000", "&x=%30%30%30%30%30%30%30%30%30%30%30%30%30%30%30%30"]
    ),
    cursors=st.lists(CURSOR_TEXT, min_size=1, max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_links_from_the_template_equal_drfs(query: str, raw_tail: str, cursors: list[str]) -> None:
    url = f"http://testserver/tasks/?{query}{raw_tail}"
    for cursor in cursors:  # the first call fills the template, the others use it
        template = _link_template(url, "cursor")
        expected = replace_query_param(url, "cursor", cursor)
        assert (expected if template is None else template[0] + cursor + template[1]) == expected


def test_a_url_already_holding_the_stand_in_gets_no_template() -> None:
    url = "http://testserver/tasks/?xcursor=0000000000000000&page_size=5"

    assert _link_template(url, "cursor") is None
