"""The adversarial battery (RFC 7519, RFC 8725, RFC 6750): what test_codec.py, test_views.py,
test_sessions.py and tests/users/test_activation.py do not already cover.

- HS256 signed with our public key as the PEM with CRLF line endings, as DER and as the JWK
  text of /.well-known/jwks.json; HS256 signed with empty and common weak secrets;
- a kid that is SQL text, or huge (over the 8 KB cap, and just under it);
- embedded ``jwk``, ``jku`` and ``x5u`` pointing at a listener of ours that must see no request,
  at every endpoint that reads a token;
- an access token presented to /auth/logout/, a refresh token as Bearer at a writing endpoint;
- every attack of the battery, ours and a representative of each existing one, is a 401
  with a Bearer challenge, answered without slow work (no password hashed, no sleep, no
  background work), and writes nothing.
"""

import hashlib
import hmac
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.contrib.auth.hashers import get_hashers
from django.db.models import F
from django.http import HttpResponse
from jwt.algorithms import get_default_algorithms
from rest_framework.test import APIClient

from tests.helpers.forgery import (
    MISSING,
    SLACK,
    assert_invalid_token,
    b64,
    claims_for,
    forge,
    get_tasks,
    our_header,
    sign_by_hand,
)
from tokens.codec import MAX_TOKEN_BYTES
from tokens.keys import RSA_ALGORITHMS, SigningKey, jwk_thumbprint, jws_algorithm, key_ring
from tokens.models import Session
from tokens.services import refresh_rotate, session_start, token_pair_issue
from users.activation import activation_token_make
from users.models import User

pytestmark = pytest.mark.django_db

ENDPOINTS = ["bearer", "refresh", "verify", "logout"]


# Presenting a token, and checking that the refusal changed nothing.


@dataclass(frozen=True)
class Probe:
    """A token and where it is presented: as Bearer to GET /tasks/, or in a token endpoint's body."""

    token: str
    endpoint: str = "bearer"
    revokes: str | None = None  # the session the presentation rightly revokes (refresh reuse)


def present(probe: Probe, client: APIClient) -> HttpResponse:
    if probe.endpoint == "bearer":
        return client.get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {probe.token}")
    field = "token" if probe.endpoint == "verify" else "refresh"
    path = {"refresh": "/auth/token/refresh/", "verify": "/auth/token/verify/", "logout": "/auth/logout/"}
    return client.post(path[probe.endpoint], {field: probe.token}, format="json")


@pytest.fixture
def api() -> APIClient:
    """One client for the test: a client loads the middleware (and scans static files) once."""
    return APIClient()


def snapshot() -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    sessions = {str(row["id"]): row for row in Session.objects.values()}
    users = {row["id"]: row for row in User.objects.values()}
    return sessions, users


@contextmanager
def nothing_written(revokes: str | None = None) -> Iterator[None]:
    """No session is created, changed or deleted, and no user changes (but ``revokes``, revoked for reuse)."""
    sessions, users = snapshot()
    yield
    sessions_after, users_after = snapshot()
    if revokes is not None:
        revoked = sessions_after[revokes]
        assert revoked["revoked"] is not None
        assert revoked["revoked_reason"] == Session.Reason.REUSE
        assert sessions[revokes]["revoked"] is None
        sessions[revokes] = {**sessions[revokes], "revoked": revoked["revoked"], "revoked_reason": "reuse"}
    assert sessions_after == sessions
    assert users_after == users


@dataclass
class Work:
    """What a presentation did that would make a refusal slow: counted, not timed, so that
    parallel workers on a loaded machine change nothing."""

    password_hashes: list[str] = field(default_factory=list)  # a hasher's encode, verify or harden_runtime
    sleeps: list[float] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)  # background work, such as a fetch


@contextmanager
def work_counted() -> Iterator[Work]:
    """Count the slow work done inside the block. Threads started in it are joined on the
    way out, so whatever they did (a fetch of a URL) has happened when the caller looks."""
    work, started = Work(), []
    real_start, real_sleep = threading.Thread.start, time.sleep

    def start(thread: threading.Thread) -> None:
        work.threads.append(thread.name)
        started.append(thread)
        real_start(thread)

    def sleep(seconds: float) -> None:
        work.sleeps.append(seconds)
        real_sleep(seconds)

    def counted(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def hash_run(*args: Any, **kwargs: Any) -> Any:
            work.password_hashes.append(name)
            return run(*args, **kwargs)

        return hash_run

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading.Thread, "start", start)
        patch.setattr(time, "sleep", sleep)
        for hasher in get_hashers():  # the instances every password check and hash goes through
            for method in ("encode", "verify", "harden_runtime"):
                patch.setattr(
                    hasher, method, counted(f"{hasher.algorithm}.{method}", getattr(hasher, method))
                )
        try:
            yield work
        finally:
            for thread in started:
                thread.join(timeout=5)


def test_work_counted_sees_the_work_it_counts(owner: User) -> None:
    with work_counted() as work:
        owner.check_password("not the password")
        threading.Thread(target=time.sleep, args=(0,)).start()

    assert work.password_hashes
    assert work.sleeps == [0]
    assert len(work.threads) == 1


def assert_refused_everywhere(api: APIClient, token: str, *, endpoints: list[str] = ENDPOINTS) -> None:
    for endpoint in endpoints:
        with nothing_written():
            assert_invalid_token(present(Probe(token, endpoint), api))


def refresh_claims(user: User, **overrides: Any) -> dict[str, Any]:
    return claims_for(user, token_use="refresh", **overrides)


def hs256_by_hand(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """HS256 over exactly this header and payload: PyJWT refuses PEM and JWK text as HMAC secrets."""
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(payload))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def asymmetric_signing_key() -> SigningKey:
    key = key_ring().signing
    if key.is_hmac:
        pytest.skip("the service is configured with an HMAC key: there is no public key to confuse")
    return key


def test_hand_signed_hs256_is_accepted_under_an_hmac_key(
    api: APIClient, owner: User, settings: Any, tmp_path: Path
) -> None:
    # The baseline: were the service keyed with this secret, hs256_by_hand() would make a token
    # it accepts; so each refusal below is down to the secret, not to a faulty forgery.
    secret = "s" * 64
    settings.JWT_ALGORITHM, settings.JWT_SECRET = "HS256", secret
    settings.JWT_KEY_DIR, settings.JWT_PRIVATE_KEY_FILE = tmp_path / "jwt", None
    key_ring.cache_clear()
    try:
        token = hs256_by_hand(secret.encode(), our_header(), claims_for(owner))
        assert present(Probe(token), api).status_code == 200
        assert present(Probe(token, "verify"), api).status_code == 200
    finally:
        key_ring.cache_clear()  # the next test gets the ring of its own settings


# Algorithm confusion: HS256 keyed with our public key (RFC 8725 §2.1, §3.1).
# test_codec.py covers the PEM as written (SubjectPublicKeyInfo and PKCS#1); these are the
# other spellings of the same public key an attacker would try.


def public_pem_crlf() -> bytes:
    pem = asymmetric_signing_key().public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.replace(b"\n", b"\r\n")


def public_pem_without_final_newline() -> bytes:
    return (
        asymmetric_signing_key()
        .public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .rstrip(b"\n")
    )


def public_der_spki() -> bytes:
    return asymmetric_signing_key().public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_der_pkcs1() -> bytes:
    key = asymmetric_signing_key()
    if key.algorithm not in RSA_ALGORITHMS:
        pytest.skip("PKCS#1 is for RSA keys")
    return key.public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def published_jwks() -> tuple[bytes, dict[str, Any]]:
    """The body of /.well-known/jwks.json and, in it, the JWK of our signing key."""
    key = asymmetric_signing_key()
    response = APIClient().get("/.well-known/jwks.json")
    assert response.status_code == 200
    [jwk] = [jwk for jwk in response.json()["keys"] if jwk["kid"] == key.kid]
    return response.content, jwk


def published_jwk_text() -> bytes:
    body, jwk = published_jwks()
    text = json.dumps(jwk, separators=(",", ":"), ensure_ascii=False).encode()
    assert text in body  # byte for byte what is published
    return text


def published_jwk_spaced() -> bytes:
    return json.dumps(published_jwks()[1]).encode()


def published_jwks_document() -> bytes:
    return published_jwks()[0]


def pyjwt_jwk_text() -> bytes:
    key = asymmetric_signing_key()
    return jws_algorithm(key.algorithm).to_jwk(key.public).encode()


PUBLIC_KEY_SPELLINGS = {
    "pem-crlf": public_pem_crlf,
    "pem-without-final-newline": public_pem_without_final_newline,
    "der-spki": public_der_spki,
    "der-pkcs1": public_der_pkcs1,
    "jwk-as-published": published_jwk_text,
    "jwk-with-spaces": published_jwk_spaced,
    "jwks-document": published_jwks_document,
    "jwk-pyjwt": pyjwt_jwk_text,
}


@pytest.mark.parametrize("spelling", list(PUBLIC_KEY_SPELLINGS))
@pytest.mark.parametrize("kid", ["ours", "absent"])
def test_hmac_keyed_with_our_public_key_is_refused(
    api: APIClient, owner: User, spelling: str, kid: str
) -> None:
    # RFC 8725 §3.1: the algorithm is the key's, so our RSA public key is never an HMAC secret.
    secret = PUBLIC_KEY_SPELLINGS[spelling]()
    header = our_header(alg="HS256", kid=MISSING if kid == "absent" else key_ring().signing.kid)

    assert_refused_everywhere(
        api, hs256_by_hand(secret, header, claims_for(owner)), endpoints=["bearer", "verify"]
    )
    refresh_header = {**header, "typ": "refresh+jwt"}
    assert_refused_everywhere(
        api, hs256_by_hand(secret, refresh_header, refresh_claims(owner)), endpoints=["refresh", "logout"]
    )


# Weak HMAC secrets (RFC 8725 §3.5; RFC 7518 §3.2 asks for a key at least as long as the hash).


WEAK_SECRETS = ["", "secret", "password", "123456", "changeme", "your-256-bit-secret", "SECRET_KEY"]


@pytest.mark.parametrize("secret", WEAK_SECRETS, ids=lambda s: s or "empty")
@pytest.mark.parametrize("kid", ["ours", "absent"])
def test_hmac_signed_with_a_weak_secret_is_refused(
    api: APIClient, owner: User, secret: str, kid: str
) -> None:
    key = (settings.SECRET_KEY if secret == "SECRET_KEY" else secret).encode()
    header = our_header(alg="HS256", kid=MISSING if kid == "absent" else key_ring().signing.kid)

    assert_refused_everywhere(
        api, hs256_by_hand(key, header, claims_for(owner)), endpoints=["bearer", "verify"]
    )
    refresh_header = {**header, "typ": "refresh+jwt"}
    assert_refused_everywhere(
        api, hs256_by_hand(key, refresh_header, refresh_claims(owner)), endpoints=["refresh", "logout"]
    )


# The kid is looked up, never interpreted (RFC 7515 §4.1.4; RFC 8725 §3.10).


@pytest.mark.parametrize(
    "kid",
    [
        "' OR '1'='1",
        "1; DROP TABLE tokens_session;--",
        "x' UNION SELECT refresh_digest FROM tokens_session--",
    ],
)
def test_kid_of_sql_text_is_refused(api: APIClient, owner: User, kid: str) -> None:
    assert_refused_everywhere(api, forge(owner, headers={"kid": kid}), endpoints=["bearer", "verify"])
    refresh = forge(owner, headers={"kid": kid, "typ": "refresh+jwt"}, token_use="refresh")
    assert_refused_everywhere(api, refresh, endpoints=["refresh", "logout"])
    assert Session.objects.filter(user=owner).exists()  # the table is still there


def test_huge_kid_is_refused(api: APIClient, owner: User) -> None:
    # 100 KB of kid: refused by the 8 KB cap on tokens before anything looks at it.
    token = forge(owner, headers={"kid": "k" * 100_000})
    assert len(token) > 100_000

    with nothing_written():
        assert_invalid_token(present(Probe(token), api))


def test_kid_just_under_the_size_cap_is_refused(api: APIClient, owner: User) -> None:
    # Under the cap, the token is parsed and its kid looked up: unknown, so refused.
    base = len(forge(owner, headers={"kid": ""}))
    # Base64url turns every 3 bytes into 4 characters: fill what is left, with room to spare.
    token = forge(owner, headers={"kid": "k" * ((MAX_TOKEN_BYTES - base) * 3 // 4 - 8)})
    assert MAX_TOKEN_BYTES - 16 < len(token) <= MAX_TOKEN_BYTES

    assert_refused_everywhere(api, token, endpoints=["bearer", "verify"])


# Claims of the wrong JSON type (RFC 7519 §2: a NumericDate is a JSON number; §4.1.4-§4.1.6).
# test_codec.py refuses "soon", null, [1] and "NaN"; PyJWT int()s the time claims, so a string
# of digits or a boolean passes it, and tokens/codec.py refuses them itself.


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("exp", lambda now: str(now + 300), id="exp-digit-string"),
        pytest.param("exp", lambda now: f" {now + 300} ", id="exp-padded-digit-string"),
        pytest.param("nbf", lambda now: str(now), id="nbf-digit-string"),
        pytest.param("iat", lambda now: str(now), id="iat-digit-string"),
        pytest.param("nbf", lambda now: True, id="nbf-true"),
        pytest.param("iat", lambda now: True, id="iat-true"),
        pytest.param("exp", lambda now: True, id="exp-true"),  # int(True) is 1: refused as long expired
    ],
)
def test_time_claim_that_is_not_a_json_number_is_refused_every_time(
    api: APIClient, owner: User, claim: str, value: Callable[[int], Any]
) -> None:
    token = forge(owner, **{claim: value(int(time.time()))})

    for _ in range(2):  # the second time, the token is looked up among those already verified
        with nothing_written():
            assert_invalid_token(present(Probe(token), api))


# Headers that name the verification key are never followed (RFC 8725 §3.10; RFC 7515 §4.1.2,
# §4.1.3, §4.1.5): an attacker's key, at an attacker's URL, here a listener of ours.


@dataclass(frozen=True)
class Attacker:
    key: SigningKey
    jwk: dict[str, Any]
    certificate: bytes  # PEM, self-signed, for x5u


@pytest.fixture(scope="module")
def attacker() -> Attacker:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    algorithm = "RS256"
    jwk = get_default_algorithms()[algorithm].to_jwk(public, as_dict=True)
    kid = jwk_thumbprint(jwk)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.now(tz=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return Attacker(
        key=SigningKey(kid=kid, algorithm=algorithm, private=private, public=public),
        jwk={**jwk, "kid": kid, "alg": algorithm, "use": "sig"},
        certificate=certificate.public_bytes(serialization.Encoding.PEM),
    )


class Listener:
    """An HTTP server on 127.0.0.1 that serves the attacker's documents and records every request."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(f"{self.command} {self.path}")  # before answering
                body = documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            do_POST = do_HEAD = do_PUT = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01})
        self.thread.daemon = True

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def assert_untouched(self) -> None:
        """Called after a ``work_counted()`` block: any fetch started in it has been made."""
        assert self.requests == []


@pytest.fixture
def listener(attacker: Attacker) -> Iterator[Listener]:
    server = Listener(
        {
            "/jwks.json": json.dumps({"keys": [attacker.jwk]}).encode(),
            "/cert.pem": attacker.certificate,
        }
    )
    server.thread.start()
    try:
        # The listener answers and records, so a silent log below means nobody asked.
        assert server.get("/jwks.json") == 200
        assert server.requests == ["GET /jwks.json"]
        server.requests.clear()
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def key_locating_header(name: str, attacker: Attacker, listener: Listener) -> dict[str, Any]:
    return {
        "jwk": {"jwk": attacker.jwk},
        "jku": {"jku": f"{listener.url}/jwks.json"},
        "x5u": {"x5u": f"{listener.url}/cert.pem"},
    }[name]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", ["jwk", "jku", "x5u"])
@pytest.mark.parametrize("kid", ["theirs", "ours"])
def test_key_named_by_the_token_is_never_fetched_nor_trusted(
    api: APIClient, owner: User, attacker: Attacker, listener: Listener, endpoint: str, name: str, kid: str
) -> None:
    # RFC 8725 §3.10: signed by the attacker's key, which the header names or embeds.
    use = "refresh" if endpoint in ("refresh", "logout") else "access"
    header = our_header(
        alg=attacker.key.algorithm,
        kid=attacker.key.kid if kid == "theirs" else key_ring().signing.kid,
        typ="refresh+jwt" if use == "refresh" else "at+jwt",
        **key_locating_header(name, attacker, listener),
    )
    token = sign_by_hand(header, claims_for(owner, token_use=use), attacker.key)

    with nothing_written(), work_counted() as work:
        assert_invalid_token(present(Probe(token, endpoint), api))
    assert work.threads == []
    listener.assert_untouched()


# One kind of token never stands in for another (RFC 8725 §3.11). test_views.py has an access
# token at /auth/token/refresh/, test_codec.py a refresh token as Bearer to GET /tasks/.


def test_access_token_does_not_log_out(api: APIClient, owner: User) -> None:
    pair = token_pair_issue(user=owner)

    with nothing_written():
        assert_invalid_token(present(Probe(pair["access"], "logout"), api))
    assert get_tasks(f"Bearer {pair['access']}").status_code == 200  # its session lives on


def test_refresh_token_as_bearer_does_not_log_out_everywhere(api: APIClient, owner: User) -> None:
    pair = token_pair_issue(user=owner)
    client = api
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['refresh']}")

    with nothing_written():
        assert_invalid_token(client.post("/auth/logout-all/"))
    assert get_tasks(f"Bearer {pair['access']}").status_code == 200


# Every attack of the battery: a 401, quickly, and nothing written. The attacks above and a
# representative of each one tested elsewhere.


@dataclass(frozen=True)
class Context:
    user: User
    attacker: Attacker
    listener: Listener


ATTACKS: dict[str, Callable[[Context], Probe]] = {}


def attack(name: str) -> Callable[[Callable[[Context], Probe]], Callable[[Context], Probe]]:
    def register(forger: Callable[[Context], Probe]) -> Callable[[Context], Probe]:
        assert name not in ATTACKS
        ATTACKS[name] = forger
        return forger

    return register


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header))}.{b64(json.dumps(payload))}."


@attack("alg-none")
def _(c: Context) -> Probe:
    return Probe(unsigned(our_header(alg="none"), claims_for(c.user)))


@attack("alg-nOnE")
def _(c: Context) -> Probe:
    return Probe(unsigned(our_header(alg="nOnE"), claims_for(c.user)))


@attack("alg-none-at-refresh")
def _(c: Context) -> Probe:
    return Probe(unsigned(our_header(alg="none", typ="refresh+jwt"), refresh_claims(c.user)), "refresh")


def _confused(spelling: Callable[[], bytes]) -> Callable[[Context], Probe]:
    return lambda c: Probe(hs256_by_hand(spelling(), our_header(alg="HS256"), claims_for(c.user)))


def _public_pem() -> bytes:
    return asymmetric_signing_key().public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


attack("hs256-public-pem")(_confused(_public_pem))
attack("hs256-public-pem-crlf")(_confused(public_pem_crlf))
attack("hs256-public-der")(_confused(public_der_spki))
attack("hs256-public-jwk")(_confused(published_jwk_text))


@attack("hs256-public-pem-at-refresh")
def _(c: Context) -> Probe:
    header = our_header(alg="HS256", typ="refresh+jwt")
    return Probe(hs256_by_hand(_public_pem(), header, refresh_claims(c.user)), "refresh")


@attack("hs256-empty-secret")
def _(c: Context) -> Probe:
    return Probe(hs256_by_hand(b"", our_header(alg="HS256", kid=MISSING), claims_for(c.user)))


@attack("hs256-weak-secret")
def _(c: Context) -> Probe:
    return Probe(hs256_by_hand(b"your-256-bit-secret", our_header(alg="HS256"), claims_for(c.user)))


@attack("hs256-django-secret-key")
def _(c: Context) -> Probe:
    secret = settings.SECRET_KEY.encode()
    return Probe(hs256_by_hand(secret, our_header(alg="HS256"), claims_for(c.user)), "verify")


@attack("signature-stripped")
def _(c: Context) -> Probe:
    header, payload, _ = forge(c.user).split(".")
    return Probe(f"{header}.{payload}.")


@attack("signature-truncated")
def _(c: Context) -> Probe:
    return Probe(forge(c.user)[:-8])


@attack("signature-tampered")
def _(c: Context) -> Probe:
    header, payload, signature = forge(c.user).split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return Probe(f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}")


@attack("payload-tampered")
def _(c: Context) -> Probe:
    header, _, signature = forge(c.user).split(".")
    return Probe(f"{header}.{b64(json.dumps(claims_for(c.user, exp=int(time.time()) + 86400)))}.{signature}")


@attack("kid-path-traversal")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, headers={"kid": "../../../../etc/passwd"}))


@attack("kid-sql")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, headers={"kid": "1; DROP TABLE tokens_session;--"}))


@attack("kid-unknown")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, headers={"kid": "not-one-of-ours"}))


@attack("kid-huge")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, headers={"kid": "k" * 100_000}))


@attack("kid-just-under-the-cap")
def _(c: Context) -> Probe:
    base = len(forge(c.user, headers={"kid": ""}))
    return Probe(forge(c.user, headers={"kid": "k" * ((MAX_TOKEN_BYTES - base) * 3 // 4 - 8)}))


def _key_locating(name: str, endpoint: str) -> Callable[[Context], Probe]:
    def forger(c: Context) -> Probe:
        use = "refresh" if endpoint == "refresh" else "access"
        header = our_header(
            alg=c.attacker.key.algorithm,
            kid=c.attacker.key.kid,
            typ="refresh+jwt" if use == "refresh" else "at+jwt",
            **key_locating_header(name, c.attacker, c.listener),
        )
        return Probe(sign_by_hand(header, claims_for(c.user, token_use=use), c.attacker.key), endpoint)

    return forger


attack("embedded-jwk")(_key_locating("jwk", "bearer"))
attack("jku")(_key_locating("jku", "refresh"))
attack("x5u")(_key_locating("x5u", "verify"))


@attack("crit")
def _(c: Context) -> Probe:
    # RFC 7515 §4.1.11.
    return Probe(sign_by_hand(our_header(crit=["exp"], exp=1), claims_for(c.user)))


@attack("expired")
def _(c: Context) -> Probe:
    # RFC 7519 §4.1.4.
    exp = int(time.time()) - settings.JWT_LEEWAY - SLACK
    return Probe(forge(c.user, iat=exp - 300, nbf=exp - 300, exp=exp))


@attack("not-yet-valid")
def _(c: Context) -> Probe:
    # RFC 7519 §4.1.5.
    nbf = int(time.time()) + settings.JWT_LEEWAY + SLACK
    return Probe(forge(c.user, nbf=nbf, exp=nbf + 300))


@attack("aud-wrong")
def _(c: Context) -> Probe:
    # RFC 7519 §4.1.3, and the three below.
    return Probe(forge(c.user, aud="some-other-api"))


@attack("aud-missing")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, aud=MISSING))


@attack("aud-list")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, aud=[settings.JWT_AUDIENCE, "some-other-api"]))


@attack("iss-prefix-of-ours")
def _(c: Context) -> Probe:
    # RFC 7519 §4.1.1, and the one below.
    return Probe(forge(c.user, iss=settings.JWT_ISSUER[:-1]))


@attack("iss-superstring-of-ours")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, iss=settings.JWT_ISSUER + "-evil"))


@attack("exp-not-a-number")
def _(c: Context) -> Probe:
    # RFC 7519 §2: a NumericDate is a JSON number.
    return Probe(forge(c.user, exp="soon"))


@attack("exp-numeric-string")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, exp=str(int(time.time()) + 300)))


@attack("sub-a-number")
def _(c: Context) -> Probe:
    # RFC 7519 §4.1.2: a StringOrURI.
    return Probe(forge(c.user, sub=c.user.pk))


@attack("gen-a-string")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, gen=str(c.user.token_generation)))


@attack("jti-missing")
def _(c: Context) -> Probe:
    # RFC 7519 §4.1.7.
    return Probe(forge(c.user, jti=MISSING))


@attack("sid-missing")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, sid=MISSING))


@attack("refresh-as-access")
def _(c: Context) -> Probe:
    return Probe(token_pair_issue(user=c.user)["refresh"])


@attack("access-as-refresh")
def _(c: Context) -> Probe:
    return Probe(token_pair_issue(user=c.user)["access"], "refresh")


@attack("access-at-logout")
def _(c: Context) -> Probe:
    return Probe(token_pair_issue(user=c.user)["access"], "logout")


@attack("activation-as-access")
def _(c: Context) -> Probe:
    return Probe(activation_token_make(user=c.user))


@attack("activation-as-refresh")
def _(c: Context) -> Probe:
    return Probe(activation_token_make(user=c.user), "refresh")


@attack("deleted-user")
def _(c: Context) -> Probe:
    token = token_pair_issue(user=c.user)["access"]
    c.user.delete()
    return Probe(token)


@attack("deactivated-user")
def _(c: Context) -> Probe:
    token = token_pair_issue(user=c.user)["refresh"]
    c.user.is_active = False
    c.user.save(update_fields=["is_active"])
    return Probe(token, "refresh")


@attack("rotated-refresh-replayed")
def _(c: Context) -> Probe:
    # RFC 9700 §4.14.2: the replay revokes the session, and that is the one write allowed.
    spent = session_start(user=c.user)["refresh"]
    refresh_rotate(refresh=spent)
    sid = jwt.decode(spent, options={"verify_signature": False})["sid"]
    # Replayed once the retry window (JWT_REFRESH_RETRY_SECONDS) has passed.
    Session.objects.filter(pk=sid).update(
        rotated=F("rotated") - timedelta(seconds=settings.JWT_REFRESH_RETRY_SECONDS)
    )
    return Probe(spent, "refresh", revokes=sid)


@attack("oversized")
def _(c: Context) -> Probe:
    return Probe(forge(c.user, padding="x" * MAX_TOKEN_BYTES))


@attack("deeply-nested-header")
def _(c: Context) -> Probe:
    header = b64('{"alg":' + "[" * 3000 + "]" * 3000 + "}")
    return Probe(f"{header}.e30.")


def warm_up(api: APIClient, endpoint: str) -> None:
    """A refusal at the endpoint first, so the request timed is not the client's nor the process's first."""
    key_ring()
    present(Probe("a.b.c", endpoint), api)


@pytest.mark.parametrize("name", ATTACKS)
def test_every_attack_is_a_quick_401_that_writes_nothing(
    api: APIClient, owner: User, attacker: Attacker, listener: Listener, name: str
) -> None:
    probe = ATTACKS[name](Context(owner, attacker, listener))
    warm_up(api, probe.endpoint)

    with nothing_written(revokes=probe.revokes), work_counted() as work:
        response = present(probe, api)

    assert_invalid_token(response)  # RFC 6750 §3.1: a Bearer challenge, invalid_token, a JSON detail
    assert work == Work()  # no password hashed, no sleep, no background work
    listener.assert_untouched()


@pytest.mark.parametrize("endpoint", ["/auth/token/refresh/", "/auth/token/verify/", "/auth/logout/"])
def test_an_oversized_token_in_a_body_is_a_401(anon: APIClient, endpoint: str) -> None:
    field = "token" if endpoint.endswith("verify/") else "refresh"
    response = anon.post(endpoint, {field: "eyJ" + "A" * 20_000})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
