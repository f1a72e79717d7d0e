"""End to end: ``manage.py serve`` starts a task worker beside the server; a task created
through the API reaches a local receiver, signed so that the Standard Webhooks library
verifies it; and the worker stops with the server."""

import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from soak.http import Http, path_of
from soak.server import HOST, Server, free_port, manage, server_env
from soak.services import wait_for


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    httpd = ThreadingHTTPServer((HOST, 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://{HOST}:{httpd.server_address[1]}/hook"
    httpd.shutdown()


def test_make_run_delivers_through_the_worker_beside_the_server(tmp_path: Path, receiver: str) -> None:
    port = free_port()
    env = server_env(tmp_path / "var", PORT=str(port), SERVE_TASK_WORKER="true", WEBHOOK_ALLOW_PRIVATE="true")
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite
    manage(env, "migrate", "--no-input")
    client = Http(HOST, port, timeout=30)
    password = secrets.token_urlsafe(16)
    with Server(env, port=port, workers=1, log_path=tmp_path / "server.log") as server:
        assert client.post("/users/", {"username": "hooked", "password": password}).status == 201
        token = client.post("/auth/token/", {"username": "hooked", "password": password}).json()["access"]
        created = client.post("/webhooks/", {"url": receiver, "events": ["task.created"]}, token=token)
        assert created.status == 201, created.body
        secret = created.json()["secret"]
        task = client.post("/tasks/", {"title": "Delivered", "due_to": "2030-01-01T12:00:00Z"}, token=token)
        assert task.status == 201, task.body

        deadline = time.monotonic() + 30
        while not Receiver.received and time.monotonic() < deadline:
            time.sleep(0.2)
        [(headers, body)] = Receiver.received
        delivered = Verifier(secret).verify(body, headers)
        assert delivered["type"] == "task.created"
        assert delivered["data"]["id"] == task.json()["id"]
        # The worker records the attempt after the receiver has answered: wait for the record.
        log: list[dict] = []

        def recorded() -> bool:
            log[:] = client.get(path_of(created.json()["deliveries"]), token=token).json()["results"]
            return bool(log)

        assert wait_for(recorded, timeout=30) is not None, "the delivery was never recorded"
        assert (log[0]["status_code"], log[0]["succeeded"]) == (204, True)
        assert log[0]["event_id"] == headers["webhook-id"]
        worker = [pid for pid in _children(server.pid) if b"events_worker" in _cmdline(pid)]
        assert len(worker) == 1

    deadline = time.monotonic() + 15
    while _alive(worker[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker[0])  # stopped with the server


def _children(pid: int) -> list[int]:
    from soak.server import children

    return children(pid)


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
