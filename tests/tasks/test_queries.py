"""Queries per request of the hot reads and of creating a task, for a member of several
projects: as many whatever the number of projects and of tasks in them (BENCHMARKS.md).

The first request of a process also reads the token's session and user (tokens.revocation
keeps them in a per-process memo, which the suite clears before each test); every count
below is of a warm process, after one request has filled the memo, as a server runs.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Project, Role
from projects.services import member_add, project_create
from tasks.models import Task
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# The projects of the caller's each test is run with: their personal one, one they edit and
# one they view, and then five more they edit.
PROJECT_COUNTS = [3, 8]


def projects_of(owner: User, other: User, count: int) -> dict[str, Project]:
    """``owner`` in ``count`` projects (their personal one, "team" as an editor, "watched" as a
    viewer, the rest as an editor), each with tasks; and "unseen", a project of other's only."""
    projects = {"personal": Project.objects.get(owner=owner, personal=True)}
    for n in range(count - 1):
        name = "watched" if n == 1 else "team" if n == 0 else f"team{n}"
        projects[name] = project_create(owner_id=other.pk, name=name)
        member_add(project=projects[name], user_id=owner.pk, role=Role.VIEWER if n == 1 else Role.EDITOR)
    projects["unseen"] = project_create(owner_id=other.pk, name="unseen")
    Task.objects.bulk_create(
        Task(
            project=project,
            person=owner if project.owner_id == owner.pk else other,
            title=f"t{n}",
            due_to=due,
        )
        for project in projects.values()
        for n, due in enumerate(DUE + timedelta(hours=hours) for hours in range(30))
    )
    return projects


def warm(client: APIClient) -> None:
    """One request: the process's memo of the token's session and user is filled."""
    assert client.get("/tasks/?page_size=1").status_code == 200


@pytest.mark.parametrize("count", PROJECT_COUNTS)
@pytest.mark.parametrize("page_size", [1, 20])
def test_a_page_of_the_list_is_one_query(
    owner: User,
    other: User,
    owner_client: APIClient,
    django_assert_num_queries: Any,
    count: int,
    page_size: int,
) -> None:
    projects_of(owner, other, count)
    warm(owner_client)

    # 1: the page: the tasks of the caller's projects (projects_membership, a subquery of
    # the same statement), each project's first page read from its index and merged,
    # ORDER BY due_to, id LIMIT page_size + 1 (no COUNT).
    with django_assert_num_queries(1) as captured:
        first = owner_client.get(f"/tasks/?page_size={page_size}").json()
    assert "projects_membership" in captured.captured_queries[0]["sql"]
    # 1: the page after the cursor, the same statement with the cursor's due_to and id.
    with django_assert_num_queries(1):
        second = owner_client.get(first["next"]).json()
    # 1: the page before it, the same read backwards.
    with django_assert_num_queries(1):
        back = owner_client.get(second["previous"]).json()

    assert len(first["results"]) == len(second["results"]) == page_size
    assert back["results"] == first["results"]


def test_the_first_request_of_a_process_reads_the_session_once(
    owner: User, other: User, owner_client: APIClient, django_assert_num_queries: Any
) -> None:
    projects_of(owner, other, 3)

    # 1: the token's session and user (a cold process memo); 2: the page.
    with django_assert_num_queries(2):
        owner_client.get("/tasks/")
    # 1: the page.
    with django_assert_num_queries(1):
        owner_client.get("/tasks/")


@pytest.mark.parametrize("count", PROJECT_COUNTS)
def test_the_detail_is_one_query_in_any_project(
    owner: User, other: User, owner_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    projects = projects_of(owner, other, count)
    warm(owner_client)

    for name, project in projects.items():
        task = Task.objects.filter(project=project).first()
        assert task is not None
        # 1: the task if the caller sees it, with the caller's role in its project (a
        # subquery of projects_membership): a task of a project not theirs is a 404 too.
        with django_assert_num_queries(1):
            response = owner_client.get(f"/tasks/{task.pk}/")
        assert response.status_code == (404 if name == "unseen" else 200), name


@pytest.mark.parametrize("count", PROJECT_COUNTS)
def test_creating_a_task_in_the_personal_project_is_two_queries(
    owner: User, other: User, owner_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    projects = projects_of(owner, other, count)
    warm(owner_client)

    # 1: the caller's personal project (its owner's, through project_one_personal_per_owner);
    # 2: the INSERT (its event is written by the INSERT's trigger).
    with django_assert_num_queries(2):
        response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z"})

    assert response.status_code == 201
    assert Task.objects.get(pk=response.json()["id"]).project_id == projects["personal"].pk


@pytest.mark.parametrize("count", PROJECT_COUNTS)
def test_creating_a_task_in_a_named_project_is_two_queries(
    owner: User, other: User, owner_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    team = projects_of(owner, other, count)["team"]
    warm(owner_client)

    # 1: the project, if the caller sees it, with the caller's role in it (an editor may
    # add tasks); 2: the INSERT.
    with django_assert_num_queries(2):
        response = owner_client.post(
            "/tasks/",
            {
                "title": "Buy milk",
                "due_to": "2030-01-01T12:00:00Z",
                "project": f"http://testserver/projects/{team.pk}/",
            },
        )

    assert response.status_code == 201
    assert Task.objects.get(pk=response.json()["id"]).project_id == team.pk


def test_creating_a_task_for_another_member_asks_once_more(
    owner: User, other: User, owner_client: APIClient, django_assert_num_queries: Any
) -> None:
    team = projects_of(owner, other, 3)["team"]
    warm(owner_client)

    # 1: the project, with the caller's role in it; 2: the person (the user URL's row);
    # 3: whether the person is a member of the project; 4: the INSERT.
    with django_assert_num_queries(4):
        response = owner_client.post(
            "/tasks/",
            {
                "title": "Buy milk",
                "due_to": "2030-01-01T12:00:00Z",
                "project": f"http://testserver/projects/{team.pk}/",
                "person": f"http://testserver/users/{other.pk}/",
            },
        )

    assert response.status_code == 201


def test_a_viewer_is_refused_a_task_in_the_project_after_one_query(
    owner: User, other: User, owner_client: APIClient, django_assert_num_queries: Any
) -> None:
    watched = projects_of(owner, other, 3)["watched"]
    warm(owner_client)

    # 1: the project, with the caller's role in it: a viewer's, so nothing is written.
    with django_assert_num_queries(1):
        response = owner_client.post(
            "/tasks/",
            {
                "title": "x",
                "due_to": "2030-01-01T12:00:00Z",
                "project": f"http://testserver/projects/{watched.pk}/",
            },
        )

    assert response.status_code == 403
