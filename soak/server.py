"""Start the shipped server (``manage.py serve``: granian and its workers) and stop it for sure.

The server runs in a session (process group) of its own, so that stopping or killing it
takes its workers along, whatever happens to the granian main process.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from soak.http import Http, NoAnswer

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Variables a developer's shell may carry that would change what the server under test is.
_DROPPED = (
    "DATABASE_URL",
    "REDIS_URL",
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
    "STATE_DIR",
    "SECRET_KEY",
    "DEBUG",
    "LOGIN_RATE",
    "LOGIN_USERNAME_RATE",
    "SIGNUP_RATE",
    "SIGNUP_OPEN",
    "SIGNUP_REQUIRE_ACTIVATION",
    "TRUSTED_PROXY_COUNT",
    "DJANGO_SETTINGS_MODULE",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def server_env(state_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server under test: ours, less anything that configures the service."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("JWT_")}
    env.update(
        {
            "ENV_FILE": os.devnull,  # not the developer's .env
            "STATE_DIR": str(state_dir),
            "SECRET_KEY": "soak-" + "x" * 50,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # No task worker beside it: the server's children are granian's workers alone.
            "SERVE_TASK_WORKER": "false",
        }
    )
    env.update(settings)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``manage.py <args>`` with ``env``; its stdout, or raise with its output if it fails."""
    done = subprocess.run(  # noqa: S603  our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (granian's workers, for its main process)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


class Server:
    """``manage.py serve`` on ``port``; a context manager that always stops it."""

    def __init__(self, env: dict[str, str], *, port: int, workers: int, log_path: Path, threads: int = 1):
        self.env, self.port, self.workers, self.threads = env, port, workers, threads
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None  # noqa: S101
        return self.proc.pid

    def start(self, timeout: float = 60) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603  our own interpreter and manage.py
            [
                sys.executable,
                "manage.py",
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float) -> None:
        """Until /healthz answers and every worker has started."""
        deadline = time.monotonic() + timeout
        client = Http(HOST, self.port, timeout=2, keep_alive=False)
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(NoAnswer):
                if client.get("/healthz").status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            time.sleep(0.2)
        raise TimeoutError(
            f"the server on port {self.port} was not ready in {timeout} s; see {self.log_path}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def worker_pids(self) -> list[int]:
        return children(self.pid) if self.alive() else []

    def kill_worker(self, pid: int) -> None:
        if pid not in self.worker_pids():
            raise ValueError(f"{pid} is not a worker of {self.pid}")
        os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the server and its workers at once, as a crash or an OOM kill would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (granian stops its workers), then SIGKILL whatever is left of the group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        # Workers left behind (granian killed, or slow to stop) go with the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def serving(
    env: dict[str, str], *, workers: int, log_path: Path, port: int | None = None, threads: int = 1
) -> Iterator[Server]:
    server = Server(env, port=port or free_port(), workers=workers, log_path=log_path, threads=threads)
    with server:
        yield server
