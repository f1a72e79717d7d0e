"""The embedded default under concurrency: SQLite behind two workers.

200 creates at once each get a 201 or a clean JSON 503 (never a 500 for "database is
locked"), and a server killed with SIGKILL in the middle of a load, once restarted on the
same state directory, holds every task it acknowledged.
"""

import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from soak.http import Http, NoAnswer, Reply, path_of
from soak.server import Server, free_port, manage, server_env
from tests.helpers.servers import client

PASSWORD = "integration-" + secrets.token_hex(8)
DUE = "2030-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def _embedded_run_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--services"):
        pytest.skip("the embedded default (SQLite) is tested in the SQLite run")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = server_env(tmp_path / "state", SIGNUP_RATE="1000/hour", LOGIN_RATE="1000/min")
    manage(env, "migrate", "--no-input", "-v0")
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    server = Server(env, port=free_port(), workers=2, log_path=tmp_path / "server.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def token_for(port: int) -> str:
    http = client(port)
    username = f"sqlite-{secrets.token_hex(4)}"
    assert http.post("/users/", {"username": username, "password": PASSWORD}).status == 201
    login = http.post("/auth/token/", {"username": username, "password": PASSWORD})
    assert login.status == 200, login.body
    http.close()
    return str(login.json()["access"])


def all_tasks(port: int, token: str) -> list[dict[str, Any]]:
    http = client(port)
    tasks: list[dict[str, Any]] = []
    path: str | None = "/tasks/?page_size=1000&ordering=id"
    while path:
        page = http.get(path, token=token)
        assert page.status == 200, page.body
        tasks.extend(page.json()["results"])
        path = path_of(page.json()["next"]) if page.json()["next"] else None
    http.close()
    return tasks


def create(port: int, token: str, title: str) -> Reply:
    http = Http("127.0.0.1", port, timeout=60, keep_alive=False)
    try:
        return http.post("/tasks/", {"title": title, "due_to": DUE}, token=token)
    finally:
        http.close()


def test_200_concurrent_creates_succeed_or_get_a_clean_503(server: Server) -> None:
    token = token_for(server.port)
    titles = [f"concurrent-{n}" for n in range(200)]
    start = threading.Barrier(200)

    def one(title: str) -> Reply:
        start.wait(timeout=30)
        return create(server.port, token, title)

    with ThreadPoolExecutor(max_workers=200) as pool:
        replies = list(pool.map(one, titles))

    statuses = sorted({reply.status for reply in replies})
    assert set(statuses) <= {201, 503}, statuses
    for reply in replies:
        assert reply.is_json, reply.body
        if reply.status == 503:
            assert int(reply.headers["retry-after"]) > 0
    created = {reply.json()["title"] for reply in replies if reply.status == 201}
    stored = [task["title"] for task in all_tasks(server.port, token)]
    assert sorted(stored) == sorted(created)  # each acknowledged once, nothing refused stored


def test_a_server_killed_mid_load_keeps_every_acknowledged_task(
    env: dict[str, str], server: Server, tmp_path: Path
) -> None:
    token = token_for(server.port)
    acknowledged: dict[int, str] = {}
    unknown: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def load(n: int) -> None:
        for k in range(10_000):
            if stop.is_set():
                return
            title = f"load-{n}-{k}"
            try:
                reply = create(server.port, token, title)
            except NoAnswer:
                with lock:
                    unknown.add(title)
                return  # the server is gone
            with lock:
                if reply.status == 201:
                    acknowledged[reply.json()["id"]] = title
                else:
                    assert reply.status == 503, reply.body
                    assert reply.is_json

    threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL, the server and its workers at once
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(acknowledged) >= 100

    restarted = Server(env, port=free_port(), workers=2, log_path=tmp_path / "restarted.log")
    try:
        restarted.start()
        stored = {task["id"]: task["title"] for task in all_tasks(restarted.port, token)}
    finally:
        restarted.stop()
    missing = {task_id: title for task_id, title in acknowledged.items() if stored.get(task_id) != title}
    assert not missing, f"{len(missing)} acknowledged tasks lost: {sorted(missing.items())[:5]}"
    extra = set(stored.values()) - set(acknowledged.values()) - unknown
    assert not extra, f"tasks nobody was told of: {sorted(extra)[:5]}"
    assert len(stored) == len(set(stored.values()))  # no duplicates
