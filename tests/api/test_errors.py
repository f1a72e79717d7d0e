"""Every error is JSON with a ``detail``, never an HTML page, and never a 500 for bad input."""

import pytest
from django.http import HttpResponse
from django.test import override_settings
from rest_framework.test import APIClient

from tasks.models import Task
from tests.helpers.accounts import client_for
from users.models import User


def assert_json_error(response: HttpResponse, status: int) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_unknown_path_is_a_json_404(anon: APIClient) -> None:
    assert_json_error(anon.get("/no/such/thing/"), 404)


def test_unknown_path_is_json_even_for_a_browser(anon: APIClient) -> None:
    assert_json_error(anon.get("/no/such/thing/", HTTP_ACCEPT="text/html"), 404)


def test_method_not_allowed_is_a_json_405(owner_client: APIClient) -> None:
    response = owner_client.delete("/tasks/")
    assert_json_error(response, 405)
    assert "GET" in response["Allow"]


def test_malformed_json_is_a_400_and_creates_nothing(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", data='{"title": "x", ', content_type="application/json")
    assert_json_error(response, 400)
    assert not Task.objects.exists()


@override_settings(REQUEST_MAX_BYTES=2048)
def test_a_body_over_the_limit_is_a_json_413_and_creates_nothing(owner: User) -> None:
    # The middleware reads the limit when it is built: a new client builds a new stack.
    client = client_for(owner)
    body = '{"title": "%s", "due_to": "2030-01-01T00:00:00Z"}' % ("x" * 4096)
    response = client.post("/tasks/", data=body, content_type="application/json")
    assert_json_error(response, 413)
    assert not Task.objects.exists()


def test_an_unexpected_failure_is_a_json_500(
    owner: User, owner_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("tasks.reads.TaskLinks.tasks_from_cells", broken)
    Task.objects.create(person=owner, title="x", due_to="2030-01-01T00:00:00Z")
    owner_client.raise_request_exception = False
    response = owner_client.get("/tasks/")
    assert_json_error(response, 500)
    assert "boom" not in response.content.decode()
