"""A request answered without reading its body (a PATCH of a task that is not there, a
refused token, the database away) leaves its keep-alive connection usable: with several
threads per worker granian would otherwise drop it now and then, unannounced, and the
client's next request would fail unanswered."""

import secrets
from pathlib import Path

import pytest

from soak.http import NoAnswer
from soak.server import Server, free_port, manage, server_env
from tests.helpers.servers import client

PASSWORD = "integration-" + secrets.token_hex(8)


def test_keep_alive_survives_answers_that_did_not_read_the_body(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if request.config.getoption("--services"):
        pytest.skip("runs on the embedded default, in the SQLite run")
    env = server_env(tmp_path / "state")
    manage(env, "migrate", "--no-input", "-v0")
    server = Server(env, port=free_port(), workers=1, threads=2, log_path=tmp_path / "server.log")
    try:
        server.start()
        http = client(server.port)
        username = f"keepalive-{secrets.token_hex(4)}"
        assert http.post("/users/", {"username": username, "password": PASSWORD}).status == 201
        token = http.post("/auth/token/", {"username": username, "password": PASSWORD}).json()["access"]
        dropped = 0
        for _ in range(300):
            try:
                missing = http.request("PATCH", "/tasks/999999/", {"title": "x" * 50}, token=token)
                assert missing.status == 404
                assert http.get("/healthz").status == 200
            except NoAnswer:
                dropped += 1
        assert dropped == 0, f"{dropped} of 300 keep-alive connections dropped"
    finally:
        server.stop()
