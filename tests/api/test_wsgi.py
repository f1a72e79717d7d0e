"""The WSGI entry point hands whole bodies over in one piece and streams the rest."""

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_finished

from api.wsgi import WholeBodyWSGIHandler
from tasks.models import Task
from tests.config.test_settings import load_settings
from tokens.services import token_pair_issue
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)  # the handler runs requests as a server would


@pytest.fixture
def finished() -> Iterator[list[Any]]:
    fired: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        fired.append(kwargs)

    request_finished.connect(receiver)
    yield fired
    request_finished.disconnect(receiver)


def call(path: str, user: User, query: str = "") -> tuple[str, dict[str, str], Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "HTTP_AUTHORIZATION": f"Bearer {token_pair_issue(user=user)['access']}",
    }
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answered.update(status=status, headers=dict(headers))

    body = WholeBodyWSGIHandler()(environ, start_response)
    return answered["status"], answered["headers"], body


def test_a_json_answer_is_a_list_of_one_body_already_closed(owner: User, finished: list[Any]) -> None:
    task = Task.objects.create(person=owner, title="one", due_to="2030-01-01T00:00:00Z")

    status, headers, body = call(f"/tasks/{task.pk}/", owner)

    assert status == "200 OK"
    assert isinstance(body, list)
    assert len(body) == 1
    assert json.loads(body[0])["title"] == "one"
    assert headers["Content-Length"] == str(len(body[0]))
    assert len(finished) == 1  # closed once, here: the server has nothing left to close


def test_an_error_is_whole_too(owner: User, finished: list[Any]) -> None:
    status, _, body = call("/tasks/999999/", owner)

    assert status == "404 Not Found"
    assert isinstance(body, list)
    assert json.loads(body[0])["detail"]
    assert len(finished) == 1


def test_a_streamed_answer_is_streamed_and_closed_by_the_server(owner: User, finished: list[Any]) -> None:
    Task.objects.create(person=owner, title="streamed", due_to="2030-01-01T00:00:00Z")

    status, _, body = call("/tasks/export/", owner, "format=zip")

    assert status == "200 OK"
    assert not isinstance(body, list)
    chunks = list(body)
    assert finished == []  # not yet: the server closes it after sending
    body.close()
    assert b"".join(chunks).startswith(b"PK")
    assert len(finished) == 1


def test_the_heap_is_settled_before_the_first_request(tmp_path: Path) -> None:
    code = (
        "import gc, sys; assert 'tasks.views' not in sys.modules; "
        "from config.wsgi import application; "
        "print('tasks.views' in sys.modules, gc.get_freeze_count() > 10000)"
    )
    settled = load_settings(tmp_path, code)
    # The views were imported and everything alive frozen before any request came.
    assert settled.stdout.split() == ["True", "True"], settled.stderr
