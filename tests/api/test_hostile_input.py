"""Hostile input, over HTTP, on every endpoint family that takes it.

Each is answered with a clear 4xx in JSON (an object, never an HTML page, never a 500), and
nothing is half-written: every row of tasks, users and sessions is as it was. Cases already
covered for one endpoint elsewhere (tests/api/test_errors.py, test_pagination.py,
tests/tasks/test_views.py, test_filters.py) are not repeated here; these cover the others.

Naive datetimes are refused, not read as UTC: a ``due_to`` or a ``due_after``/``due_before``
filter without an offset (or a date alone) is a 400, as the README says.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import override_settings
from rest_framework.test import APIClient

from tasks.models import Task
from tests.helpers.accounts import PASSWORD
from tokens.models import Session
from tokens.services import token_pair_issue
from users.activation import activation_token_make
from users.models import User

DUE = "2030-01-01T12:00:00Z"
NEW_PASSWORD = "another-s3cret-enough-for-tests"
BIG_ID = "9" * 25  # past any 64-bit integer


@dataclass
class World:
    owner: User
    task: Task
    sleeper: User  # signed up, waiting for activation
    activation: str  # the sleeper's activation token
    access: str
    refresh: str

    def client(self, auth: bool) -> APIClient:
        client = APIClient()
        if auth:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.access}")
        return client


@pytest.fixture
def world(owner: User) -> World:
    task = Task.objects.create(person=owner, title="Buy milk", due_to=DUE)
    sleeper = User.objects.create_user(
        username="sleeper", password=PASSWORD, email="sleeper@example.com", is_active=False
    )
    pair = token_pair_issue(user=owner)
    return World(
        owner=owner,
        task=task,
        sleeper=sleeper,
        activation=activation_token_make(user=sleeper),
        access=pair["access"],
        refresh=pair["refresh"],
    )


def state() -> list[list[dict[str, Any]]]:
    """Every row that a write could touch: tasks, users (passwords included), sessions."""
    return [list(model.objects.order_by("pk").values()) for model in (Task, User, Session)]


def assert_refused(response: HttpResponse, status: int, *names: str) -> None:
    """A ``status`` answer in JSON: an object naming each of ``names`` (or with a detail)."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert body
    assert set(names or ["detail"]) <= set(body), body


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {task} and {me} are filled in from the World
    field: str  # a text field of the body, where hostile values go
    body: Callable[[World], dict[str, Any]]  # a body the endpoint accepts
    auth: bool = True

    def url(self, world: World) -> str:
        return self.path.format(task=world.task.pk, me=world.owner.pk)

    def send(self, world: World, data: bytes | str, content_type: str = "application/json") -> HttpResponse:
        client = world.client(self.auth)
        return getattr(client, self.method)(self.url(world), data=data, content_type=content_type)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


ENDPOINTS = [
    Endpoint("post", "/tasks/", "title", lambda w: {"title": "Buy bread", "due_to": DUE}),
    Endpoint("put", "/tasks/{task}/", "title", lambda w: {"title": "Buy bread", "due_to": DUE}),
    Endpoint("patch", "/tasks/{task}/", "title", lambda w: {"title": "Buy bread"}),
    Endpoint(
        "post",
        "/users/",
        "first_name",
        lambda w: {"username": "newbie", "password": PASSWORD, "first_name": "New"},
        auth=False,
    ),
    Endpoint(
        "put",
        "/users/{me}/",
        "first_name",
        lambda w: {"username": "owner", "email": "owner@example.com", "first_name": "Owen"},
    ),
    Endpoint("patch", "/users/{me}/", "first_name", lambda w: {"first_name": "Owen"}),
    Endpoint(
        "post",
        "/users/me/password/",
        "new_password",
        lambda w: {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
    ),
    Endpoint(
        "post", "/auth/token/", "password", lambda w: {"username": "owner", "password": PASSWORD}, auth=False
    ),
    Endpoint("post", "/auth/token/refresh/", "refresh", lambda w: {"refresh": w.refresh}, auth=False),
    Endpoint("post", "/auth/token/verify/", "token", lambda w: {"token": w.access}, auth=False),
    Endpoint("post", "/auth/activate/", "token", lambda w: {"token": w.activation}, auth=False),
    Endpoint("post", "/auth/logout/", "refresh", lambda w: {"refresh": w.refresh}, auth=False),
]
each_endpoint = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)


def with_value(endpoint: Endpoint, world: World, value_json: str) -> bytes:
    """The endpoint's good body with ``value_json`` (raw JSON text) as its text field."""
    body = endpoint.body(world)
    body[endpoint.field] = "@@hostile@@"
    return json.dumps(body).replace('"@@hostile@@"', value_json).encode()


@each_endpoint
def test_the_good_body_is_accepted(world: World, endpoint: Endpoint) -> None:
    """The control: the bodies below differ from an accepted one only where they are hostile."""
    response = endpoint.send(world, json.dumps(endpoint.body(world)))

    assert 200 <= response.status_code < 300, response.content


# Bodies


@each_endpoint
def test_a_body_over_the_size_limit_is_a_json_413(world: World, endpoint: Endpoint) -> None:
    body = endpoint.body(world)
    body[endpoint.field] += "x" * 4096
    before = state()

    with override_settings(REQUEST_MAX_BYTES=2048):  # read when a client builds its middleware
        response = endpoint.send(world, json.dumps(body))

    assert_refused(response, 413)
    assert state() == before


@each_endpoint
@pytest.mark.parametrize(
    "value_json",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000],
    ids=["arrays", "objects"],
)
def test_deeply_nested_json_is_a_400(world: World, endpoint: Endpoint, value_json: str) -> None:
    before = state()

    response = endpoint.send(world, with_value(endpoint, world, value_json))

    assert_refused(response, 400)
    assert state() == before


@each_endpoint
def test_a_nul_character_in_text_is_a_400_naming_the_field(world: World, endpoint: Endpoint) -> None:
    good = endpoint.body(world)[endpoint.field]
    before = state()

    response = endpoint.send(world, with_value(endpoint, world, json.dumps(good[:2] + "\x00" + good[2:])))

    assert_refused(response, 400, endpoint.field)
    assert state() == before


@each_endpoint
def test_a_raw_nul_byte_in_the_json_is_a_400(world: World, endpoint: Endpoint) -> None:
    before = state()

    response = endpoint.send(world, with_value(endpoint, world, '"ab\x00cd"'))

    assert_refused(response, 400)
    assert state() == before


@each_endpoint
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc00\\ud800"])
def test_a_lone_surrogate_is_a_400(world: World, endpoint: Endpoint, escape: str) -> None:
    good = endpoint.body(world)[endpoint.field]
    before = state()

    response = endpoint.send(world, with_value(endpoint, world, f'"{good}{escape}"'))

    assert_refused(response, 400)
    assert state() == before


@each_endpoint
def test_an_unknown_field_is_a_400_naming_it(world: World, endpoint: Endpoint) -> None:
    body = {**endpoint.body(world), "is_admin": True}
    before = state()

    response = endpoint.send(world, json.dumps(body))

    assert_refused(response, 400, "is_admin")
    assert state() == before


@each_endpoint
@pytest.mark.parametrize("content_type", ["text/plain", "text/csv", "application/octet-stream"])
def test_an_unsupported_content_type_is_a_json_415(
    world: World, endpoint: Endpoint, content_type: str
) -> None:
    before = state()

    response = endpoint.send(world, json.dumps(endpoint.body(world)), content_type=content_type)

    assert_refused(response, 415)
    assert state() == before


# Methods


def send(client: APIClient, method: str, path: str) -> HttpResponse:
    """``method`` on ``path``, with a small JSON body unless it is a GET."""
    if method == "get":
        return client.get(path)
    return getattr(client, method)(
        path, data=json.dumps({"first_name": "x"}), content_type="application/json"
    )


NOT_ALLOWED = [
    ("put", "/tasks/"),
    ("patch", "/tasks/"),
    ("post", "/tasks/{task}/"),
    ("put", "/users/"),
    ("delete", "/users/"),
    ("post", "/users/{me}/"),
    ("post", "/users/me/"),
    ("delete", "/users/me/"),
    ("get", "/users/me/password/"),
    ("delete", "/users/me/password/"),
    ("get", "/auth/token/"),
    ("put", "/auth/token/"),
    ("delete", "/auth/token/"),
    ("get", "/auth/token/refresh/"),
    ("patch", "/auth/token/verify/"),
    ("get", "/auth/activate/"),
    ("get", "/auth/logout/"),
    ("delete", "/auth/logout/"),
    ("get", "/auth/logout-all/"),
]


@pytest.mark.parametrize(("method", "path"), NOT_ALLOWED, ids=[f"{m.upper()} {p}" for m, p in NOT_ALLOWED])
def test_an_unsupported_method_is_a_json_405_with_allow(world: World, method: str, path: str) -> None:
    before = state()

    response = send(world.client(auth=True), method, path.format(task=world.task.pk, me=world.owner.pk))

    assert_refused(response, 405)
    assert response["Allow"]
    assert method.upper() not in response["Allow"]
    assert state() == before


# Identifiers past any integer (the tasks' own: tests/tasks/test_views.py)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_a_user_id_past_any_integer_is_a_404(world: World, method: str) -> None:
    before = state()

    response = send(world.client(auth=True), method, f"/users/{BIG_ID}/")

    assert_refused(response, 404)
    assert state() == before


def test_a_session_id_past_any_integer_is_a_404(world: World) -> None:
    before = state()

    response = world.client(auth=True).delete(f"/auth/sessions/{BIG_ID}/")

    assert_refused(response, 404)
    assert state() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS[:3], ids=str)
def test_a_person_past_any_integer_is_a_400(world: World, endpoint: Endpoint) -> None:
    body = {**endpoint.body(world), "person": f"http://testserver/users/{BIG_ID}/"}
    before = state()

    response = endpoint.send(world, json.dumps(body))

    assert_refused(response, 400, "person")
    assert state() == before


# Lists: the tasks' page_size and cursors are in tests/api/test_pagination.py


def cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("page_size", ["10000000", "1" + "0" * 25, "-1", "\x00"])
def test_a_bad_page_size_of_users_is_a_400(world: World, page_size: str) -> None:
    response = world.client(auth=True).get("/users/", {"page_size": page_size})

    assert_refused(response, 400, "page_size")


@pytest.mark.parametrize(
    "bad_cursor",
    [
        "",
        "garbage!!",
        "\x00",
        cursor([]),
        cursor({"d": "n", "o": ["id"], "k": ["one"]}),
        cursor({"d": "n", "o": ["-id"], "k": [1]}),
    ],
    ids=["empty", "garbage", "nul", "a list", "not an id", "another ordering"],
)
def test_a_garbage_cursor_of_users_is_a_400(world: World, bad_cursor: str) -> None:
    response = world.client(auth=True).get("/users/", {"cursor": bad_cursor})

    assert_refused(response, 400, "cursor")


# Forged cursors carrying values no column can hold (SQLite would overflow on a 26-digit
# id; PostgreSQL refuses NUL in text) are refused by the paginator before any query.
@pytest.mark.parametrize(
    ("params"),
    [
        {"cursor": cursor({"d": "n", "o": ["due_to", "id"], "k": [DUE, 10**25]})},
        {"ordering": "title", "cursor": cursor({"d": "n", "o": ["title", "id"], "k": ["a\x00b", 1]})},
    ],
    ids=["id past any integer", "nul in text"],
)
def test_a_cursor_holding_what_no_column_can_is_a_400(world: World, params: dict[str, str]) -> None:
    client = world.client(auth=True)
    client.raise_request_exception = False

    response = client.get("/tasks/", params)

    assert_refused(response, 400, "cursor")


def test_a_nul_in_the_search_is_a_400(world: World) -> None:
    response = world.client(auth=True).get("/tasks/", {"search": "milk\x00"})

    assert_refused(response, 400, "non_field_errors")


# Naive datetimes: refused, as a due_to without an offset is on create (tests/tasks/test_views.py)


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("due_to", ["2030-01-01T12:00:00", "2030-01-01T12:00", "2030-01-01"])
def test_a_change_to_a_naive_due_to_is_a_400(world: World, method: str, due_to: str) -> None:
    before = state()

    response = getattr(world.client(auth=True), method)(
        f"/tasks/{world.task.pk}/", {"title": "Buy bread", "due_to": due_to}, format="json"
    )

    assert_refused(response, 400, "due_to")
    assert state() == before


@pytest.mark.parametrize("name", ["due_after", "due_before"])
@pytest.mark.parametrize("value", ["2030-01-01T12:00:00", "2030-01-01T12:00", "2030-01-01"])
def test_a_naive_instant_in_a_filter_is_a_400(world: World, name: str, value: str) -> None:
    response = world.client(auth=True).get("/tasks/", {name: value})

    assert_refused(response, 400, name)
