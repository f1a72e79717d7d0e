"""The read path builds task JSON from rows: byte for byte what the serializer writes.

Each door of tasks/reads.py against DRF's idiomatic pipeline (django-filter, SearchFilter,
TaskSerializer, JSONRenderer): the plain and the filtered page, the detail, the answers to
writes, the feed's and the export's rows. They run on SQLite and on PostgreSQL.
"""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from feeds.selectors import feed_tasks
from projects.models import Project, Role
from projects.services import member_add, personal_project_id, project_create
from tasks.exports import task_rows
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.permissions import tasks_visible_to
from tasks.reads import TaskLinks, instant_text
from tests.helpers.serialized import serializer_bytes, serializer_json
from users.models import User
from users.principal import Principal


@pytest.fixture
def tasks(owner: User, other: User) -> list[Task]:
    made = [
        Task.objects.create(
            person=owner, title="plain", due_to=datetime(2016, 10, 18, 19, 12, 1, tzinfo=UTC)
        ),
        Task.objects.create(
            person=owner,
            title="ünïcødé ✓ \u2028",
            due_to=datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            completed=True,
        ),
        Task.objects.create(
            person=owner, title="a later plain one", due_to=datetime(2031, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC)
        ),
        Task.objects.create(person=other, title="not the owner's", due_to=datetime(2030, 1, 1, tzinfo=UTC)),
    ]
    # A created instant with no fraction, as a clock may give one.
    Task.objects.filter(pk=made[0].pk).update(created=datetime(2020, 2, 2, 2, 2, 2, tzinfo=UTC))
    made[0].refresh_from_db()
    return made


def results(body: bytes) -> bytes:
    return body[body.index(b'"results":') + len(b'"results":') : -1]


def test_list_bytes_equal_the_serializers(owner_client: APIClient, tasks: list[Task]) -> None:
    body = owner_client.get("/tasks/?ordering=id").content

    assert results(body) == serializer_bytes(tasks[:3])


def test_staff_list_bytes_equal_the_serializers(staff_client: APIClient, tasks: list[Task]) -> None:
    body = staff_client.get("/tasks/?ordering=-due_to").content

    assert results(body) == serializer_bytes(sorted(tasks, key=lambda task: task.due_to, reverse=True))


def test_filtered_list_bytes_equal_the_serializers(owner_client: APIClient, tasks: list[Task]) -> None:
    body = owner_client.get("/tasks/?ordering=id&completed=true").content

    assert results(body) == serializer_bytes(tasks[1:2])


def idiomatic_page(caller: User, params: dict[str, str]) -> QuerySet[Task]:
    """What DRF's generic list would hold: django-filter's TaskFilter over the visible tasks,
    then SearchFilter's ``icontains`` on the title, in the requested order."""
    found = TaskFilter(params, queryset=tasks_visible_to(Principal.of(caller))).qs
    if "search" in params:
        found = found.filter(title__icontains=params["search"])
    return found.order_by(*params.get("ordering", "due_to,id").split(","))


@pytest.mark.parametrize(
    "params",
    [
        {"completed": "false"},
        {"completed": "true", "ordering": "-id"},
        {"due_after": "2030-01-01T00:00:00Z"},
        {"due_before": "2030-01-02T03:04:05.000007+00:00", "ordering": "title"},
        {"overdue": "false", "ordering": "-created"},
        {"search": "PLAIN"},
        {"search": "plain", "completed": "false", "ordering": "-due_to"},
    ],
)
@pytest.mark.parametrize("persona", ["owner", "staff"])
def test_filtered_pages_equal_drfs_filter_and_serializer(
    request: pytest.FixtureRequest, tasks: list[Task], params: dict[str, str], persona: str
) -> None:
    caller: User = request.getfixturevalue(persona)
    client: APIClient = request.getfixturevalue(f"{persona}_client")

    body = client.get("/tasks/", params).content

    expected = idiomatic_page(caller, params)
    assert expected.exists()
    assert results(body) == serializer_bytes(expected)


def test_detail_bytes_equal_the_serializers(
    owner_client: APIClient, staff_client: APIClient, tasks: list[Task]
) -> None:
    for task in tasks[:3]:
        assert owner_client.get(f"/tasks/{task.pk}/").content == serializer_bytes([task])[1:-1]
    for task in tasks:
        assert staff_client.get(f"/tasks/{task.pk}/").content == serializer_bytes([task])[1:-1]


def test_a_created_task_is_answered_as_the_serializer_writes_it_from_the_database(
    owner_client: APIClient, owner: User
) -> None:
    for due_to in ("2030-01-01T12:00:00Z", "2030-01-01T12:00:00.000001+02:00"):
        response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": due_to})

        assert response.status_code == 201
        stored = Task.objects.get(pk=response.json()["id"])
        assert response.content == serializer_bytes([stored])[1:-1]
        assert response["ETag"] == owner_client.get(f"/tasks/{stored.pk}/")["ETag"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_changed_task_is_answered_as_the_serializer_writes_it_from_the_database(
    owner_client: APIClient, tasks: list[Task], method: str
) -> None:
    task = tasks[1]
    body = {"title": "Changed", "due_to": "2040-02-03T04:05:06.5-01:00", "completed": False}

    response = getattr(owner_client, method)(f"/tasks/{task.pk}/", body)

    assert response.status_code == 200
    task.refresh_from_db()
    assert response.content == serializer_bytes([task])[1:-1]
    assert response["ETag"] == owner_client.get(f"/tasks/{task.pk}/")["ETag"]


def links() -> TaskLinks:
    return TaskLinks(Request(APIRequestFactory().get("/")))


def test_feed_rows_are_the_serializers_tasks(owner: User, staff: User, tasks: list[Task]) -> None:
    Task.objects.create(person=staff, title="staff's own", due_to=datetime(2030, 1, 1, tzinfo=UTC))
    for person in (owner, staff):  # a staff member's feed is their own tasks
        rows = [links().task(row) for row in feed_tasks(user_id=person.pk)]

        assert rows == serializer_json(Task.objects.filter(person=person).order_by("due_to", "id"))


def test_export_rows_are_the_serializers_tasks(owner: User, staff: User, tasks: list[Task]) -> None:
    for person in (owner, staff):
        rows = list(task_rows(person_id=person.pk, links=links()))

        assert rows == serializer_json(Task.objects.filter(person=person).order_by("id"))


def test_instants_are_written_as_drf_writes_them(tasks: list[Task]) -> None:
    for task in tasks:
        for name in ("due_to", "created", "updated"):
            assert instant_text(getattr(task, name)) == serializer_json([task])[0][name]
    plus_two = datetime(2030, 1, 1, 16, 0, 0, 10, tzinfo=timezone(timedelta(hours=2)))
    assert instant_text(plus_two) == "2030-01-01T14:00:00.000010Z"


FRACTIONS = [0, 250_001, 500_000, 120_000, 100, 999_999, 10]


def test_a_page_of_instants_with_and_without_fractions(owner: User, owner_client: APIClient) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    project_id = personal_project_id(owner.pk)  # bulk_create() skips Task.save(), which would find it
    Task.objects.bulk_create(
        Task(
            person=owner,
            project_id=project_id,
            title=f"t{n}",
            # None, six digits, and fractions that end in zeros (PostgreSQL's text drops them).
            due_to=start + timedelta(seconds=n, microseconds=FRACTIONS[n % len(FRACTIONS)]),
        )
        for n in range(300)
    )
    body = owner_client.get("/tasks/?page_size=1000&ordering=id").content

    assert results(body) == serializer_bytes(Task.objects.filter(person=owner).order_by("id"))


def page_ids(client: APIClient, url: str, link: str) -> tuple[list[list[int]], str | None]:
    """Every page from ``url`` on, following ``link`` (next or previous); the last page's URL."""
    pages: list[list[int]] = []
    next_url: str | None = url
    while next_url is not None:
        url = next_url
        body = client.get(url).json()
        pages.append([task["id"] for task in body["results"]])
        next_url = body[link]
        assert len(pages) < 50, "the walk does not end"
    return pages, url


@pytest.mark.parametrize("ordering", ["due_to", "-due_to", "id", "-id", "title", "-created"])
def test_a_members_pages_over_several_projects_are_the_scopes_tasks_in_order(
    owner: User, other: User, owner_client: APIClient, ordering: str
) -> None:
    # The plain list reads each of the caller's projects apart and merges them
    # (tasks.reads.task_page): walked forwards and back, it holds what task_scope() holds.
    team, watched, unseen = (
        project_create(owner_id=other.pk, name=name) for name in ("Team", "Watched", "Not")
    )
    member_add(project=team, user_id=owner.pk, role=Role.EDITOR)
    member_add(project=watched, user_id=owner.pk, role=Role.VIEWER)
    projects = [Project.objects.get(owner=owner, personal=True), team, watched, unseen]
    projects.append(Project.objects.get(owner=other, personal=True))
    start = datetime(2030, 1, 1, tzinfo=UTC)
    Task.objects.bulk_create(
        Task(
            project=projects[n % 5],
            person=owner if n % 5 < 2 else other,
            title=f"t{n % 4}",
            # 3 due dates: every page boundary falls inside a tie
            due_to=start + timedelta(days=n % 3),
        )
        for n in range(60)
    )
    tiebreak = "-id" if ordering.startswith("-") else "id"
    expected = list(
        tasks_visible_to(Principal.of(owner)).order_by(ordering, tiebreak).values_list("id", flat=True)
    )
    assert len(expected) == 36

    forwards, last = page_ids(owner_client, f"/tasks/?page_size=5&ordering={ordering}", "next")
    backwards, _ = page_ids(owner_client, last, "previous")

    assert [task_id for page in forwards for task_id in page] == expected
    assert backwards == forwards[::-1]
