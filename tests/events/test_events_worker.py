"""manage.py events_worker: django-tasks-db's worker, in a process of its own, relays the
events waiting in the outbox, and stops with the process that started it."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from soak.server import ROOT, manage, server_env

PARENT = """
import subprocess, sys
worker = subprocess.Popen([sys.executable, "manage.py", "events_worker", "--no-reload", "--interval", "0.2",
                           "--stop-with", str(__import__("os").getpid())])
print(worker.pid, flush=True)
sys.stdin.read()  # until the test closes it
"""

RECORD = """
from datetime import UTC, datetime
from tasks.services import task_create
from users.models import User
user = User.objects.create_user(username="worked", password="unused-" + "x" * 12)
task_create(person_id=user.pk, title="Recorded", due_to=datetime(2030, 1, 1, tzinfo=UTC))
"""
EVENTS = (
    "from events.models import Event; print(Event.objects.filter(type='task.created', relayed=True).count())"
)


def test_the_worker_runs_the_outbox_and_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    env = server_env(tmp_path / "var")
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "shell", "-v0", "-c", RECORD)  # a task created: its event waits in the outbox
    parent = subprocess.Popen(  # noqa: S603  our own interpreter and code
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    assert parent.stdin is not None
    worker = int(parent.stdout.readline())
    deadline = time.monotonic() + 20
    while manage(env, "shell", "-v0", "-c", EVENTS).strip() != "1" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert manage(env, "shell", "-v0", "-c", EVENTS).strip() == "1"  # relayed by the worker
    assert _alive(worker)  # polling its queue while the parent lives

    parent.stdin.close()
    parent.wait(timeout=30)
    deadline = time.monotonic() + 15
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.django_db
def test_the_worker_starts_again_when_the_database_goes_away(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []

    def library_loop(self: DatabaseWorkerCommand, **options: object) -> None:
        runs.append(options)
        if len(runs) == 1:
            raise OperationalError("server closed the connection unexpectedly")  # PostgreSQL restarting

    closed = []

    class Connections:
        """Not the test's own transaction's connection closed, only the call recorded."""

        @staticmethod
        def close_all() -> None:
            closed.append(True)

    monkeypatch.setattr(DatabaseWorkerCommand, "handle", library_loop)
    monkeypatch.setattr("events.management.commands.events_worker.RESTART_DELAY", 0)
    monkeypatch.setattr("events.management.commands.events_worker.connections", Connections)
    relays = []
    monkeypatch.setattr("events.management.commands.events_worker.relay_waiting", lambda: relays.append(True))

    call_command("events_worker", "--batch", "--no-reload")

    assert len(runs) == 2  # started again, then ended as a batch run does
    assert closed == [True]  # the broken connections dropped before starting again
    assert relays == [True, True]  # each start relayed the events waiting
