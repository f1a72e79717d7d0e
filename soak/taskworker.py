"""The task worker (``manage.py events_worker``) that runs the deliveries, supervised.

The soak plays systemd's ``Restart=always``: whenever the worker exits (killed by the
``task_worker_kill`` fault, or on its own, say when PostgreSQL goes away) a new one is
started, and every start and exit is recorded for the summary. Each worker runs in a
session of its own and logs to one file.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from soak.server import ROOT

RESTART_DELAY = 1.0  # systemd's RestartSec: a worker that exits at once is not restarted in a loop


class TaskWorker:
    def __init__(self, env: dict[str, str], *, log_path: Path, now: Callable[[], float]) -> None:
        self.env, self.log_path, self.now = env, log_path, now
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.killed: set[int] = set()  # pids we killed on purpose
        self.starts: list[dict[str, Any]] = []
        self.exits: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._supervise, name="task-worker", daemon=True)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def _spawn(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "events_worker", "--no-reload", "--interval", "0.1"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts.append({"t": round(self.now(), 2), "pid": self.proc.pid})

    def start(self) -> None:
        with self.lock:
            self._spawn()
        self.thread.start()

    def _supervise(self) -> None:
        while not self.stopping.wait(0.1):
            with self.lock:
                proc = self.proc
                if proc is None or proc.poll() is None:
                    continue
                killed = proc.pid in self.killed
                self.exits.append(
                    {"t": round(self.now(), 2), "pid": proc.pid, "code": proc.returncode, "killed": killed}
                )
            if not killed and self.stopping.wait(RESTART_DELAY):
                return
            with self.lock:
                if not self.stopping.is_set():
                    self._spawn()

    def kill(self) -> int | None:
        """SIGKILL the worker (its whole session); the supervisor starts another. Its pid."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return None
            pid = self.proc.pid
            self.killed.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return pid

    def running_other_than(self, pid: int | None) -> bool:
        with self.lock:
            return self.proc is not None and self.proc.pid != pid and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """No more restarts; SIGTERM (the worker finishes its task), then SIGKILL what is left."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        with self.lock:
            proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def summary(self) -> dict[str, Any]:
        return {
            "starts": len(self.starts),
            "killed": sum(1 for e in self.exits if e["killed"]),
            "restarts_after_exit": sum(1 for e in self.exits if not e["killed"]),
            "exits": self.exits,
        }
