from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import Project, Role
from projects.services import member_add, project_create
from tasks.models import Task
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def make_task(person: User, title: str = "Buy milk", due_to: datetime = DUE, **fields: Any) -> Task:
    return Task.objects.create(person=person, title=title, due_to=due_to, **fields)


def listed(client: APIClient, **params: str) -> list[int]:
    response = client.get("/tasks/", params)
    assert response.status_code == 200, response.json()
    return [task["id"] for task in response.json()["results"]]


def test_due_after_includes_the_instant_itself(owner: User, owner_client: APIClient) -> None:
    before = make_task(owner, due_to=DUE - timedelta(seconds=1))
    at = make_task(owner, due_to=DUE)
    after = make_task(owner, due_to=DUE + timedelta(days=1))

    assert listed(owner_client, due_after="2030-01-01T12:00:00Z") == [at.pk, after.pk]
    assert before.pk not in listed(owner_client, due_after="2030-01-01T12:00:00Z")


def test_due_before_excludes_the_instant_itself(owner: User, owner_client: APIClient) -> None:
    before = make_task(owner, due_to=DUE - timedelta(seconds=1))
    make_task(owner, due_to=DUE)

    assert listed(owner_client, due_before="2030-01-01T12:00:00Z") == [before.pk]


def test_due_after_honours_the_offset(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner, due_to=DUE)

    # 13:00+02:00 is 11:00Z, before the task; 15:00+02:00 is 13:00Z, after it.
    assert listed(owner_client, due_after="2030-01-01T13:00:00+02:00") == [task.pk]
    assert listed(owner_client, due_after="2030-01-01T15:00:00+02:00") == []


def test_due_window(owner: User, owner_client: APIClient) -> None:
    tasks = [make_task(owner, due_to=DUE + timedelta(days=n)) for n in range(5)]

    window = listed(owner_client, due_after="2030-01-02T12:00:00Z", due_before="2030-01-04T12:00:00Z")

    assert window == [tasks[1].pk, tasks[2].pk]


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_completed(owner: User, owner_client: APIClient, value: str, expected: bool) -> None:
    done = make_task(owner, completed=True)
    open_ = make_task(owner, completed=False)

    assert listed(owner_client, completed=value) == [done.pk if expected else open_.pk]


def test_overdue_is_past_due_and_not_completed(owner: User, owner_client: APIClient) -> None:
    past = timezone.now() - timedelta(hours=1)
    future = timezone.now() + timedelta(hours=1)
    overdue = make_task(owner, due_to=past)
    make_task(owner, due_to=past, completed=True)
    make_task(owner, due_to=future)

    assert listed(owner_client, overdue="true") == [overdue.pk]
    assert overdue.pk not in listed(owner_client, overdue="false")
    assert len(listed(owner_client, overdue="false")) == 2


def test_search_matches_the_title_case_insensitively(owner: User, owner_client: APIClient) -> None:
    milk = make_task(owner, "Buy MILK")
    oat = make_task(owner, "oat milk, too", due_to=DUE + timedelta(days=1))
    make_task(owner, "Buy eggs")

    assert listed(owner_client, search="milk") == [milk.pk, oat.pk]


def test_filters_never_widen_past_the_callers_tasks(
    owner: User, other: User, other_client: APIClient
) -> None:
    make_task(owner, "Buy milk")

    assert listed(other_client, search="milk") == []
    assert listed(other_client, overdue="false") == []


@pytest.mark.parametrize(
    ("ordering", "expected_titles"),
    [
        ("due_to", ["b", "c", "a"]),
        ("-due_to", ["a", "c", "b"]),
        ("title", ["a", "b", "c"]),
        ("-title", ["c", "b", "a"]),
        ("-created", ["c", "a", "b"]),
    ],
)
def test_ordering(owner: User, owner_client: APIClient, ordering: str, expected_titles: list[str]) -> None:
    created = {"a": 2, "b": 1, "c": 3}
    for title, days in (("a", 3), ("b", 1), ("c", 2)):
        task = make_task(owner, title, DUE + timedelta(days=days))
        Task.objects.filter(pk=task.pk).update(created=DUE + timedelta(days=created[title]))

    response = owner_client.get("/tasks/", {"ordering": ordering})

    assert [task["title"] for task in response.json()["results"]] == expected_titles


@pytest.mark.parametrize(
    "params",
    [
        {"due_after": "garbage"},
        {"due_before": "2030-13-45T00:00:00Z"},
        # Valid ISO 8601, but out of range once in UTC.
        {"due_after": "0001-01-01T00:00:00+01:00"},
        {"due_before": "9999-12-31T23:59:59-01:00"},
        {"completed": "maybe"},
        {"overdue": "maybe"},
    ],
    ids=["due_after", "due_before", "due_after-underflow", "due_before-overflow", "completed", "overdue"],
)
def test_invalid_filter_values_are_400_naming_the_parameter(
    owner: User, owner_client: APIClient, params: dict[str, str]
) -> None:
    make_task(owner)

    response = owner_client.get("/tasks/", params)

    assert response.status_code == 400
    assert set(response.json()) == set(params)


# By project, by assignee, assigned to me


@pytest.fixture
def shared(owner: User, other: User) -> Project:
    """A project of the owner's with ``other`` as an editor."""
    project = project_create(owner_id=owner.pk, name="Shared")
    member_add(project=project, user_id=other.pk, role=Role.EDITOR)
    return project


def test_project_narrows_the_list_to_that_project(
    owner: User, owner_client: APIClient, shared: Project
) -> None:
    personal = make_task(owner)
    in_shared = make_task(owner, project=shared)

    assert listed(owner_client, project=str(shared.pk)) == [in_shared.pk]
    assert personal.pk in listed(owner_client)


def test_a_project_the_caller_is_not_in_lists_nothing(
    owner: User, other_client: APIClient, other: User
) -> None:
    make_task(owner)  # in the owner's personal project, which ``other`` is not in
    personal = Project.objects.get(owner=owner, personal=True)

    assert listed(other_client, project=str(personal.pk)) == []


def test_person_and_assigned_to_me(
    owner: User, other: User, owner_client: APIClient, other_client: APIClient, shared: Project
) -> None:
    mine = make_task(owner, project=shared)
    theirs = make_task(other, project=shared)

    assert listed(owner_client, person=str(other.pk)) == [theirs.pk]
    assert listed(owner_client, person=str(owner.pk)) == [mine.pk]
    assert listed(owner_client, assigned_to_me="true") == [mine.pk]
    assert listed(owner_client, assigned_to_me="false") == [theirs.pk]
    assert listed(other_client, assigned_to_me="true") == [theirs.pk]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("project", "seven"),
        ("project", "http://testserver/projects/1/"),  # an id, not a URL
        ("project", "0"),
        ("project", "2.5"),
        ("project", "١٢"),  # digits of another script
        ("project", "9" * 19),  # past any id
        ("person", "-1"),
        ("assigned_to_me", "maybe"),
    ],
)
def test_a_malformed_filter_is_a_400(owner_client: APIClient, name: str, value: str) -> None:
    response = owner_client.get("/tasks/", {name: value})

    assert response.status_code == 400
    assert name in response.json()
