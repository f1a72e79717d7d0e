"""The verifier example (examples/verifier) beside the real task service, both served by
granian as the README runs them: the task service's access tokens are accepted there, and
forged or misused ones refused; after ``rotate_jwt_key`` tokens signed before and after both
work, until the old key is removed; a JWKS URL that redirects is not followed, and one that
hangs costs a timeout, not a hang. Introspecting with a confidential client of the service,
it refuses a logged-out session's token within a second; with the keys alone, not until the
token expires."""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import jwt
import pytest

from soak.http import Http, NoAnswer, Reply
from soak.server import HOST, ROOT, Server, free_port, manage, server_env
from tests.helpers.jose import REFUSED, Forge, Signer
from tests.helpers.servers import client

PASSWORD = "integration-" + secrets.token_hex(8)
NOT_PUBLISHED = "The token was not signed by any key the issuer publishes."


@pytest.fixture(autouse=True, scope="module")
def _embedded_run_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--services"):
        pytest.skip("the verifier needs only the task service's HTTP API: tested in the SQLite run")


class Verifier:
    """``granian --interface wsgi --factory examples.verifier.app:create_app`` on a free port."""

    def __init__(self, log_path: Path, *, own: dict[str, str] | None = None, **settings: str) -> None:
        """``settings`` are its TASKS_* variables, ``own`` its VERIFIER_* ones, both by lowercase name."""
        self.port = free_port()
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "VERIFIER_"))}
        self.env = {
            **env,
            **{f"TASKS_{name.upper()}": value for name, value in settings.items()},
            **{f"VERIFIER_{name.upper()}": value for name, value in (own or {}).items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> "Verifier":
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603  our own interpreter and module
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
                str(self.port),
                "--blocking-threads",
                "4",
                "--no-ws",
                "--log-level",
                "warning",
                "examples.verifier.app:create_app",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        probe = Http(HOST, self.port, timeout=2, keep_alive=False)
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the verifier exited with {self.proc.returncode}: {self.log_path.read_text()}"
                )
            with contextlib.suppress(NoAnswer):
                if probe.get("/healthz").status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"the verifier was not ready in {timeout} s: {self.log_path.read_text()}")

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()

    def whoami(self, token: str, *, timeout: float = 30) -> Reply:
        return Http(HOST, self.port, timeout=timeout, keep_alive=False).get("/whoami", token=token)


@dataclass
class Issuer:
    """The task service on SQLite with a state directory (and key ring) of its own."""

    server: Server
    env: dict[str, str]
    state_dir: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.port}"

    def login(self, username: str) -> dict[str, Any]:
        reply = client(self.server.port).post("/auth/token/", {"username": username, "password": PASSWORD})
        assert reply.status == 200, reply.body
        return dict(reply.json())

    def sign_up(self) -> str:
        username = f"verifier-{secrets.token_hex(4)}"
        reply = client(self.server.port).post("/users/", {"username": username, "password": PASSWORD})
        assert reply.status == 201, reply.body
        return username

    def user_id(self, access: str) -> str:
        me = client(self.server.port).get("/users/me/", token=access)
        assert me.status == 200, me.body
        return str(me.json()["id"])

    def logout(self, refresh: str) -> None:
        reply = client(self.server.port).post("/auth/logout/", {"refresh": refresh})
        assert reply.status == 204, reply.body

    def confidential_client(self) -> dict[str, str]:
        """A new confidential client's id and secret (``manage.py create_client --confidential``)."""
        registered = json.loads(manage(self.env, "create_client", "verifier", "--confidential"))
        return {"client_id": registered["client_id"], "client_secret": registered["client_secret"]}

    def jwks(self) -> dict[str, Any]:
        return dict(client(self.server.port).get("/.well-known/jwks.json").json())

    def signer(self, kid: str) -> Signer:
        """A signer holding the key the service generated at its first start (it never rotates
        here), to forge tokens wrong in one way only."""
        return Signer.from_pem((self.state_dir / "jwt" / "RS256-1.pem").read_bytes(), kid)


@contextlib.contextmanager
def issuing(tmp_path: Path) -> Iterator[Issuer]:
    state_dir = tmp_path / "state"
    env = server_env(
        state_dir, SIGNUP_RATE="1000/hour", LOGIN_RATE="1000/min", LOGIN_USERNAME_RATE="1000/min"
    )
    manage(env, "migrate", "--no-input", "-v0")
    with Server(env, port=free_port(), workers=1, log_path=tmp_path / "issuer.log") as server:
        yield Issuer(server, env, state_dir)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    with issuing(tmp_path_factory.mktemp("issuer")) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def verifier(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    with Verifier(tmp_path_factory.mktemp("verifier") / "verifier.log", issuer_url=issuer.url) as verifier:
        yield verifier


@pytest.fixture(scope="module")
def tokens(issuer: Issuer) -> dict[str, Any]:
    """A login of a new user: its access and refresh tokens and the user's id."""
    pair = issuer.login(issuer.sign_up())
    return {**pair, "sub": issuer.user_id(pair["access"])}


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_an_access_token_of_the_service_is_accepted(verifier: Verifier, tokens: dict[str, Any]) -> None:
    answer = verifier.whoami(tokens["access"])
    assert answer.status == 200, answer.body
    assert answer.json()["sub"] == tokens["sub"]
    assert answer.json()["kid"] == kid_of(tokens["access"])


def test_a_token_signed_as_the_service_signs_is_accepted(
    issuer: Issuer, verifier: Verifier, tokens: dict[str, Any]
) -> None:
    # The control of the next test: with the service's own key and nothing wrong, accepted.
    answer = verifier.whoami(issuer.signer(kid_of(tokens["access"])).sign(sub="7"))
    assert answer.status == 200, answer.body
    assert answer.json()["sub"] == "7"


@pytest.mark.parametrize(("forge", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_a_forged_or_misused_token_is_refused(
    issuer: Issuer, verifier: Verifier, tokens: dict[str, Any], forge: Forge, reason: str
) -> None:
    answer = verifier.whoami(forge(issuer.signer(kid_of(tokens["access"])), tokens["access"]))
    assert answer.status == 401, answer.body
    assert answer.json() == {"detail": reason}
    assert answer.headers["www-authenticate"].startswith(
        'Bearer realm="tasks-verifier", error="invalid_token"'
    )


def test_the_services_refresh_token_is_refused(verifier: Verifier, tokens: dict[str, Any]) -> None:
    answer = verifier.whoami(tokens["refresh"])
    assert answer.status == 401
    assert answer.json() == {"detail": "This is not an access token."}


def test_a_logout_is_refused_within_a_second_when_introspecting(
    issuer: Issuer, verifier: Verifier, tmp_path: Path
) -> None:
    with Verifier(
        tmp_path / "introspecting.log", issuer_url=issuer.url, own=issuer.confidential_client()
    ) as asking:
        pair = issuer.login(issuer.sign_up())
        for each in (asking, verifier):
            answer = each.whoami(pair["access"])
            assert answer.status == 200, answer.body
        issuer.logout(pair["refresh"])
        logged_out = time.monotonic()
        # The answer of just before the logout may be kept for up to a second: every request
        # that starts later than that must be refused.
        answers = []
        while time.monotonic() < logged_out + 1.5:
            started = time.monotonic() - logged_out
            answers.append((started, asking.whoami(pair["access"])))
            time.sleep(0.05)
        late = [answer for started, answer in answers if started >= 1.0]
        assert late, "no request started a second after the logout"
        for answer in late:
            assert (answer.status, answer.json()) == (401, {"detail": "The token is no longer active."})
        assert answer.headers["www-authenticate"].startswith(
            'Bearer realm="tasks-verifier", error="invalid_token"'
        )
        # With the keys alone, the token is good until it expires: the price of asking nothing.
        assert verifier.whoami(pair["access"]).status == 200


def test_an_introspecting_verifier_whose_client_is_revoked_answers_503_not_401(
    issuer: Issuer, tokens: dict[str, Any], tmp_path: Path
) -> None:
    # The token may be perfectly good: it is our client the service refuses.
    registered = issuer.confidential_client()
    manage(issuer.env, "revoke_client", registered["client_id"])
    with Verifier(tmp_path / "revoked.log", issuer_url=issuer.url, own=registered) as asking:
        answer = asking.whoami(tokens["access"])
        assert answer.status == 503, answer.body
        assert answer.headers["retry-after"] == "1"


def test_both_tokens_work_across_a_rotation_until_the_old_key_is_removed(tmp_path: Path) -> None:
    with (
        issuing(tmp_path) as issuer,
        # Caches its keys for an hour: it can only accept a new key by fetching on the unknown kid.
        Verifier(
            tmp_path / "patient.log", issuer_url=issuer.url, jwks_ttl="3600", jwks_min_interval="0.2"
        ) as patient,
        # Caches its keys for a second: it sees a removal within about that.
        Verifier(
            tmp_path / "prompt.log", issuer_url=issuer.url, jwks_ttl="1", jwks_min_interval="0.2"
        ) as prompt,
    ):
        username = issuer.sign_up()
        old = issuer.login(username)["access"]
        old_kid = kid_of(old)
        for verifier in (patient, prompt):
            assert verifier.whoami(old).status == 200

        manage(issuer.env, "rotate_jwt_key")
        new = within(10, lambda: issuer.login(username)["access"], lambda token: kid_of(token) != old_kid)
        new_kid = kid_of(new)
        assert {key["kid"] for key in issuer.jwks()["keys"]} == {old_kid, new_kid}
        for verifier in (patient, prompt):
            for token in (old, new):
                answer = verifier.whoami(token)
                assert answer.status == 200, answer.body
                assert answer.json()["kid"] == kid_of(token)
        for token in (old, new):
            assert client(issuer.server.port).get("/users/me/", token=token).status == 200

        manage(issuer.env, "rotate_jwt_key", f"--remove={old_kid}")
        within(10, issuer.jwks, lambda jwks: [key["kid"] for key in jwks["keys"]] == [new_kid])
        refused = within(10, lambda: prompt.whoami(old), lambda answer: answer.status != 200)
        assert (refused.status, refused.json()) == (401, {"detail": NOT_PUBLISHED})
        assert prompt.whoami(new).status == 200
        assert client(issuer.server.port).get("/users/me/", token=old).status == 401
        assert client(issuer.server.port).get("/users/me/", token=new).status == 200
        # A removal reaches a verifier at its next fetch: up to its TTL later. This one's is an hour.
        assert patient.whoami(old).status == 200


def within(seconds: float, ask: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """Ask until ``done`` holds of the answer; the answer (fails after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = ask()
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"still {answer!r} after {seconds} s"
        time.sleep(0.1)


class Recording(ThreadingHTTPServer):
    """A local HTTP server in a thread that answers ``respond(path)`` and records each path."""

    def __init__(self, respond: Callable[[str], tuple[int, dict[str, str], bytes]]) -> None:
        self.paths: list[str] = []
        recording = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recording.paths.append(self.path)
                status, headers, body = respond(self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def __enter__(self) -> "Recording":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


def test_a_jwks_url_that_redirects_is_not_followed(
    issuer: Issuer, tokens: dict[str, Any], tmp_path: Path
) -> None:
    jwks = json.dumps(issuer.jwks()).encode()
    with (
        Recording(lambda path: (200, {"Content-Type": "application/json"}, jwks)) as target,
        Recording(lambda path: (302, {"Location": target.url + path}, b"")) as redirecting,
        Verifier(tmp_path / "redirected.log", issuer_url=redirecting.url) as redirected,
    ):
        answer = redirected.whoami(tokens["access"])
        assert answer.status == 503, answer.body
        assert redirecting.paths == ["/.well-known/jwks.json"]
        assert target.paths == []
        # The target serves the service's true keys: had the redirect been followed, it would be a 200.
        with Verifier(tmp_path / "direct.log", issuer_url=target.url) as direct:
            assert direct.whoami(tokens["access"]).status == 200


def test_a_jwks_url_that_hangs_costs_a_timeout_not_a_hang(tokens: dict[str, Any], tmp_path: Path) -> None:
    # A socket that listens and never accepts: connections complete in its backlog, and no
    # byte is ever answered.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hanging:
        hanging.bind((HOST, 0))
        hanging.listen(16)
        url = f"http://{HOST}:{hanging.getsockname()[1]}"
        with Verifier(
            tmp_path / "verifier.log", issuer_url=url, jwks_timeout="2", jwks_min_interval="10", jwks_ttl="60"
        ) as verifier:
            start = time.monotonic()
            answer = verifier.whoami(tokens["access"], timeout=15)
            elapsed = time.monotonic() - start
            assert answer.status == 503, answer.body
            assert answer.headers["retry-after"] == "10"
            assert 1.9 <= elapsed < 10, f"answered in {elapsed:.2f} s"
            # Within the interval, no second fetch: the next request does not wait at all.
            start = time.monotonic()
            assert verifier.whoami(tokens["access"], timeout=15).status == 503
            assert time.monotonic() - start < 1.5
