"""``manage.py serve``: what the apps prepare is made before the server replaces the process."""

import os
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from api.signals import before_serving


def test_receivers_run_before_the_server_starts_and_their_lines_are_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []

    def prepare(sender: object, **kwargs: Any) -> str:
        events.append("prepared")
        return "the test's state made"

    def silent(sender: object, **kwargs: Any) -> None:
        events.append("prepared quietly")

    def execv(path: str, argv: list[str]) -> None:
        events.append(f"exec {os.path.basename(path)}")

    before_serving.connect(prepare, dispatch_uid="test-prepare")
    before_serving.connect(silent, dispatch_uid="test-silent")
    monkeypatch.setattr("os.execv", execv)
    out = StringIO()
    try:
        call_command(
            "serve", "--host", "127.0.0.1", "--port", "8123", "--workers", "2", "--no-task-worker", stdout=out
        )
    finally:
        before_serving.disconnect(dispatch_uid="test-prepare")
        before_serving.disconnect(dispatch_uid="test-silent")

    assert events == ["prepared", "prepared quietly", "exec granian"]
    line = out.getvalue().strip()
    assert line.startswith("serving on http://127.0.0.1:8123/ with granian: 2 workers x ")
    assert line.endswith("; the test's state made")  # a receiver returning nothing adds nothing


def test_a_task_worker_starts_beside_the_server_to_stop_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda path, argv: started.append([os.path.basename(path)]))
    monkeypatch.setattr("subprocess.Popen", lambda argv: started.append(argv))
    out = StringIO()

    call_command("serve", "--task-worker", stdout=out)

    [worker, server] = started
    assert worker[2:] == [
        "events_worker",
        "--no-reload",
        "--interval",
        "0.2",
        "--stop-with",
        str(os.getpid()),
    ]
    assert worker[1].endswith("manage.py")
    assert server == ["granian"]
    assert "; a task worker beside it (events_worker)" in out.getvalue()
