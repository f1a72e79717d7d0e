"""tasks.permissions: who may see, change and assign which task, through every door."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db.models import Q
from rest_framework.test import APIClient

from tasks.models import Task
from tasks.permissions import (
    TaskAccess,
    assignable_persons,
    may_change_task,
    may_see_task,
    own_tasks,
    task_scope,
    tasks_visible_to,
)
from tests.helpers.accounts import PASSWORD, client_for
from users.models import User
from users.principal import Principal

DUE = datetime(2030, 1, 1, 12, tzinfo=UTC)
PERSONAS = ("owner", "other", "staff", "superuser")
# Who sees (and so may change) the owner's task.
SEES_THE_OWNERS_TASK = {"owner": True, "other": False, "staff": True, "superuser": True}


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")


@pytest.fixture
def people(owner: User, other: User, staff: User, superuser: User) -> dict[str, User]:
    return {"owner": owner, "other": other, "staff": staff, "superuser": superuser}


@pytest.fixture
def task(owner: User) -> Task:
    return Task.objects.create(person=owner, title="The owner's", due_to=DUE)


def user_url(user: User) -> str:
    return f"http://testserver/users/{user.pk}/"


# The rules


def test_the_scope_is_everything_for_staff_and_the_callers_own_tasks_for_anyone_else() -> None:
    assert task_scope(caller_id=7, is_staff=True) == Q()
    assert task_scope(caller_id=7, is_staff=False) == Q(person_id=7)


@pytest.mark.parametrize("persona", PERSONAS)
def test_may_see_and_may_change_agree_with_the_scope(
    people: dict[str, User], persona: str, task: Task, other: User
) -> None:
    theirs = Task.objects.create(person=other, title="The other's", due_to=DUE)
    for caller in (people[persona], Principal.of(people[persona])):
        visible = set(tasks_visible_to(caller))
        for each in (task, theirs):
            assert may_see_task(caller, each) == (each in visible), (persona, each)
            assert may_change_task(caller, each) == (each in visible), (persona, each)
    assert may_see_task(Principal.of(people[persona]), task) == SEES_THE_OWNERS_TASK[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_assignable_persons_are_everyone_for_staff_else_the_caller(
    people: dict[str, User], persona: str
) -> None:
    caller = Principal.of(people[persona])

    assignable = set(assignable_persons(caller))

    expected = set(people.values()) if caller.is_staff else {people[persona]}
    assert assignable == expected


def test_own_tasks_are_a_staff_members_own_only(staff: User, task: Task) -> None:
    mine = Task.objects.create(person=staff, title="Staff's", due_to=DUE)

    assert list(own_tasks(staff.pk)) == [mine]
    assert task in tasks_visible_to(Principal.of(staff))


# Through the API: every persona against the owner's task


def call(client: APIClient, action: str, task: Task) -> Any:
    url = f"/tasks/{task.pk}/"
    if action == "list":
        return client.get("/tasks/?page_size=1000")
    if action == "detail":
        return client.get(url)
    if action == "update":
        return client.put(url, {"title": "Put", "due_to": "2031-01-01T00:00:00Z"})
    if action == "partial_update":
        return client.patch(url, {"completed": True})
    assert action == "delete"
    return client.delete(url)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("action", "allowed", "refused"),
    [
        ("list", 200, 200),
        ("detail", 200, 404),
        ("update", 200, 404),
        ("partial_update", 200, 404),
        ("delete", 204, 404),
    ],
)
def test_each_persona_on_the_owners_task(
    people: dict[str, User], task: Task, persona: str, action: str, allowed: int, refused: int
) -> None:
    sees = SEES_THE_OWNERS_TASK[persona]

    response = call(client_for(people[persona]), action, task)

    assert response.status_code == (allowed if sees else refused)
    if action == "list":
        ids = [each["id"] for each in response.json()["results"]]
        assert (task.pk in ids) == sees
    after = Task.objects.filter(pk=task.pk).values_list("title", "completed").first()
    changed = {
        "detail": ("The owner's", False),
        "list": ("The owner's", False),
        "update": ("Put", False),
        "partial_update": ("The owner's", True),
        "delete": None,
    }
    assert after == (changed[action] if sees else ("The owner's", False))


@pytest.mark.parametrize("persona", PERSONAS)
def test_creating_a_task_for_another_user(people: dict[str, User], other: User, persona: str) -> None:
    may_assign = persona == "other" or people[persona].is_staff

    response = client_for(people[persona]).post(
        "/tasks/", {"title": "For other", "due_to": "2030-01-01T00:00:00Z", "person": user_url(other)}
    )

    if may_assign:
        assert response.status_code == 201
        assert response.json()["person"] == user_url(other)
        assert Task.objects.filter(person=other, title="For other").exists()
    else:
        # The same 400 as a URL that names no one: who exists is not revealed.
        assert response.status_code == 400
        assert list(response.json()) == ["person"]
        assert not Task.objects.filter(title="For other").exists()


def test_anonymous_callers_get_401_on_every_action(anon: APIClient, task: Task) -> None:
    for action in ("list", "detail", "update", "partial_update", "delete"):
        assert call(anon, action, task).status_code == 401, action


# The viewset consults TaskAccess on every object it hands out or changes


@pytest.mark.parametrize("action", ["detail", "update", "partial_update", "delete"])
def test_a_refusing_object_check_refuses_the_action(
    monkeypatch: pytest.MonkeyPatch, owner_client: APIClient, task: Task, action: str
) -> None:
    seen: list[Any] = []

    def refuse(self: TaskAccess, request: Any, view: Any, obj: Any) -> bool:
        seen.append(obj)
        return False

    monkeypatch.setattr(TaskAccess, "has_object_permission", refuse)

    response = call(owner_client, action, task)

    assert response.status_code == 403
    [checked] = seen
    assert checked.person_id == task.person_id
    assert Task.objects.filter(pk=task.pk).values_list("title", "completed").get() == ("The owner's", False)


def test_the_object_check_sees_what_the_detail_found(
    monkeypatch: pytest.MonkeyPatch, staff_client: APIClient, task: Task
) -> None:
    seen: list[Any] = []
    original = TaskAccess.has_object_permission

    def spy(self: TaskAccess, request: Any, view: Any, obj: Any) -> bool:
        seen.append(obj)
        return original(self, request, view, obj)

    monkeypatch.setattr(TaskAccess, "has_object_permission", spy)

    assert staff_client.get(f"/tasks/{task.pk}/").status_code == 200
    assert [(found.person_id, found.task["id"]) for found in seen] == [(task.person_id, task.pk)]
