"""The read path builds task JSON from rows: byte for byte what the serializer writes."""

from datetime import UTC, datetime

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient, APIRequestFactory

from tasks.models import Task
from tasks.serializers import TaskSerializer
from users.models import User


@pytest.fixture
def tasks(owner: User) -> list[Task]:
    return [
        Task.objects.create(
            person=owner, title="plain", due_to=datetime(2016, 10, 18, 19, 12, 1, tzinfo=UTC)
        ),
        Task.objects.create(
            person=owner,
            title="ünïcødé ✓ \u2028",
            due_to=datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            completed=True,
        ),
    ]


def serialized(tasks: list[Task], owner: User) -> bytes:
    request = APIRequestFactory().get("/tasks/")
    request.user = owner
    return JSONRenderer().render(TaskSerializer(tasks, many=True, context={"request": request}).data)


def test_list_bytes_equal_the_serializers(owner_client: APIClient, owner: User, tasks: list[Task]) -> None:
    body = owner_client.get("/tasks/?ordering=id").content
    results = body[body.index(b'"results":') + len(b'"results":') : -1]

    assert results == serialized(tasks, owner)


def test_filtered_list_bytes_equal_the_serializers(
    owner_client: APIClient, owner: User, tasks: list[Task]
) -> None:
    body = owner_client.get("/tasks/?ordering=id&completed=true").content
    results = body[body.index(b'"results":') + len(b'"results":') : -1]

    assert results == serialized(tasks[1:], owner)


def test_detail_bytes_equal_the_serializers(owner_client: APIClient, owner: User, tasks: list[Task]) -> None:
    for task in tasks:
        assert owner_client.get(f"/tasks/{task.pk}/").content == serialized([task], owner)[1:-1]
