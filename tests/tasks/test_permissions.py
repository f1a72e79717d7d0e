"""tasks.permissions: a task is visible to the members of its project; its owner and editors
change it, viewers only read it, anyone else gets a 404; staff see and change every task.
Through the rules themselves and through every task endpoint, for every role."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Q
from rest_framework.test import APIClient

from projects.models import Role
from tasks.models import Task
from tasks.permissions import (
    TaskAccess,
    may_change_task,
    may_see_task,
    member_tasks,
    task_scope,
    tasks_visible_to,
    with_caller_role,
)
from tests.helpers.accounts import PASSWORD, client_for
from tests.helpers.projects import DUE, ROLES, Team, personal_project, project_url, user_url
from users.models import User
from users.principal import Principal

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def newcomer(db: None) -> User:
    """A user who is a member of no project but their own."""
    return User.objects.create_user(username="newcomer", password=PASSWORD)


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")


# The rules


def test_the_scope_is_everything_for_staff_and_the_callers_projects_for_anyone_else(team: Team) -> None:
    assert task_scope(caller_id=7, is_staff=True) == Q()
    for role in ("owner", "editor", "viewer", "stranger"):
        user = team.people[role]
        scoped = set(Task.objects.filter(task_scope(caller_id=user.pk, is_staff=False)))
        assert (team.task in scoped) == (role != "stranger"), role


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_may_see_and_may_change_agree_with_the_scope_and_the_role(
    team: Team, superuser: User, newcomer: User, role: str
) -> None:
    people = {**team.people, "superuser": superuser}
    # A task in each persona's personal project too: seen by its owner (and staff) only.
    everyone = [team.task] + [
        Task.objects.create(project=personal_project(user), person=user, title=name, due_to=DUE)
        for name, user in people.items()
    ]
    caller = Principal.of(people[role])
    visible = set(tasks_visible_to(caller))

    for task in with_caller_role(Task.objects.filter(pk__in=[each.pk for each in everyone]), caller.pk):
        assert may_see_task(caller, task) == (task in visible), (role, task)
        writes = caller.is_staff or task.caller_role in (Role.OWNER, Role.EDITOR)
        assert may_change_task(caller, task) == writes, (role, task)
    assert (team.task in visible) == (role != "stranger")


def test_member_tasks_are_a_staff_members_projects_only(team: Team) -> None:
    staff = team.people["staff"]
    mine = Task.objects.create(project=personal_project(staff), person=staff, title="Staff's", due_to=DUE)

    assert list(member_tasks(staff.pk)) == [mine]
    assert team.task in tasks_visible_to(Principal.of(staff))
    assert list(member_tasks(team.people["viewer"].pk)) == [team.task]


# Through the API: every role against every task endpoint


def state(task: Task) -> tuple[str, bool, int, int] | None:
    """What a request may change of a task: None once it is gone."""
    row = Task.objects.filter(pk=task.pk).values_list("title", "completed", "project_id", "person_id").first()
    return row


@dataclass(frozen=True)
class Endpoint:
    # The request: the client, the team, the caller; answers the response and the task it is about.
    call: Callable[[APIClient, Team, User], tuple[Any, Task]]
    statuses: dict[str, int]  # by role
    # The task's state after an allowed request (from the team and the caller), None if gone.
    after: Callable[[Task, Team, User], tuple[str, bool, int, int] | None]


def on_the_task(
    request: Callable[[APIClient, str, Team, User], Any],
) -> Callable[[APIClient, Team, User], Any]:
    def call(client: APIClient, team: Team, caller: User) -> tuple[Any, Task]:
        return request(client, f"/tasks/{team.task.pk}/", team, caller), team.task

    return call


def as_it_was(task: Task, team: Team, caller: User) -> tuple[str, bool, int, int] | None:
    return (task.title, task.completed, task.project_id, task.person_id)


def changed(**fields: Any) -> Callable[[Task, Team, User], tuple[str, bool, int, int] | None]:
    def after(task: Task, team: Team, caller: User) -> tuple[str, bool, int, int]:
        values = {
            "title": task.title,
            "completed": task.completed,
            "project_id": task.project_id,
            "person_id": task.person_id,
        }
        for name, value in fields.items():
            values[name] = value(team, caller) if callable(value) else value
        return (values["title"], values["completed"], values["project_id"], values["person_id"])

    return after


def created_in_the_project(client: APIClient, team: Team, caller: User) -> tuple[Any, Task]:
    response = client.post(
        "/tasks/",
        {
            "title": "New",
            "due_to": "2030-01-01T00:00:00Z",
            "project": project_url(team.project),
            "person": user_url(team.people["editor"]),
        },
    )
    made = Task.objects.filter(title="New").first()
    return response, made or Task(title="New", completed=False, project_id=team.project.pk, person_id=0)


def created(task: Task, team: Team, caller: User) -> tuple[str, bool, int, int]:
    return ("New", False, team.project.pk, team.people["editor"].pk)


def moved_into_the_project(client: APIClient, team: Team, caller: User) -> tuple[Any, Task]:
    own = Task.objects.create(project=personal_project(caller), person=caller, title="Own", due_to=DUE)
    response = client.patch(
        f"/tasks/{own.pk}/", {"project": project_url(team.project), "person": user_url(team.people["editor"])}
    )
    return response, own


MEMBERS_READ = {"owner": 200, "editor": 200, "viewer": 200, "stranger": 404, "staff": 200}
WRITERS = {"owner": 200, "editor": 200, "viewer": 403, "stranger": 404, "staff": 200}
# A project (or person) the caller does not see is a URL that names nothing: 400.
INTO_THE_PROJECT = {"owner": 201, "editor": 201, "viewer": 403, "stranger": 400, "staff": 201}

ENDPOINTS = {
    "list": Endpoint(
        on_the_task(lambda client, url, team, caller: client.get("/tasks/?page_size=1000")),
        dict.fromkeys(ROLES, 200),
        as_it_was,
    ),
    "detail": Endpoint(
        on_the_task(lambda client, url, team, caller: client.get(url)), MEMBERS_READ, as_it_was
    ),
    "create-into-the-project": Endpoint(created_in_the_project, INTO_THE_PROJECT, created),
    "update": Endpoint(
        on_the_task(
            lambda client, url, team, caller: client.put(
                url, {"title": "Put", "due_to": "2031-01-01T00:00:00Z"}
            )
        ),
        WRITERS,
        changed(title="Put"),
    ),
    "partial-update": Endpoint(
        on_the_task(lambda client, url, team, caller: client.patch(url, {"completed": True})),
        WRITERS,
        changed(completed=True),
    ),
    "delete": Endpoint(
        on_the_task(lambda client, url, team, caller: client.delete(url)),
        {role: 204 if code == 200 else code for role, code in WRITERS.items()},
        lambda task, team, caller: None,
    ),
    "move-out-to-the-callers-project": Endpoint(
        on_the_task(
            lambda client, url, team, caller: client.patch(
                url, {"project": project_url(personal_project(caller)), "person": user_url(caller)}
            )
        ),
        WRITERS,
        changed(
            project_id=lambda team, caller: personal_project(caller).pk,
            person_id=lambda team, caller: caller.pk,
        ),
    ),
    "move-into-the-project": Endpoint(
        moved_into_the_project,
        {**WRITERS, "stranger": 400},
        changed(
            project_id=lambda team, caller: team.project.pk,
            person_id=lambda team, caller: team.people["editor"].pk,
        ),
    ),
    "assign-a-member": Endpoint(
        on_the_task(
            lambda client, url, team, caller: client.patch(url, {"person": user_url(team.people["viewer"])})
        ),
        WRITERS,
        changed(person_id=lambda team, caller: team.people["viewer"].pk),
    ),
    "assign-a-non-member": Endpoint(
        on_the_task(
            lambda client, url, team, caller: client.patch(
                url, {"person": user_url(User.objects.get(username="newcomer"))}
            )
        ),
        {**WRITERS, "owner": 400, "editor": 400, "staff": 400},
        as_it_was,
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_every_role_on_every_task_endpoint(team: Team, newcomer: User, name: str, role: str) -> None:
    endpoint = ENDPOINTS[name]
    caller = team.people[role]
    before = state(team.task)

    response, task = endpoint.call(client_for(caller), team, caller)

    expected = endpoint.statuses[role]
    assert response.status_code == expected, response.content
    if name == "list":
        ids = [each["id"] for each in response.json()["results"]]
        assert (team.task.pk in ids) == (role != "stranger")
    if expected < 300:
        assert state(task) == endpoint.after(task, team, caller)
    else:
        assert state(team.task) == before
        if name == "create-into-the-project":
            assert not Task.objects.filter(title="New").exists()
        elif name == "move-into-the-project":
            assert state(task) == as_it_was(task, team, caller)  # still in the caller's own project


def test_a_non_member_person_is_named_as_not_a_member_to_staff_and_as_nobody_to_members(
    team: Team, newcomer: User
) -> None:
    url = f"/tasks/{team.task.pk}/"
    body = {"person": user_url(newcomer)}

    to_staff = client_for(team.people["staff"]).patch(url, body).json()
    to_owner = client_for(team.people["owner"]).patch(url, body).json()
    to_owner_of_nobody = (
        client_for(team.people["owner"]).patch(url, {"person": "http://testserver/users/999999/"}).json()
    )

    assert to_staff == {"person": ["Not a member of the task's project: the project's owner adds members."]}
    # Who exists is not revealed to anyone but staff.
    assert to_owner == to_owner_of_nobody == {"person": ["Invalid hyperlink - Object does not exist."]}


def test_a_task_created_without_a_project_goes_to_the_callers_personal_project(team: Team) -> None:
    viewer = team.people["viewer"]

    response = client_for(viewer).post("/tasks/", {"title": "Mine", "due_to": "2030-01-01T00:00:00Z"})

    assert response.status_code == 201
    assert response.json()["project"] == project_url(personal_project(viewer))
    assert response.json()["person"] == user_url(viewer)


def test_staff_create_a_task_for_a_member_in_their_project(team: Team, owner: User) -> None:
    response = client_for(team.people["staff"]).post(
        "/tasks/",
        {
            "title": "For you",
            "due_to": "2030-01-01T00:00:00Z",
            "project": project_url(personal_project(owner)),
            "person": user_url(owner),
        },
    )

    assert response.status_code == 201
    assert Task.objects.get(title="For you").project == personal_project(owner)


def test_anonymous_callers_get_401_on_every_task_endpoint(
    team: Team, anon: APIClient, newcomer: User, owner: User
) -> None:
    before = state(team.task)
    for name, endpoint in ENDPOINTS.items():
        response, _ = endpoint.call(anon, team, owner)
        assert response.status_code == 401, name
    assert state(team.task) == before
    assert not Task.objects.filter(title="New").exists()
    assert Task.objects.get(title="Own").project == personal_project(owner)  # not moved in


# The browsable API's task form offers only persons and projects the caller sees


def test_the_browsable_apis_task_form_offers_only_fellow_members_and_the_callers_projects(
    team: Team, newcomer: User
) -> None:
    response = client_for(team.people["viewer"]).get("/tasks/", HTTP_ACCEPT=BROWSER_ACCEPT)

    assert response.status_code == 200
    page = response.content.decode()
    for fellow in ("owner", "editor", "viewer"):
        assert f'value="{user_url(team.people[fellow])}"' in page, fellow
    for stranger in (newcomer, team.people["stranger"], team.people["staff"]):
        assert f'value="{user_url(stranger)}"' not in page
    assert f'value="{project_url(team.project)}"' in page
    assert f'value="{project_url(personal_project(newcomer))}"' not in page


# The viewset consults TaskAccess on every object it hands out or changes


def call(client: APIClient, action: str, task: Task) -> Any:
    url = f"/tasks/{task.pk}/"
    if action == "detail":
        return client.get(url)
    if action == "update":
        return client.put(url, {"title": "Put", "due_to": "2031-01-01T00:00:00Z"})
    if action == "partial_update":
        return client.patch(url, {"completed": True})
    assert action == "delete"
    return client.delete(url)


@pytest.mark.parametrize("action", ["detail", "update", "partial_update", "delete"])
def test_a_refusing_object_check_refuses_the_action(
    monkeypatch: pytest.MonkeyPatch, team: Team, owner_client: APIClient, action: str
) -> None:
    seen: list[Any] = []

    def refuse(self: TaskAccess, request: Any, view: Any, obj: Any) -> bool:
        seen.append(obj)
        return False

    monkeypatch.setattr(TaskAccess, "has_object_permission", refuse)
    before = state(team.task)

    response = call(owner_client, action, team.task)

    assert response.status_code == 403
    [checked] = seen
    assert checked.caller_role == Role.OWNER
    assert state(team.task) == before


def test_the_object_check_sees_what_the_detail_found(monkeypatch: pytest.MonkeyPatch, team: Team) -> None:
    seen: list[Any] = []
    original = TaskAccess.has_object_permission

    def spy(self: TaskAccess, request: Any, view: Any, obj: Any) -> bool:
        seen.append(obj)
        return original(self, request, view, obj)

    monkeypatch.setattr(TaskAccess, "has_object_permission", spy)

    assert client_for(team.people["viewer"]).get(f"/tasks/{team.task.pk}/").status_code == 200
    assert [(found.task["id"], found.caller_role) for found in seen] == [(team.task.pk, Role.VIEWER)]
