"""The hot paths' JSON (the reads, the task a write leaves), made directly, is what DRF's
Response would have sent."""

import re
from typing import Any

import pytest
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient

from api.conditional import etag
from tasks.models import Task
from tasks.reads import instant_text
from users.models import User

VARYING = {"X-Request-ID"}


def through_drf(
    request: Any, data: Any, headers: dict[str, str] | None = None, status: int = 200
) -> Response:
    return Response(data, status=status, headers=headers)


def seen(response: HttpResponse) -> tuple[int, bytes, dict[str, str]]:
    return response.status_code, response.content, {k: v for k, v in response.items() if k not in VARYING}


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/tasks/{id}/", "application/json"),
        ("/tasks/{id}/", "*/*"),
        ("/tasks/?page_size=2", "application/json"),
        ("/tasks/?page_size=2&ordering=-title", "application/json"),
        ("/tasks/?search=b&page_size=1", "application/json"),  # the filtered list
        ("/tasks/{id}/", "application/json; indent=2"),  # not plain JSON: Response either way
        ("/tasks/{id}/", "application/xml"),
        ("/tasks/?page_size=2", "text/calendar"),
    ],
)
def test_the_same_bytes_and_headers_as_a_drf_response(
    owner: User, owner_client: APIClient, monkeypatch: pytest.MonkeyPatch, path: str, accept: str
) -> None:
    tasks = [
        Task.objects.create(person=owner, title=title, due_to="2030-01-02T03:04:05.000006Z")
        for title in ("a", "b \u2028 ✓", "c")
    ]
    url = path.format(id=tasks[1].pk)

    direct = seen(owner_client.get(url, HTTP_ACCEPT=accept))
    monkeypatch.setattr("tasks.views.negotiated", through_drf)
    drf = seen(owner_client.get(url, HTTP_ACCEPT=accept))

    assert direct[0] == 200
    assert direct == drf


WRITES = ["application/json", "*/*", "application/json; indent=2", "application/xml"]


@pytest.mark.parametrize("accept", WRITES)
def test_a_change_answers_the_same_bytes_and_headers_as_a_drf_response(
    owner: User, owner_client: APIClient, monkeypatch: pytest.MonkeyPatch, accept: str
) -> None:
    task = Task.objects.create(person=owner, title="a", due_to="2030-01-02T03:04:05Z")
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # both changes leave the same "updated"
    change = {"title": "b \u2028 ✓", "completed": True}

    direct = seen(owner_client.patch(f"/tasks/{task.pk}/", change, format="json", HTTP_ACCEPT=accept))
    monkeypatch.setattr("tasks.views.negotiated", through_drf)
    drf = seen(owner_client.patch(f"/tasks/{task.pk}/", change, format="json", HTTP_ACCEPT=accept))

    assert direct[0] == 200
    assert direct == drf


@pytest.mark.parametrize("accept", WRITES)
def test_a_create_answers_as_a_drf_response_but_for_the_new_id(
    owner_client: APIClient, monkeypatch: pytest.MonkeyPatch, accept: str
) -> None:
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    body = {"title": "b \u2028 ✓", "due_to": "2030-01-02T03:04:05.000006Z"}

    def created() -> tuple[int, bytes, dict[str, str]]:
        status, content, headers = seen(owner_client.post("/tasks/", body, format="json", HTTP_ACCEPT=accept))
        task_id = Task.objects.latest("id").pk
        url = f"http://testserver/tasks/{task_id}/"
        # The new id where it stands: in its url, its id, and the ETag made of it.
        content = re.sub(rb'(<id>|"id": ?)%d\b' % task_id, rb"\1ID", content.replace(url.encode(), b"URL"))
        headers["Location"] = headers["Location"].replace(url, "URL")
        assert headers.pop("ETag") == etag(task_id, instant_text(now))
        return status, content, headers

    direct = created()
    monkeypatch.setattr("tasks.views.negotiated", through_drf)
    drf = created()

    assert direct[0] == 201
    assert direct == drf
