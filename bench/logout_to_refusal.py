"""How long after a logout the verifier example refuses the session's access token, told by
the security event the task service pushes (RFC 8935), not by introspection.

Two instances of the service (A and B, ``manage.py serve``) share PostgreSQL and Redis, with
one task worker (``manage.py db_worker --interval 0.1``) beside them, as ``make run`` starts
one; the verifier example (examples/verifier) is a confidential client whose events URL is
its ``/events``. Each round: a user logs in on B, the verifier accepts the access token, the
user logs out on A, and the verifier is asked every 10 ms until it refuses the token with
"The token's session has ended." (the events check; introspection would say "no longer
active"). The time from sending the logout to that refusal is the round's figure.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python -m bench.logout_to_refusal --rounds 20

prints one JSON line: the rounds, median and max in ms. It makes a database of its own beside
DATABASE_URL's (dropped at the end) and empties the Redis database REDIS_URL names.
tests/integration/test_secevent_push.py runs the same setup once.
"""

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from soak import services
from soak.http import Http, NoAnswer, Reply
from soak.server import HOST, ROOT, Server, free_port, manage, server_env

PASSWORD = "logout-" + secrets.token_hex(8)
ENDED = "The token's session has ended."  # examples/verifier/app.py: a security event said so


@dataclass
class Stage:
    """Instances A and B, their task worker, and the verifier, all running."""

    a: Server
    b: Server
    verifier_port: int
    client_id: str
    log_dir: Path

    def sign_up(self) -> str:
        username = f"pushed-{secrets.token_hex(4)}"
        reply = Http(HOST, self.a.port, timeout=30).post(
            "/users/", {"username": username, "password": PASSWORD}
        )
        assert reply.status == 201, reply.body  # noqa: S101
        return username

    def whoami(self, token: str) -> Reply:
        return Http(HOST, self.verifier_port, timeout=10, keep_alive=False).get("/whoami", token=token)

    def logout_to_refusal(self, username: str, *, timeout: float = 10.0) -> float:
        """Log in on B, log out on A: seconds until the verifier refuses the token for the event."""
        login = Http(HOST, self.b.port, timeout=30).post(
            "/auth/token/", {"username": username, "password": PASSWORD}
        )
        assert login.status == 200, login.body  # noqa: S101
        pair = login.json()
        accepted = self.whoami(pair["access"])
        assert accepted.status == 200, accepted.body  # noqa: S101
        start = time.monotonic()
        logout = Http(HOST, self.a.port, timeout=30).post("/auth/logout/", {"refresh": pair["refresh"]})
        assert logout.status == 204, logout.body  # noqa: S101
        while True:
            reply = self.whoami(pair["access"])
            elapsed = time.monotonic() - start
            if reply.status == 401 and ENDED in reply.body.decode():
                return elapsed
            if elapsed > timeout:
                raise TimeoutError(
                    f"not refused for the event {elapsed:.2f} s after the logout: {reply.body!r}"
                )
            time.sleep(0.01)


@contextlib.contextmanager
def staged(database_url: str, redis_url: str, work_dir: Path, *, interval: float = 0.1) -> Iterator[Stage]:
    """A fresh database of its own beside ``database_url``, ``redis_url``'s Redis database
    emptied, and everything started; everything stopped and the database dropped after."""
    url = database_url.rsplit("/", 1)[0] + f"/secevents_{secrets.token_hex(4)}"
    services.database_recreate(url)
    services.redis_flush(redis_url)
    started: list[Server] = []
    worker: subprocess.Popen[bytes] | None = None
    verifier: subprocess.Popen[bytes] | None = None
    logs: list[IO[bytes]] = []
    try:
        key_file = work_dir / "jwt.pem"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        shared = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "JWT_PRIVATE_KEY_FILE": str(key_file),
            "WEBHOOK_ALLOW_PRIVATE": "true",  # the verifier listens on loopback
            "LOGIN_RATE": "1000000/min",
            "LOGIN_USERNAME_RATE": "1000000/min",
        }
        envs = []
        for name in ("a", "b", "worker"):
            (work_dir / name).mkdir()
            envs.append(server_env(work_dir / name, **shared))
        manage(envs[0], "migrate", "--no-input", "-v0")
        verifier_port = free_port()
        registered = json.loads(
            manage(
                envs[0],
                "create_client",
                "verifier example",
                "--confidential",
                "--events-url",
                f"http://{HOST}:{verifier_port}/events",
            )
        )
        a = Server(envs[0], port=free_port(), workers=2, log_path=work_dir / "a.log")
        b = Server(envs[1], port=free_port(), workers=2, log_path=work_dir / "b.log")
        for server in (a, b):
            started.append(server)
            server.start()
        logs.append((work_dir / "worker.log").open("ab"))
        worker = subprocess.Popen(  # noqa: S603  our own interpreter and manage.py
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--interval",
                str(interval),
                "--no-startup-delay",
                "--no-reload",
            ],
            cwd=ROOT,
            env=envs[2],
            stdout=logs[-1],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logs.append((work_dir / "verifier.log").open("ab"))
        verifier_env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "VERIFIER_"))}
        verifier_env |= {
            "TASKS_ISSUER_URL": f"http://{HOST}:{a.port}",
            "VERIFIER_CLIENT_ID": registered["client_id"],
            "VERIFIER_CLIENT_SECRET": registered["client_secret"],
            "VERIFIER_URL": f"http://{HOST}:{verifier_port}",
        }
        verifier = subprocess.Popen(  # noqa: S603  our own interpreter and module
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(verifier_port),
                "--blocking-threads",
                "4",
                "--no-ws",
                "--log-level",
                "warning",
                "examples.verifier.app:create_app",
            ],
            cwd=ROOT,
            env=verifier_env,
            stdout=logs[-1],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_healthy(verifier, verifier_port, work_dir / "verifier.log")
        yield Stage(
            a=a, b=b, verifier_port=verifier_port, client_id=registered["client_id"], log_dir=work_dir
        )
    finally:
        for process in (verifier, worker):
            if process is not None:
                _stop(process)
        for server in started:
            server.stop()
        for log in logs:
            log.close()
        services.database_drop(url)


def _wait_healthy(process: "subprocess.Popen[bytes]", port: int, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    probe = Http(HOST, port, timeout=2, keep_alive=False)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the verifier exited with {process.returncode}: {log_path.read_text()}")
        with contextlib.suppress(NoAnswer):
            if probe.get("/healthz").status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"the verifier was not ready in {timeout} s: {log_path.read_text()}")


def _stop(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERM to the process group it leads (its own session), then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="logouts measured (default 20)")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.1,
        help="the worker's idle polling interval, s (default 0.1; db_worker's own is 1)",
    )
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url.startswith("redis"):
        sys.exit("needs DATABASE_URL (PostgreSQL) and REDIS_URL (a Redis database this run may empty)")
    with (
        tempfile.TemporaryDirectory(prefix="logout-to-refusal-") as work,
        staged(database_url, redis_url, Path(work), interval=args.interval) as stage,
    ):
        username = stage.sign_up()
        stage.logout_to_refusal(username)  # warm-up, not recorded: keys fetched, connections made
        times = [stage.logout_to_refusal(username) * 1000 for _ in range(args.rounds)]
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "worker_interval_s": args.interval,
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "min_ms": round(min(times), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
