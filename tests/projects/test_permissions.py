"""projects.permissions: who sees and manages which project, through every project and member
endpoint; and what a former member still sees of a project (nothing)."""

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from projects.models import Project, Role
from projects.permissions import (
    is_member,
    may_delete_project,
    may_manage_project,
    members_visible_to,
    projects_visible_to,
    shares_a_project,
    users_sharing_a_project,
)
from tasks.calendar import task_uid
from tasks.models import Task
from tests.helpers.accounts import PASSWORD, client_for
from tests.helpers.feeds import create_feed, feed_path, read_feed
from tests.helpers.projects import (
    DUE,
    ROLES,
    Team,
    member_url,
    members_url,
    personal_project,
    project_url,
    roles_in,
    user_url,
)
from users.models import User
from users.principal import Principal


@pytest.fixture
def newcomer(db: None) -> User:
    return User.objects.create_user(username="newcomer", password=PASSWORD)


# The rules


def test_a_project_is_visible_to_its_members_and_staff_with_the_callers_role(team: Team) -> None:
    seen = {
        role: {project.pk: project.caller_role for project in projects_visible_to(Principal.of(user))}
        for role, user in team.people.items()
    }

    assert seen["owner"][team.project.pk] == Role.OWNER
    assert seen["editor"][team.project.pk] == Role.EDITOR
    assert seen["viewer"][team.project.pk] == Role.VIEWER
    assert team.project.pk not in seen["stranger"]
    assert seen["staff"][team.project.pk] is None  # staff, not a member
    # Everyone sees their personal project, and nobody else's but staff.
    for role, user in team.people.items():
        assert seen[role][personal_project(user).pk] == Role.OWNER
    assert set(seen["stranger"]) == {personal_project(team.people["stranger"]).pk}
    assert set(seen["staff"]) == set(Project.objects.values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("role", "manages"),
    [("owner", True), ("editor", False), ("viewer", False), ("stranger", False), ("staff", True)],
)
def test_the_owner_and_staff_manage_a_project(team: Team, role: str, manages: bool) -> None:
    caller = Principal.of(team.people[role])

    assert may_manage_project(caller, team.project) is manages
    assert may_delete_project(caller, team.project) is manages
    # Nobody deletes a personal project, its owner and staff included.
    assert may_delete_project(caller, personal_project(team.people["owner"])) is False


def test_members_visible_are_the_projects_members_in_joining_order(team: Team) -> None:
    members = members_visible_to(Principal.of(team.people["viewer"]), team.project)

    assert [member.user.username for member in members] == ["owner", "editor", "viewer"]


def test_users_sharing_a_project_are_the_callers_fellow_members(team: Team, newcomer: User) -> None:
    viewer = Principal.of(team.people["viewer"])
    stranger = Principal.of(team.people["stranger"])

    assert set(users_sharing_a_project(viewer)) == {
        team.people["owner"],
        team.people["editor"],
        team.people["viewer"],
    }
    assert set(users_sharing_a_project(stranger)) == {team.people["stranger"]}
    assert newcomer in set(users_sharing_a_project(Principal.of(team.people["staff"])))
    assert shares_a_project(viewer, team.people["editor"].pk) is True
    assert shares_a_project(viewer, newcomer.pk) is False
    assert is_member(project_id=team.project.pk, user_id=team.people["viewer"].pk) is True
    assert is_member(project_id=team.project.pk, user_id=newcomer.pk) is False


# Every role against every project and member endpoint: the status, and what changed.


def state(project: Project) -> dict[str, Any] | None:
    """What a request may change of the team's project: None once it is gone."""
    if not Project.objects.filter(pk=project.pk).exists():
        assert not Task.objects.filter(project_id=project.pk).exists()
        return None
    fresh = Project.objects.select_related("owner").get(pk=project.pk)
    return {
        "name": fresh.name,
        "owner": fresh.owner.username,
        "members": roles_in(fresh),
        "tasks": list(Task.objects.filter(project=fresh).values_list("title", "person__username")),
    }


def unchanged(before: dict[str, Any], team: Team, role: str) -> dict[str, Any] | None:
    return before


def with_members(**roles: str | None) -> Callable[[dict[str, Any], Team, str], dict[str, Any]]:
    def effect(before: dict[str, Any], team: Team, role: str) -> dict[str, Any]:
        members = {**before["members"], **roles}
        return {**before, "members": {name: each for name, each in members.items() if each is not None}}

    return effect


def renamed(before: dict[str, Any], team: Team, role: str) -> dict[str, Any]:
    return {**before, "name": "Renamed"}


def handed_to_the_editor(before: dict[str, Any], team: Team, role: str) -> dict[str, Any]:
    return {
        **before,
        "owner": "editor",
        "members": {"owner": Role.EDITOR, "editor": Role.OWNER, "viewer": Role.VIEWER},
    }


def left(before: dict[str, Any], team: Team, role: str) -> dict[str, Any]:
    leaver = team.people[role].username
    members = {name: each for name, each in before["members"].items() if name != leaver}
    # The tasks the leaver was assigned there go to the owner.
    tasks = [(title, "owner" if person == leaver else person) for title, person in before["tasks"]]
    return {**before, "members": members, "tasks": tasks}


def removed_viewer(before: dict[str, Any], team: Team, role: str) -> dict[str, Any]:
    return with_members(viewer=None)(before, team, role)


def gone(before: dict[str, Any], team: Team, role: str) -> None:
    return None


def returns_the_project_if_seen(response: Any, team: Team, role: str) -> None:
    ids = [project["id"] for project in response.json()["results"]]
    assert (team.project.pk in ids) == (role != "stranger")


def answers_the_callers_role(response: Any, team: Team, role: str) -> None:
    assert response.json()["role"] == {"staff": None}.get(role, role)


def lists_the_members(response: Any, team: Team, role: str) -> None:
    assert [member["username"] for member in response.json()["results"]] == ["owner", "editor", "viewer"]


def answers_a_new_project_of_the_callers(response: Any, team: Team, role: str) -> None:
    body = response.json()
    assert (body["owner"], body["role"], body["personal"]) == (user_url(team.people[role]), "owner", False)
    assert Project.objects.get(pk=body["id"]).owner == team.people[role]


@dataclass(frozen=True)
class Endpoint:
    call: Callable[[APIClient, Team], Any]
    statuses: dict[str, int]  # by role
    effect: Callable[[dict[str, Any], Team, str], dict[str, Any] | None] = unchanged
    check: Callable[[Any, Team, str], None] | None = field(default=None)


MEMBERS_READ = {"owner": 200, "editor": 200, "viewer": 200, "stranger": 404, "staff": 200}
MANAGED = {"owner": 200, "editor": 403, "viewer": 403, "stranger": 404, "staff": 200}
MANAGED_DELETE = {role: 204 if code == 200 else code for role, code in MANAGED.items()}
OWNERS_OWN = {"owner": 409, "editor": 403, "viewer": 403, "stranger": 404, "staff": 409}

ENDPOINTS = {
    "projects-list": Endpoint(
        lambda client, team: client.get("/projects/?page_size=1000"),
        dict.fromkeys(ROLES, 200),
        check=returns_the_project_if_seen,
    ),
    "projects-create": Endpoint(
        lambda client, team: client.post("/projects/", {"name": "Mine"}),
        dict.fromkeys(ROLES, 201),
        check=answers_a_new_project_of_the_callers,
    ),
    "project-retrieve": Endpoint(
        lambda client, team: client.get(project_url(team.project)),
        MEMBERS_READ,
        check=answers_the_callers_role,
    ),
    "project-put": Endpoint(
        lambda client, team: client.put(project_url(team.project), {"name": "Renamed"}), MANAGED, renamed
    ),
    "project-patch": Endpoint(
        lambda client, team: client.patch(project_url(team.project), {"name": "Renamed"}), MANAGED, renamed
    ),
    "project-delete": Endpoint(
        lambda client, team: client.delete(project_url(team.project) + "?confirm=1"), MANAGED_DELETE, gone
    ),
    "project-transfer": Endpoint(
        lambda client, team: client.post(
            project_url(team.project) + "transfer/", {"user": user_url(team.people["editor"])}
        ),
        MANAGED,
        handed_to_the_editor,
    ),
    "project-leave": Endpoint(
        lambda client, team: client.post(project_url(team.project) + "leave/"),
        # The owner names no successor; staff are not members.
        {"owner": 409, "editor": 204, "viewer": 204, "stranger": 404, "staff": 409},
        left,
    ),
    "members-list": Endpoint(
        lambda client, team: client.get(members_url(team.project)), MEMBERS_READ, check=lists_the_members
    ),
    "members-add": Endpoint(
        lambda client, team: client.post(
            members_url(team.project), {"username": "newcomer", "role": "viewer"}
        ),
        {role: 201 if code == 200 else code for role, code in MANAGED.items()},
        with_members(newcomer=Role.VIEWER),
    ),
    "member-retrieve": Endpoint(
        lambda client, team: client.get(member_url(team.project, team.people["editor"])), MEMBERS_READ
    ),
    "member-role": Endpoint(
        lambda client, team: client.patch(
            member_url(team.project, team.people["viewer"]), {"role": "editor"}
        ),
        MANAGED,
        with_members(viewer=Role.EDITOR),
    ),
    "member-role-of-the-owner": Endpoint(
        lambda client, team: client.patch(member_url(team.project, team.people["owner"]), {"role": "viewer"}),
        OWNERS_OWN,
    ),
    "member-remove": Endpoint(
        lambda client, team: client.delete(member_url(team.project, team.people["viewer"])),
        # The viewer removes themselves: they leave.
        {**MANAGED_DELETE, "viewer": 204},
        removed_viewer,
    ),
    "member-remove-the-owner": Endpoint(
        lambda client, team: client.delete(member_url(team.project, team.people["owner"])), OWNERS_OWN
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_every_role_on_every_project_and_member_endpoint(
    team: Team, newcomer: User, name: str, role: str
) -> None:
    endpoint = ENDPOINTS[name]
    before = state(team.project)
    assert before is not None

    response = endpoint.call(client_for(team.people[role]), team)

    expected = endpoint.statuses[role]
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert "detail" in response.json()
    elif endpoint.check is not None:
        endpoint.check(response, team, role)
    assert state(team.project) == (endpoint.effect(before, team, role) if expected < 300 else before)


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_anonymous_callers_get_401_on_every_project_and_member_endpoint(
    team: Team, anon: APIClient, newcomer: User, name: str
) -> None:
    before = state(team.project)

    response = ENDPOINTS[name].call(anon, team)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert state(team.project) == before


# A former member sees nothing of the project, through any door.


def body_of(response: Any) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def exported_ids(client: APIClient) -> set[int]:
    response = client.get("/tasks/export/")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body_of(response))) as archive:
        return {task["id"] for task in json.loads(archive.read("tasks.json"))}


def what_is_seen(client: APIClient, team: Team, tasks: list[Task], feed: dict[str, Any]) -> dict[str, Any]:
    """Each door's answer about the team's project and its tasks, for the client's user."""
    ids = {task.pk for task in tasks}
    listed = {each["id"] for each in client.get("/tasks/?page_size=1000").json()["results"]}
    filtered = {each["id"] for each in client.get("/tasks/?completed=false&search=t").json()["results"]}
    calendar = body_of(client.get("/tasks/?page_size=1000", HTTP_ACCEPT="text/calendar")).decode()
    _, feed_body = read_feed(feed_path(feed))
    return {
        "projects list": team.project.pk
        in {each["id"] for each in client.get("/projects/").json()["results"]},
        "project": client.get(project_url(team.project)).status_code,
        "members": client.get(members_url(team.project)).status_code,
        "member": client.get(member_url(team.project, team.people["owner"])).status_code,
        "tasks list": sorted(ids & listed),
        "tasks filtered": sorted(ids & filtered),
        "task details": sorted(client.get(f"/tasks/{task.pk}/").status_code for task in tasks),
        "task change": client.patch(f"/tasks/{tasks[0].pk}/", {"title": "Mine now"}).status_code,
        "calendar": sorted(task.pk for task in tasks if task_uid(task.pk) in calendar),
        "feed": sorted(task.pk for task in tasks if task_uid(task.pk).encode() in feed_body),
        "export": sorted(ids & exported_ids(client)),
        "task create": client.post(
            "/tasks/", {"title": "In", "due_to": "2030-01-01T00:00:00Z", "project": project_url(team.project)}
        ).status_code,
    }


@pytest.mark.parametrize("how", ["removed by the owner", "left"])
def test_a_former_member_sees_nothing_of_the_project(team: Team, how: str) -> None:
    editor = team.people["editor"]
    tasks = [
        team.task,
        Task.objects.create(project=team.project, person=team.people["owner"], title="Test it", due_to=DUE),
    ]
    client = client_for(editor)
    feed = create_feed(client, name="Phone")
    everything = sorted(task.pk for task in tasks)
    assert what_is_seen(client, team, tasks, feed) == {
        "projects list": True,
        "project": 200,
        "members": 200,
        "member": 200,
        "tasks list": everything,
        "tasks filtered": everything,
        "task details": [200, 200],
        "task change": 200,
        "calendar": everything,
        "feed": everything,
        "export": everything,
        "task create": 201,
    }
    Task.objects.filter(title="In").delete()
    Task.objects.filter(pk=tasks[0].pk).update(title="Ship it")

    if how == "left":
        response = client.post(project_url(team.project) + "leave/")
    else:
        response = client_for(team.people["owner"]).delete(member_url(team.project, editor))
    assert response.status_code == 204

    assert what_is_seen(client, team, tasks, feed) == {
        "projects list": False,
        "project": 404,
        "members": 404,
        "member": 404,
        "tasks list": [],
        "tasks filtered": [],
        "task details": [404, 404],
        "task change": 404,
        "calendar": [],
        "feed": [],
        "export": [],
        "task create": 400,
    }
    assert not Task.objects.filter(project=team.project, title__in=["Mine now", "In"]).exists()
    # The project goes on for its other members, the former member's task now the owner's.
    owner_sees = client_for(team.people["owner"]).get(f"/tasks/{team.task.pk}/").json()
    assert owner_sees["person"] == user_url(team.people["owner"])
    assert roles_in(team.project) == {"owner": Role.OWNER, "viewer": Role.VIEWER}
