"""The verifier's introspection mode (RFC 7662): a token the local checks accept is asked about,
each answer kept for at most a second, and an issuer that cannot answer is a 503, never a
guess. The issuer is an httpx mock transport; time, two clocks the test turns."""

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from flask.testing import FlaskClient

from examples.verifier.app import Settings, create_app
from examples.verifier.introspection import IntrospectionUnavailable, Introspector
from examples.verifier.jwks import JwksCache
from tests.helpers.jose import ISSUER, Signer

SIGNER = Signer.generate("rsa-1")
ISSUER_URL = "https://issuer.example"
ENDPOINT = "https://issuer.example/auth/introspect/"
CLIENT_ID, CLIENT_SECRET = "a1b2c3", "s3cr3t+/="
ANSWER_TIMEOUT = 2.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Issuer:
    """The task service's metadata, JWKS and introspection endpoint; remembers every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.revoked: set[str] = set()
        self.metadata: dict[str, Any] = {"issuer": ISSUER, "introspection_endpoint": ENDPOINT}
        self.introspect: Callable[[httpx.Request], httpx.Response] = self.answer

    def answer(self, request: httpx.Request) -> httpx.Response:
        token = parse_qs(request.content.decode())["token"][0]
        return httpx.Response(200, json={"active": token not in self.revoked})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json=self.metadata)
        if request.url.path == "/.well-known/jwks.json":
            return httpx.Response(200, json={"keys": [SIGNER.jwk()]})
        return self.introspect(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def introspections(self) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == "/auth/introspect/"]


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def wall_clock() -> Clock:
    return Clock(time.time())


def introspector_for(issuer: Issuer, clock: Clock, wall_clock: Clock, **options: Any) -> Introspector:
    return Introspector(
        issuer_url=ISSUER_URL,
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        transport=issuer.transport(),
        clock=clock,
        wall_clock=wall_clock,
        **options,
    )


@pytest.fixture
def introspector(issuer: Issuer, clock: Clock, wall_clock: Clock) -> Introspector:
    return introspector_for(issuer, clock, wall_clock)


def app_client(issuer: Issuer, introspector: Introspector | None) -> FlaskClient:
    keys = JwksCache(ISSUER_URL + "/.well-known/jwks.json", transport=issuer.transport())
    return create_app(Settings(issuer_url=ISSUER_URL), keys=keys, introspector=introspector).test_client()


def whoami(client: FlaskClient, token: str) -> Any:
    return client.get("/whoami", headers={"Authorization": f"Bearer {token}"})


def raising(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("no answer", request=request)

    return fail


def in_an_hour() -> float:
    return time.time() + 3600


# Through the app.


def test_an_active_token_is_accepted_and_an_inactive_one_refused(
    issuer: Issuer, introspector: Introspector
) -> None:
    client = app_client(issuer, introspector)
    live, ended = SIGNER.sign(), SIGNER.sign()
    issuer.revoked.add(ended)
    assert whoami(client, live).status_code == 200
    answer = whoami(client, ended)
    assert answer.status_code == 401
    assert answer.json == {"detail": "The token is no longer active."}
    assert answer.headers["WWW-Authenticate"].startswith(
        'Bearer realm="tasks-verifier", error="invalid_token"'
    )
    assert len(issuer.introspections()) == 2


def test_a_token_the_local_checks_refuse_is_not_asked_about(
    issuer: Issuer, introspector: Introspector
) -> None:
    client = app_client(issuer, introspector)
    assert whoami(client, SIGNER.sign(aud="another-api")).status_code == 401
    assert issuer.introspections() == []


def test_in_jwks_only_mode_nothing_is_asked(issuer: Issuer) -> None:
    client = app_client(issuer, None)
    token = SIGNER.sign()
    issuer.revoked.add(token)
    for _ in range(3):
        # Accepted although the issuer holds it inactive: the price of this mode.
        assert whoami(client, token).status_code == 200
    assert [request.url.path for request in issuer.requests] == ["/.well-known/jwks.json"]


@pytest.mark.parametrize(
    "failure",
    [
        raising(httpx.ConnectError),
        raising(httpx.ReadTimeout),
        lambda request: httpx.Response(500),
        lambda request: httpx.Response(401, json={"error": "invalid_client"}),
        lambda request: httpx.Response(429, headers={"Retry-After": "60"}),
        lambda request: httpx.Response(302, headers={"Location": "https://elsewhere.example/introspect"}),
        lambda request: httpx.Response(200, content=b"<html>"),
        lambda request: httpx.Response(200, json={"active": "true"}),
        lambda request: httpx.Response(200, json={"sub": "42"}),
        lambda request: httpx.Response(200, json=[{"active": True}]),
        lambda request: httpx.Response(200, content=b'{"active": true}' + b" " * 70_000),
    ],
    ids=[
        "unreachable",
        "timeout",
        "server error",
        "our client refused",
        "throttled",
        "redirect",
        "not JSON",
        "active not a boolean",
        "no active",
        "not an object",
        "too large",
    ],
)
def test_an_issuer_that_cannot_answer_is_a_503_never_an_acceptance(
    issuer: Issuer, introspector: Introspector, failure: Callable[[httpx.Request], httpx.Response]
) -> None:
    issuer.introspect = failure
    answer = whoami(app_client(issuer, introspector), SIGNER.sign())
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.is_json
    assert [str(request.url) for request in issuer.introspections()] == [ENDPOINT]  # never redirected


# The request it makes.


def test_the_request_is_rfc_7662s_with_our_client_in_http_basic(
    issuer: Issuer, introspector: Introspector
) -> None:
    token = SIGNER.sign()
    assert introspector.active(token, expires=in_an_hour())
    (request,) = issuer.introspections()
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"token": [token], "token_type_hint": ["access_token"]}
    scheme, _, credentials = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 §2.3.1: each form-encoded, then joined.
    assert base64.b64decode(credentials).decode() == "a1b2c3:s3cr3t%2B%2F%3D"


def test_the_endpoint_is_found_once_from_the_issuers_metadata(
    issuer: Issuer, introspector: Introspector
) -> None:
    for _ in range(3):
        introspector.active(SIGNER.sign(), expires=in_an_hour())
    assert [request.url.path for request in issuer.requests] == [
        "/.well-known/oauth-authorization-server",
        *["/auth/introspect/"] * 3,
    ]


def test_a_configured_endpoint_needs_no_metadata(issuer: Issuer, clock: Clock, wall_clock: Clock) -> None:
    introspector = introspector_for(issuer, clock, wall_clock, endpoint=ENDPOINT)
    assert introspector.active(SIGNER.sign(), expires=in_an_hour())
    assert [request.url.path for request in issuer.requests] == ["/auth/introspect/"]


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": "someone-else", "introspection_endpoint": ENDPOINT},  # RFC 8414 §3.3
        {"introspection_endpoint": ENDPOINT},
        {"issuer": ISSUER},
        {
            "issuer": ISSUER,
            "introspection_endpoint": "http://issuer.example/auth/introspect/",
        },  # in the clear
        {"issuer": ISSUER, "introspection_endpoint": "/auth/introspect/"},
    ],
)
def test_metadata_we_cannot_trust_is_not_used(
    issuer: Issuer, introspector: Introspector, metadata: dict[str, Any]
) -> None:
    issuer.metadata = metadata
    with pytest.raises(IntrospectionUnavailable):
        introspector.active(SIGNER.sign(), expires=in_an_hour())
    assert issuer.introspections() == []  # our secret was sent nowhere


# The cache.


def test_an_answer_is_kept_for_at_most_a_second(
    issuer: Issuer, introspector: Introspector, clock: Clock, wall_clock: Clock
) -> None:
    token = SIGNER.sign()
    assert introspector.active(token, expires=in_an_hour())
    issuer.revoked.add(token)  # the logout
    clock.now += 0.999
    wall_clock.now += 0.999
    assert introspector.active(token, expires=in_an_hour())  # still the answer of 0.999 s ago
    assert len(issuer.introspections()) == 1
    clock.now += 0.001
    wall_clock.now += 0.001
    assert not introspector.active(token, expires=in_an_hour())
    assert len(issuer.introspections()) == 2


def test_each_token_has_its_own_answer(issuer: Issuer, introspector: Introspector) -> None:
    live, ended = SIGNER.sign(), SIGNER.sign()
    issuer.revoked.add(ended)
    for _ in range(3):
        assert introspector.active(live, expires=in_an_hour())
        assert not introspector.active(ended, expires=in_an_hour())
    assert len(issuer.introspections()) == 2


def test_an_answer_is_never_kept_past_the_tokens_exp(
    issuer: Issuer, introspector: Introspector, clock: Clock, wall_clock: Clock
) -> None:
    token = SIGNER.sign()
    expires = wall_clock.now + 0.25
    assert introspector.active(token, expires=expires)
    clock.now += 0.25
    wall_clock.now += 0.25
    assert introspector.active(token, expires=expires)
    assert len(issuer.introspections()) == 2
    # Past its exp (within the leeway the local checks allow), every request asks.
    clock.now += 0.1
    wall_clock.now += 0.1
    assert introspector.active(token, expires=expires)
    assert len(issuer.introspections()) == 3


def test_the_cache_is_bounded_and_forgets_the_oldest_answer(
    issuer: Issuer, clock: Clock, wall_clock: Clock
) -> None:
    introspector = introspector_for(issuer, clock, wall_clock, max_entries=2)
    a, b, c = (SIGNER.sign() for _ in range(3))
    introspector.active(a, expires=in_an_hour())
    introspector.active(b, expires=in_an_hour())
    clock.now += 1
    introspector.active(a, expires=in_an_hour())  # asked again: now the newest answer
    introspector.active(c, expires=in_an_hour())  # b's answer makes room
    assert len(issuer.introspections()) == 4
    introspector.active(a, expires=in_an_hour())
    introspector.active(c, expires=in_an_hour())
    assert len(issuer.introspections()) == 4
    introspector.active(b, expires=in_an_hour())
    assert len(issuer.introspections()) == 5


def test_a_ttl_of_zero_asks_every_time(issuer: Issuer, clock: Clock, wall_clock: Clock) -> None:
    introspector = introspector_for(issuer, clock, wall_clock, ttl=0)
    token = SIGNER.sign()
    for _ in range(3):
        introspector.active(token, expires=in_an_hour())
    assert len(issuer.introspections()) == 3


@pytest.mark.parametrize("ttl", [1.5, -1])
def test_an_answer_cannot_be_kept_longer_than_a_second(issuer: Issuer, ttl: float) -> None:
    with pytest.raises(ValueError, match="at most"):
        Introspector(issuer_url=ISSUER_URL, issuer=ISSUER, client_id="c", client_secret="s", ttl=ttl)


def test_after_a_failure_the_issuer_is_left_alone_for_the_retry_interval(
    issuer: Issuer, introspector: Introspector, clock: Clock
) -> None:
    issuer.introspect = lambda request: httpx.Response(503)
    token = SIGNER.sign()
    for _ in range(5):
        with pytest.raises(IntrospectionUnavailable):
            introspector.active(token, expires=in_an_hour())
    assert len(issuer.introspections()) == 1
    issuer.introspect = issuer.answer
    clock.now += 1.0
    assert introspector.active(token, expires=in_an_hour())
    assert len(issuer.introspections()) == 2


def test_the_client_has_a_timeout_and_follows_no_redirects(introspector: Introspector) -> None:
    client = introspector._client
    assert client.follow_redirects is False
    assert client.timeout == httpx.Timeout(ANSWER_TIMEOUT)


# Settings.


def test_a_confidential_client_in_the_environment_turns_introspection_on() -> None:
    assert not Settings.from_env({}).introspects
    settings = Settings.from_env({"VERIFIER_CLIENT_ID": CLIENT_ID, "VERIFIER_CLIENT_SECRET": CLIENT_SECRET})
    assert settings.introspects
    assert CLIENT_SECRET not in repr(settings)
    app = create_app(settings)
    introspector = app.extensions["introspection"]
    assert isinstance(introspector, Introspector)
    assert (introspector.issuer_url, introspector.issuer, introspector.endpoint) == (
        "http://127.0.0.1:8000",
        "taskservice",
        None,
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"VERIFIER_CLIENT_ID": CLIENT_ID},
        {"VERIFIER_CLIENT_SECRET": CLIENT_SECRET},
        {"TASKS_INTROSPECTION_URL": "http://127.0.0.1:8000/auth/introspect/"},  # without a client
        {
            "VERIFIER_CLIENT_ID": CLIENT_ID,
            "VERIFIER_CLIENT_SECRET": CLIENT_SECRET,
            "TASKS_INTROSPECTION_URL": "http://tasks.example/auth/introspect/",  # the secret in the clear
        },
        {"TASKS_INTROSPECTION_TIMEOUT": "0"},
        {"VERIFIER_URL": "ftp://127.0.0.1:8001"},
        {"VERIFIER_URL": "http://127.0.0.1:8001/?x=1"},
        {"TASKS_DPOP_MAX_AGE": "0"},
        {"TASKS_DPOP_MAX_AGE": "3600"},
    ],
)
def test_a_malformed_setting_fails_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"TASKS_|VERIFIER_"):
        create_app(Settings.from_env(environ))
