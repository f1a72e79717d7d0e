"""The hot reads' JSON, made directly, is what DRF's Response would have sent."""

from typing import Any

import pytest
from django.http import HttpResponse
from rest_framework.response import Response
from rest_framework.test import APIClient

from tasks.models import Task
from users.models import User

VARYING = {"X-Request-ID"}


def through_drf(request: Any, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(data, headers=headers)


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
