"""A client that stops sending its body loses the worker within REQUEST_BODY_TIMEOUT (plus
the server's respawn), rather than holding it for as long as it keeps the connection open:
measured on the real server, one worker of one thread, reached directly."""

import contextlib
import socket
import time
from pathlib import Path

import pytest

from soak.server import Server, free_port, manage, server_env
from tests.helpers.servers import client

TIMEOUT = 6  # REQUEST_BODY_TIMEOUT of the server under test
# The timeout, the watchdog's tick (1 s) and a new worker's start, with room for a busy machine.
BOUND = 20


def stalled_body(port: int, path: str) -> socket.socket:
    """A request announcing 1000 bytes of body, 6 of them sent, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        'Content-Length: 1000\r\n\r\n{"a":1'.encode()
    )
    return sock


def healthz_seconds(port: int) -> float:
    """How long until /healthz answers 200, asked again as a load balancer's probe would:
    requests the stuck worker had already taken in are dropped with it."""
    started = time.monotonic()
    while time.monotonic() - started < 60:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.monotonic() - started
        except ConnectionError:
            pass  # dropped with the stuck worker, or refused while its successor starts
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_stalled_body_frees_the_only_worker_within_the_bound(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if request.config.getoption("--services"):
        pytest.skip("runs on the embedded default, in the SQLite run")
    env = server_env(tmp_path / "state", REQUEST_BODY_TIMEOUT=str(TIMEOUT))
    manage(env, "migrate", "--no-input", "-v0")
    server = Server(env, port=free_port(), workers=1, threads=1, log_path=tmp_path / "server.log")
    try:
        server.start()
        for path in ("/tasks/", "/users/"):  # one read by a view, one drained on a 401
            stalled = stalled_body(server.port, path)
            time.sleep(0.5)  # the worker's only thread is now reading the body

            waited = healthz_seconds(server.port)

            assert waited < BOUND, f"/healthz waited {waited:.1f} s behind a stalled body on {path}"
            stalled.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # its worker ended: the connection closed
                assert stalled.recv(64) == b""
            stalled.close()
        # A body that arrives in parts within the timeout is served as usual.
        http = client(server.port)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            body = b'{"username": "slowpoke", "password": "long-enough-password-1"}'
            slow.sendall(
                b"POST /users/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
            )
            time.sleep(TIMEOUT / 2)
            slow.sendall(body[10:])
            assert slow.recv(64).startswith(b"HTTP/1.1 201")
        assert http.get("/healthz").status == 200
    finally:
        server.stop()
    assert "did not arrive within REQUEST_BODY_TIMEOUT" in (tmp_path / "server.log").read_text()
