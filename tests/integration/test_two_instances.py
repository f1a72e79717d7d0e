"""Two instances on two ports, sharing PostgreSQL and Redis, act as one service: a session
ended on one is refused by the other within a second, introspected as inactive by the other
within a second, and login throttling counts together."""

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from soak import services
from soak.http import Reply
from soak.server import Server, free_port, manage, server_env
from tests.helpers.servers import client, loopback_address

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
PASSWORD = "integration-" + secrets.token_hex(8)


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh database of this test's own on the PostgreSQL server DATABASE_URL names."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    url = base.rsplit("/", 1)[0] + f"/integration_{secrets.token_hex(4)}"
    services.database_recreate(url)
    try:
        yield url
    finally:
        services.database_drop(url)


@pytest.fixture
def instances(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two instances, as on two machines: each its own state directory, one signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "jwt.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    shared = {
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "JWT_PRIVATE_KEY_FILE": str(key_file),
        "LOGIN_RATE": "3/min",
    }
    envs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        envs.append(server_env(tmp_path / name, **shared))
    manage(envs[0], "migrate", "--no-input", "-v0")
    a = Server(envs[0], port=free_port(), workers=2, log_path=tmp_path / "a.log")
    b = Server(envs[1], port=free_port(), workers=2, log_path=tmp_path / "b.log")
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def refused_within(seconds: float, ask: Callable[[], Reply]) -> float:
    """Ask until the answer is 401; how long that took (fails after ``seconds``)."""
    start = time.monotonic()
    while True:
        reply = ask()
        elapsed = time.monotonic() - start
        if reply.status == 401:
            return elapsed
        assert reply.status == 200, reply.body
        assert elapsed < seconds, f"still accepted {elapsed:.2f} s after the revocation"
        time.sleep(0.05)


def test_a_session_ended_on_one_instance_is_refused_by_the_other(
    instances: tuple[Server, Server], source_address: str
) -> None:
    a, b = client(instances[0].port, source_address), client(instances[1].port, source_address)
    username = f"two-{secrets.token_hex(4)}"
    assert a.post("/users/", {"username": username, "password": PASSWORD}).status == 201

    # A token from A works on B.
    login = a.post("/auth/token/", {"username": username, "password": PASSWORD})
    assert login.status == 200, login.body
    pair = login.json()
    assert b.get("/tasks/", token=pair["access"]).status == 200

    # Logged out on A: refused on B within a second.
    assert a.post("/auth/logout/", {"refresh": pair["refresh"]}).status == 204
    refused_within(1.0, lambda: b.get("/tasks/", token=pair["access"]))
    assert b.post("/auth/token/refresh/", {"refresh": pair["refresh"]}).status == 401

    # A new password set on B: A refuses the tokens issued before it within a second.
    login = b.post("/auth/token/", {"username": username, "password": PASSWORD})
    assert login.status == 200, login.body
    pair = login.json()
    assert a.get("/tasks/", token=pair["access"]).status == 200
    changed = b.post(
        "/users/me/password/",
        {"old_password": PASSWORD, "new_password": PASSWORD + "-new"},
        token=pair["access"],
    )
    assert changed.status == 204, changed.body
    refused_within(1.0, lambda: a.get("/tasks/", token=pair["access"]))
    assert a.post("/auth/token/refresh/", {"refresh": pair["refresh"]}).status == 401


def test_login_throttling_counts_across_instances(
    instances: tuple[Server, Server], source_address: str
) -> None:
    a, b = client(instances[0].port, source_address), client(instances[1].port, source_address)
    wrong = {"username": f"nobody-{secrets.token_hex(4)}", "password": "not-the-password"}
    for _ in range(3):  # LOGIN_RATE=3/min: three attempts from one address, on A
        assert a.post("/auth/token/", wrong).status == 401
    fourth = b.post("/auth/token/", wrong)
    assert fourth.status == 429, fourth.body
    assert int(fourth.headers["retry-after"]) > 0
    assert fourth.is_json
    # Another address is counted apart.
    elsewhere = client(instances[1].port, loopback_address())
    assert elsewhere.post("/auth/token/", wrong).status == 401


def test_introspection_on_one_instance_sees_a_logout_on_the_other_within_a_second(
    instances: tuple[Server, Server], source_address: str
) -> None:
    a = client(instances[0].port, source_address)
    username = f"intro-{secrets.token_hex(4)}"
    assert a.post("/users/", {"username": username, "password": PASSWORD}).status == 201
    registered = json.loads(manage(instances[0].env, "create_client", "resource server", "--confidential"))
    pair = a.post("/auth/token/", {"username": username, "password": PASSWORD}).json()

    def introspect_on_b() -> Reply:
        answer = httpx.post(
            f"http://127.0.0.1:{instances[1].port}/auth/introspect/",
            data={"token": pair["access"]},
            auth=(registered["client_id"], registered["client_secret"]),
        )
        assert answer.status_code == 200, answer.text
        # As refused_within reads it: inactive is the refusal.
        return Reply(200 if answer.json()["active"] else 401, {}, answer.content)

    assert introspect_on_b().status == 200
    assert a.post("/auth/logout/", {"refresh": pair["refresh"]}).status == 204
    refused_within(1.0, introspect_on_b)
