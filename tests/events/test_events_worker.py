"""manage.py events_worker: django-tasks-db's worker, stopped with the process that started it."""

import subprocess
import sys
import time
from pathlib import Path

from soak.server import ROOT, manage, server_env

PARENT = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "manage.py", "events_worker", "--no-reload", "--interval", "0.2",
                           "--stop-with", str(__import__("os").getpid())])
print(worker.pid, flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_the_worker_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    env = server_env(tmp_path / "var")
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--no-input", "-v0")
    parent = subprocess.Popen(  # noqa: S603  our own interpreter and code
        [sys.executable, "-c", PARENT, "4"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    time.sleep(2)
    assert _alive(worker)  # polling its queue while the parent lives

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
