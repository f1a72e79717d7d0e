"""The verifier's JWKS cache: which published keys it uses, when it fetches, and what a
failed fetch does. The issuer is an httpx mock transport and time a clock the test turns."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from examples.verifier.jwks import MAX_JWKS_BYTES, JwksCache, JwksError, KeysUnavailable, parse_jwks
from tests.helpers.jose import Signer

URL = "https://issuer.example/.well-known/jwks.json"
RSA_KEY = Signer.generate("rsa-1")
EC_P256 = ec.generate_private_key(ec.SECP256R1()).public_key()
EC_P384 = ec.generate_private_key(ec.SECP384R1()).public_key()


def jwk_of(public_key: Any, algorithm: str, kid: str, **members: Any) -> dict[str, Any]:
    jwk = get_default_algorithms()[algorithm].to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig", **members}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A JWKS endpoint: answers ``handler(request)`` and remembers every request."""

    def __init__(self, keys: list[dict[str, Any]] | None = None) -> None:
        self.keys = keys if keys is not None else [RSA_KEY.jwk()]
        self.requests: list[httpx.Request] = []
        self.handler: Callable[[httpx.Request], httpx.Response] = lambda request: httpx.Response(
            200, json={"keys": self.keys}
        )

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return httpx.MockTransport(handle)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def cache_for(issuer: Issuer, clock: Clock, **options: Any) -> JwksCache:
    settings = {"ttl": 60.0, "min_interval": 1.0, "max_stale": 600.0, **options}
    return JwksCache(URL, transport=issuer.transport(), clock=clock, **settings)


# Which keys of a set are used.


def test_the_issuers_own_keys_are_used() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_2 = ed25519.Ed25519PrivateKey.generate().public_key()
    keys = parse_jwks(
        {
            "keys": [
                RSA_KEY.jwk(),
                jwk_of(EC_P256, "ES256", "ec-1"),
                jwk_of(ed, "EdDSA", "ed-1"),
                jwk_of(ed_2, "EdDSA", "ed-2", alg="Ed25519"),  # RFC 9864's name
            ]
        }
    )
    assert {kid: key.algorithm for kid, key in keys.items()} == {
        "rsa-1": "RS256",
        "ec-1": "ES256",
        "ed-1": "EdDSA",
        "ed-2": "Ed25519",
    }
    assert keys["ed-2"].public_key.public_bytes_raw() == ed_2.public_bytes_raw()


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({**RSA_KEY.jwk(), "kid": None}, id="no kid"),
        pytest.param({k: v for k, v in RSA_KEY.jwk().items() if k != "alg"}, id="no alg"),
        pytest.param({**RSA_KEY.jwk(), "alg": "none"}, id="alg none"),
        pytest.param(
            {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "h", "alg": "HS256"}, id="HMAC"
        ),
        pytest.param({**RSA_KEY.jwk(), "alg": "HS256"}, id="RSA key said to be HS256"),
        pytest.param({**RSA_KEY.jwk(), "alg": "ES256"}, id="RSA key said to be ES256"),
        pytest.param(jwk_of(EC_P384, "ES384", "ec", alg="ES256"), id="P-384 key said to be ES256"),
        pytest.param(
            jwk_of(ed448.Ed448PrivateKey.generate().public_key(), "EdDSA", "ed", alg="Ed25519"),
            id="Ed448 key said to be Ed25519",
        ),
        pytest.param({**RSA_KEY.jwk(), "use": "enc"}, id="an encryption key"),
        pytest.param({**RSA_KEY.jwk(), "key_ops": ["encrypt"]}, id="key_ops without verify"),
        pytest.param(
            {
                **RSA_KEY.jwk(),
                "d": get_default_algorithms()["RS256"].to_jwk(RSA_KEY.private_key, as_dict=True)["d"],
            },
            id="a private key",
        ),
        pytest.param(
            jwk_of(
                rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(),  # noqa: S505
                "RS256",
                "weak",
            ),
            id="1024-bit RSA",
        ),
        pytest.param({**RSA_KEY.jwk(), "n": "!!not base64!!"}, id="a broken modulus"),
        pytest.param("a string", id="not an object"),
    ],
)
def test_keys_we_must_not_verify_with_are_skipped(jwk: Any) -> None:
    keys = parse_jwks({"keys": [jwk, jwk_of(EC_P256, "ES256", "good")]})
    assert list(keys) == ["good"]


def test_a_kid_naming_two_keys_names_none() -> None:
    keys = parse_jwks(
        {"keys": [RSA_KEY.jwk(), jwk_of(EC_P256, "ES256", RSA_KEY.kid), jwk_of(EC_P256, "ES256", "b")]}
    )
    assert list(keys) == ["b"]


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, {"keys": [RSA_KEY.jwk()] * 101}, None])
def test_a_document_that_is_not_a_jwk_set_is_refused(document: Any) -> None:
    with pytest.raises(JwksError):
        parse_jwks(document)


# Fetching: the answers that count as a failure.


def failing(issuer: Issuer, clock: Clock) -> None:
    """The first lookup must find no keys to use: 503, not a guess."""
    cache = cache_for(issuer, clock)
    with pytest.raises(KeysUnavailable):
        cache.key(RSA_KEY.kid)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(issuer: Issuer, clock: Clock, status: int) -> None:
    target = "https://issuer.example/elsewhere/jwks.json"
    issuer.handler = lambda request: (
        httpx.Response(200, json={"keys": issuer.keys})
        if str(request.url) == target
        else httpx.Response(status, headers={"Location": target})
    )
    failing(issuer, clock)
    assert [str(request.url) for request in issuer.requests] == [URL]


@pytest.mark.parametrize("status", [204, 304, 401, 404, 429, 500, 503])
def test_an_answer_other_than_200_is_a_failure(issuer: Issuer, clock: Clock, status: int) -> None:
    issuer.handler = lambda request: httpx.Response(status, json={"keys": issuer.keys})
    failing(issuer, clock)


@pytest.mark.parametrize(
    "body",
    [b"<html>Service Unavailable</html>", b"", b'{"keys": [', b"\xff\xfe"],
    ids=["html", "empty", "truncated", "binary"],
)
def test_an_answer_that_is_not_json_is_a_failure(issuer: Issuer, clock: Clock, body: bytes) -> None:
    issuer.handler = lambda request: httpx.Response(200, content=body)
    failing(issuer, clock)


def test_an_oversized_answer_is_a_failure(issuer: Issuer, clock: Clock) -> None:
    padding = " " * MAX_JWKS_BYTES  # valid JSON, just too large to read
    issuer.handler = lambda request: httpx.Response(200, content=json.dumps({"keys": issuer.keys}) + padding)
    failing(issuer, clock)


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout])
def test_an_unreachable_issuer_is_a_failure(
    issuer: Issuer, clock: Clock, error: type[httpx.HTTPError]
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise error("no answer", request=request)

    issuer.handler = unreachable
    failing(issuer, clock)


def test_the_client_has_a_timeout_and_follows_no_redirects() -> None:
    cache = JwksCache(URL, timeout=1.5)
    client = cache._client
    assert client.follow_redirects is False
    assert client.timeout == httpx.Timeout(1.5)


# Caching: when a fetch happens.


def test_the_keys_are_fetched_once_per_ttl(issuer: Issuer, clock: Clock) -> None:
    cache = cache_for(issuer, clock, ttl=60.0)
    for _ in range(50):
        assert cache.key(RSA_KEY.kid) is not None
    clock.now += 59
    assert cache.key(RSA_KEY.kid) is not None
    assert len(issuer.requests) == 1
    clock.now += 1
    assert cache.key(RSA_KEY.kid) is not None
    assert len(issuer.requests) == 2


def test_a_new_kid_is_fetched_at_once(issuer: Issuer, clock: Clock) -> None:
    cache = cache_for(issuer, clock, ttl=3600.0, max_stale=3600.0)
    assert cache.key(RSA_KEY.kid) is not None
    rotated = Signer.generate("rsa-2")
    issuer.keys = [RSA_KEY.jwk(), rotated.jwk()]
    clock.now += 1
    assert cache.key("rsa-2") is not None
    assert cache.key(RSA_KEY.kid) is not None
    assert len(issuer.requests) == 2


def test_a_flood_of_unknown_kids_costs_one_fetch_per_interval(issuer: Issuer, clock: Clock) -> None:
    cache = cache_for(issuer, clock, min_interval=5.0)
    assert cache.key(RSA_KEY.kid) is not None
    for second in range(20):
        for n in range(100):
            assert cache.key(f"made-up-{second}-{n}") is None
        clock.now += 1
    assert len(issuer.requests) == 4  # at 0 s, then at 5, 10 and 15 s
    assert cache.key(RSA_KEY.kid) is not None


def test_a_removed_key_is_refused_after_the_ttl(issuer: Issuer, clock: Clock) -> None:
    cache = cache_for(issuer, clock, ttl=10.0)
    rotated = Signer.generate("rsa-2")
    issuer.keys = [RSA_KEY.jwk(), rotated.jwk()]
    assert cache.key(RSA_KEY.kid) is not None
    issuer.keys = [rotated.jwk()]
    clock.now += 9
    assert cache.key(RSA_KEY.kid) is not None  # cached: the removal is not seen yet
    clock.now += 1
    assert cache.key(RSA_KEY.kid) is None
    assert cache.key("rsa-2") is not None


def test_a_failed_fetch_keeps_the_last_keys_until_they_are_too_old(issuer: Issuer, clock: Clock) -> None:
    cache = cache_for(issuer, clock, ttl=60.0, max_stale=600.0)
    assert cache.key(RSA_KEY.kid) is not None
    issuer.handler = lambda request: httpx.Response(503)
    clock.now += 599
    assert cache.key(RSA_KEY.kid) is not None
    assert len(issuer.requests) == 2  # it did try
    clock.now += 1
    with pytest.raises(KeysUnavailable):
        cache.key(RSA_KEY.kid)
    # The issuer back: the keys are fetched again, at most one interval later.
    issuer.handler = lambda request: httpx.Response(200, json={"keys": issuer.keys})
    clock.now += 1
    assert cache.key(RSA_KEY.kid) is not None


def test_a_failing_issuer_is_asked_once_per_interval(issuer: Issuer, clock: Clock) -> None:
    issuer.handler = lambda request: httpx.Response(500)
    cache = cache_for(issuer, clock, min_interval=2.0)
    for _ in range(10):
        for _ in range(20):
            with pytest.raises(KeysUnavailable):
                cache.key(RSA_KEY.kid)
        clock.now += 1
    assert len(issuer.requests) == 5


@pytest.mark.parametrize(
    "options",
    [{"min_interval": 0.0}, {"ttl": 0.5}, {"max_stale": 30.0}, {"timeout": 0.0}],
    ids=["no interval", "ttl under the interval", "max_stale under the ttl", "no timeout"],
)
def test_inconsistent_intervals_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        JwksCache(URL, **{"ttl": 60.0, "min_interval": 1.0, "max_stale": 600.0, **options})
