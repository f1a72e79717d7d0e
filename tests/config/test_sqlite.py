"""The embedded default: SQLite in WAL mode, where two worker processes writing at once
queue on the busy timeout instead of failing with "database is locked"."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITES_PER_PROCESS = 300

# Each transaction reads, then writes: with SQLite's default DEFERRED transactions two
# processes doing this deadlock on the lock upgrade and one fails at once with
# "database is locked", whatever the busy timeout. IMMEDIATE transactions avoid it.
WRITER = f"""
import django
django.setup()
from datetime import UTC, datetime
from django.db import transaction
from tasks.models import Task
from tasks.services import task_create
from users.models import User

person = User.objects.create_user(username="writer-" + __import__("os").environ["WRITER"])
for n in range({WRITES_PER_PROCESS}):
    with transaction.atomic():
        Task.objects.filter(person=person).count()
        task_create(person_id=person.pk, title=f"task {{n}}", due_to=datetime(2030, 1, 1, tzinfo=UTC))
"""


def test_two_processes_writing_at_once_never_see_database_is_locked(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "STATE_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 50,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    writers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", WRITER],
            cwd=ROOT,
            env={**env, "WRITER": str(n)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    errors = [writer.communicate(timeout=300)[1] for writer in writers]

    assert [writer.returncode for writer in writers] == [0, 0], errors
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*) FROM tasks_task").fetchone() == (2 * WRITES_PER_PROCESS,)
