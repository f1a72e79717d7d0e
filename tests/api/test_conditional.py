"""ETags and conditional requests on tasks (RFC 9110 §13): no lost updates."""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from tasks.models import Task
from tests.helpers.accounts import client_for
from tests.helpers.concurrency import at_once
from users.models import User


@pytest.fixture
def task(owner: User) -> Task:
    return Task.objects.create(person=owner, title="Before", due_to=datetime(2030, 1, 1, tzinfo=UTC))


def test_detail_carries_an_etag_and_if_none_match_gives_304(owner_client: APIClient, task: Task) -> None:
    first = owner_client.get(f"/tasks/{task.pk}/")
    tag = first["ETag"]

    again = owner_client.get(f"/tasks/{task.pk}/", HTTP_IF_NONE_MATCH=tag)

    assert tag.startswith('"')
    assert tag.endswith('"')
    assert again.status_code == 304
    assert again["ETag"] == tag
    assert again.content == b""


def test_a_change_gives_a_new_etag_and_the_old_one_no_longer_matches(
    owner_client: APIClient, task: Task
) -> None:
    tag = owner_client.get(f"/tasks/{task.pk}/")["ETag"]

    changed = owner_client.patch(f"/tasks/{task.pk}/", {"title": "After"}, HTTP_IF_MATCH=tag)

    assert changed.status_code == 200
    assert changed["ETag"] != tag
    assert changed["ETag"] == owner_client.get(f"/tasks/{task.pk}/")["ETag"]
    assert owner_client.get(f"/tasks/{task.pk}/", HTTP_IF_NONE_MATCH=tag).status_code == 200


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_stale_if_match_is_412_and_changes_nothing(
    owner_client: APIClient, task: Task, method: str
) -> None:
    stale = owner_client.get(f"/tasks/{task.pk}/")["ETag"]
    owner_client.patch(f"/tasks/{task.pk}/", {"title": "Someone else's edit"})
    body = {"title": "Mine", "due_to": "2031-01-01T00:00:00Z"}

    response = getattr(owner_client, method)(f"/tasks/{task.pk}/", body, HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert "detail" in response.json()
    assert Task.objects.get(pk=task.pk).title == "Someone else's edit"


def test_if_match_star_and_a_list_containing_the_current_tag_pass(
    owner_client: APIClient, task: Task
) -> None:
    tag = owner_client.get(f"/tasks/{task.pk}/")["ETag"]

    assert (
        owner_client.patch(f"/tasks/{task.pk}/", {"title": "A"}, HTTP_IF_MATCH=f'"nope", {tag}').status_code
        == 200
    )
    assert owner_client.patch(f"/tasks/{task.pk}/", {"title": "B"}, HTTP_IF_MATCH="*").status_code == 200


def test_created_and_changed_tasks_carry_their_etag(owner_client: APIClient) -> None:
    created = owner_client.post("/tasks/", {"title": "New", "due_to": "2030-01-01T00:00:00+02:00"})

    assert created.status_code == 201
    assert created["ETag"] == owner_client.get(created["Location"])["ETag"]


def race_updates(owner: User, task_id: int, tag: str, contenders: int) -> list[int]:
    """Clients in threads, each with its own connection, PATCH with the same If-Match at once."""
    clients = [client_for(owner) for _ in range(contenders)]

    def attempt(n: int) -> int:
        return clients[n].patch(f"/tasks/{task_id}/", {"title": f"writer {n}"}, HTTP_IF_MATCH=tag).status_code

    return at_once(attempt, contenders)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_updates_with_one_etag_cannot_both_win(owner: User) -> None:
    """Real concurrency on PostgreSQL: the row lock serializes check and write.

    (SQLite's in-memory test database cannot be shared by threads; the embedded default's
    write lock is exercised against a real server in tests/integration.)
    """
    task = Task.objects.create(person=owner, title="Before", due_to=datetime(2030, 1, 1, tzinfo=UTC))
    tag = client_for(owner).get(f"/tasks/{task.pk}/")["ETag"]

    codes = race_updates(owner, task.pk, tag, 4)

    assert codes == [200, 412, 412, 412]
    winner = Task.objects.get(pk=task.pk)
    assert winner.title.startswith("writer ")
    assert client_for(owner).get(f"/tasks/{task.pk}/")["ETag"] != tag
