"""A standard OAuth 2.0 client library drives the real service with no code of ours.

tests/interop/oauth_client.mjs runs panva's oauth4webapi on Node against ``manage.py serve``
(SQLite, JWT_ISSUER set to its base URL): RFC 8414 discovery, the password and refresh_token
grants with a confidential client and DPoP-bound tokens (RFC 9449), the API with those
tokens, introspection (RFC 7662) and revocation (RFC 7009). It prints what each step saw;
this test asserts it step by step. The library is installed by ``make interop-deps``; without
it (or without node) the test skips, and fails under CI=true.
"""

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from soak.server import HOST, ROOT, Server, free_port, manage, server_env
from tests.helpers.servers import client

INTEROP = ROOT / "tests" / "interop"
PROGRAM = INTEROP / "oauth_client.mjs"
LIBRARY = INTEROP / "node_modules" / "oauth4webapi" / "package.json"
# Random, unlike the username: the service refuses a password too similar to it.
PASSWORD = secrets.token_urlsafe(18)
# The service ends a revoked session everywhere within one second (API.md); the rest is a
# request's time on a loaded machine.
REVOKED_WITHIN_SECONDS = 2.0


@pytest.fixture(autouse=True, scope="module")
def _embedded_run_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--services"):
        pytest.skip("the OAuth client needs only the service's HTTP API: tested in the SQLite run")


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with oauth4webapi installed beside the program; else skip (fail under CI)."""
    found = shutil.which("node")
    if found is not None and LIBRARY.is_file():
        return found
    missing = (
        "node is missing (the machine's Node.js 20 or newer)"
        if found is None
        else f"{LIBRARY.relative_to(ROOT)} is missing: run make interop-deps (npm ci in tests/interop)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the OAuth client interop test: {missing}", pytrace=False)
    pytest.skip(missing)


@dataclass(frozen=True)
class Issuer:
    """The service, its confidential client and a user of it."""

    url: str
    client_id: str
    client_secret: str
    username: str
    user_id: str


@pytest.fixture(scope="module")
def issuer(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    root = tmp_path_factory.mktemp("oauth")
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = server_env(
        root / "state",
        JWT_ISSUER=url,
        SIGNUP_RATE="1000/hour",
        LOGIN_RATE="1000/min",
        LOGIN_USERNAME_RATE="1000/min",
    )
    manage(env, "migrate", "--no-input", "-v0")
    made = json.loads(manage(env, "create_client", "interop", "--confidential"))
    # Two workers, as served: a revocation must reach the worker that did not see it.
    with Server(env, port=port, workers=2, log_path=root / "server.log") as server:
        username = f"oauth-user-{secrets.token_hex(4)}"
        signed_up = client(server.port).post("/users/", {"username": username, "password": PASSWORD})
        assert signed_up.status == 201, signed_up.body
        yield Issuer(url, made["client_id"], made["client_secret"], username, str(signed_up.json()["id"]))


@dataclass(frozen=True)
class Run:
    """What oauth_client.mjs printed (one JSON object per step it reached) and how it ended."""

    returncode: int
    seen: dict[str, Any]
    stderr: str

    def step(self, name: str) -> dict[str, Any]:
        """The step's answers; fail with the program's error when it stopped before them."""
        if name not in self.seen:
            failed = self.seen.get("failed")
            pytest.fail(
                f"oauth_client.mjs stopped before {name!r} (exit {self.returncode}): "
                f"{json.dumps(failed)}\n{self.stderr}",
                pytrace=False,
            )
        return dict(self.seen[name])


def run_client(node: str, issuer: Issuer) -> Run:
    done = subprocess.run(  # noqa: S603  node and our program
        [node, str(PROGRAM)],
        cwd=INTEROP,
        env={
            "PATH": os.environ["PATH"],
            "ISSUER": issuer.url,
            "CLIENT_ID": issuer.client_id,
            "CLIENT_SECRET": issuer.client_secret,
            "USERNAME": issuer.username,
            "PASSWORD": PASSWORD,
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    try:
        seen = json.loads(done.stdout)
    except ValueError:
        pytest.fail(
            f"oauth_client.mjs printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return Run(done.returncode, seen, done.stderr)


def challenged(answer: dict[str, Any], scheme: str, error: str) -> bool:
    """Whether a refusal carried a WWW-Authenticate challenge of ``scheme`` with ``error``."""
    return any(
        (challenge["scheme"], challenge["error"]) == (scheme, error)
        for challenge in answer["challenges"] or []
    )


def test_a_standard_oauth_client_logs_in_calls_the_api_refreshes_introspects_and_revokes(
    node: str, issuer: Issuer
) -> None:
    run = run_client(node, issuer)
    base = issuer.url

    # RFC 8414 §3: found from the issuer, which the library checked equal to the one asked.
    discovery = run.step("discovery")
    endpoints = {
        "issuer": base,
        "token_endpoint": f"{base}/auth/token/",
        "introspection_endpoint": f"{base}/auth/introspect/",
        "revocation_endpoint": f"{base}/auth/revoke/",
        "jwks_uri": f"{base}/.well-known/jwks.json",
    }
    assert {name: discovery[name] for name in endpoints} == endpoints
    assert {"password", "refresh_token"} <= set(discovery["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(
        discovery["token_endpoint_auth_methods_supported"]
    )
    assert "ES256" in discovery["dpop_signing_alg_values_supported"]

    # The password grant with client_secret_basic and a DPoP proof: a DPoP-bound pair.
    login = run.step("login")
    assert login["token_type"] == "dpop"  # the library lower-cases it
    assert login["has_refresh_token"] is True
    assert login["expires_in"] > 0

    # The API with Authorization: DPoP and a proof per request; without the proof, refused.
    created = run.step("task_create")
    assert created["status"] == 201, created
    assert created["title"] == f"interop {run.seen['dpop_jkt'][:8]}"
    assert created["location"]
    listed = run.step("task_list")
    assert listed["status"] == 200, listed
    assert created["id"] in listed["ids"]
    as_bearer = run.step("bound_token_as_bearer")
    assert as_bearer["status"] == 401, as_bearer
    assert challenged(as_bearer, "dpop", "invalid_token")

    # The refresh_token grant with the same key: a new DPoP-bound pair that works.
    refresh = run.step("refresh")
    assert refresh == {"token_type": "dpop", "new_access_token": True, "new_refresh_token": True}
    after_refresh = run.step("task_list_after_refresh")
    assert after_refresh["status"] == 200, after_refresh
    assert created["id"] in after_refresh["ids"]

    # RFC 7662 §2.2, and RFC 9449 §6.2: the token's client, user and key.
    bound = {
        "active": True,
        "client_id": issuer.client_id,
        "sub": issuer.user_id,
        "cnf_jkt": run.seen["dpop_jkt"],
    }
    introspection = run.step("introspection")
    assert {name: introspection[name] for name in bound} == bound
    assert run.step("introspection_refresh")["active"] is True

    # RFC 7009 §2.2: 200; the session ends, and with it every token of it.
    assert run.step("revocation") == {"status": 200}
    after = run.step("after_revocation")
    assert after["introspection"]["active"] is False
    assert after["introspection_refresh"]["active"] is False
    assert after["api"]["status"] == 401, after["api"]
    assert challenged(after["api"], "dpop", "invalid_token")
    assert after["seconds"] < REVOKED_WITHIN_SECONDS, after
    # RFC 6749 §5.2: the revoked refresh token is an invalid_grant.
    assert run.step("refresh_after_revocation") == {"status": 400, "error": "invalid_grant"}

    assert (run.returncode, run.seen.get("failed")) == (0, None), run.stderr
