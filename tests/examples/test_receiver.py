"""The verifier as an RFC 8935 receiver of the task service's security events.

The SETs are made by tokens.secevents and the access tokens by tokens.codec, both with a key
ring of the test's own, whose public keys the verifier fetches (an httpx mock transport) as
it would from the task service's /.well-known/jwks.json.
"""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from pytest_django import Settings as DjangoSettings

from examples.verifier.app import Settings, create_app
from examples.verifier.events import (
    EndedAccess,
    EventReceiver,
    EventsUnavailable,
    EventVerifier,
    SecurityEvent,
)
from examples.verifier.jwks import JwksCache
from tests.helpers.jose import hs256_with_public_key, parts, unsigned, with_signature_flipped
from tokens import codec
from tokens.keys import key_ring
from tokens.secevents import security_event, set_push_request

ISSUER_URL = "https://issuer.example"
CLIENT_ID = "verifier-client"
USER, OTHER_USER = 7, 8


@pytest.fixture(autouse=True)
def ring(settings: DjangoSettings, tmp_path: Path) -> Iterator[None]:
    settings.JWT_KEY_DIR = tmp_path / "jwt"
    settings.JWT_SECRET = ""
    settings.JWT_PRIVATE_KEY_FILE = None
    settings.JWT_ALGORITHM = "RS256"
    key_ring.cache_clear()
    yield
    key_ring.cache_clear()


def keys() -> JwksCache:
    return JwksCache(
        ISSUER_URL + "/.well-known/jwks.json",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=key_ring().public_jwks())),
    )


@pytest.fixture
def ended() -> EndedAccess:
    return EndedAccess()


@pytest.fixture
def client(ended: EndedAccess) -> FlaskClient:
    cache = keys()
    receiver = EventReceiver(
        verifier=EventVerifier(keys=cache, issuer="taskservice", audience=CLIENT_ID), ended=ended
    )
    return create_app(Settings(issuer_url=ISSUER_URL), keys=cache, events=receiver).test_client()


def access(*, user: int = USER, session: str | None = None, **claims: Any) -> str:
    extra = {"sid": session or str(uuid.uuid4()), "gen": 0, "client_id": "app", **claims}
    return codec.encode(user_id=user, token_use="access", ttl=300, extra=extra).token


def whoami(client: FlaskClient, token: str) -> int:
    return client.get("/whoami", headers={"Authorization": f"Bearer {token}"}).status_code


def push(client: FlaskClient, token: str, content_type: str | None = None) -> Any:
    body, headers = set_push_request(token)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post("/events", data=body, headers=headers)


def revoked(session: str | None, **changes: Any) -> str:
    arguments: dict[str, Any] = {
        "kind": "session-revoked",
        "user_id": USER,
        "session_id": session,
        "reason": "logout",
        "audience": CLIENT_ID,
        **changes,
    }
    return security_event(**arguments)


def signed(header: dict[str, Any], claims: dict[str, Any], private: Any = None, alg: str = "RS256") -> str:
    return jwt.encode(claims, private or key_ring().signing.private, algorithm=alg, headers=header)


def test_a_session_revoked_set_ends_that_session_only(client: FlaskClient) -> None:
    session, other = str(uuid.uuid4()), str(uuid.uuid4())
    token, kept, others = access(session=session), access(session=other), access(user=OTHER_USER)
    assert whoami(client, token) == 200

    answer = push(client, revoked(session))
    assert (answer.status_code, answer.data) == (202, b"")

    refused = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert refused.json == {"detail": "The token's session has ended."}
    assert whoami(client, access(session=session)) == 401  # any token of the session
    assert whoami(client, kept) == 200  # the same user's other session
    assert whoami(client, others) == 200


def test_a_replayed_set_is_accepted_again_and_changes_nothing(
    client: FlaskClient, ended: EndedAccess
) -> None:
    session = str(uuid.uuid4())
    event = revoked(session)
    assert push(client, event).status_code == 202
    assert push(client, event).status_code == 202
    assert len(ended) == 1
    assert whoami(client, access(session=session)) == 401
    assert whoami(client, access()) == 200


def test_a_credential_change_ends_the_users_older_tokens_only(client: FlaskClient) -> None:
    now = int(time.time())
    older, at_the_change, newer = (access(iat=now - 60), access(iat=now - 10), access(iat=now + 1))
    others = access(user=OTHER_USER, iat=now - 60)
    event = security_event(
        kind="credential-change",
        user_id=USER,
        session_id=None,
        reason="password",
        audience=CLIENT_ID,
        event_timestamp=now - 10,
    )
    assert push(client, event).status_code == 202
    assert whoami(client, older) == 401
    assert whoami(client, at_the_change) == 401  # iat <= event_timestamp
    assert whoami(client, newer) == 200  # a login after the change
    assert whoami(client, others) == 200


def test_a_session_revoked_naming_the_user_alone_ends_every_older_session(client: FlaskClient) -> None:
    now = int(time.time())
    first, second = access(iat=now - 5), access(iat=now - 5)
    assert push(client, revoked(None, reason="deactivated", event_timestamp=now - 1)).status_code == 202
    assert (whoami(client, first), whoami(client, second)) == (401, 401)
    assert whoami(client, access(iat=now + 1)) == 200


def public_pem() -> bytes:
    return bytes(
        key_ring().signing.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def credential_change() -> str:
    return security_event(
        kind="credential-change", user_id=USER, session_id=None, reason="password", audience=CLIENT_ID
    )


def other_key_same_kid() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header, claims, _ = parts(revoked("s"))
    return signed(header, claims, private=key)


def retyped(typ: Any) -> str:
    header, claims, _ = parts(revoked("s"))
    return signed({**header, "typ": typ}, claims)


def with_claims(**changes: Any) -> str:
    header, claims, _ = parts(revoked("s"))
    return signed(header, {**claims, **changes})


REFUSED = {
    "signature changed": (lambda: with_signature_flipped(revoked("s")), "authentication_failed"),
    "another key under our kid": (other_key_same_kid, "authentication_failed"),
    "unsigned": (lambda: unsigned(revoked("s")), "invalid_key"),
    "HS256 keyed with the public key": (
        lambda: hs256_with_public_key(revoked("s"), public_pem()),
        "invalid_key",
    ),
    "an unknown kid": (
        lambda: signed({**parts(revoked("s"))[0], "kid": "nope"}, parts(revoked("s"))[1]),
        "invalid_key",
    ),
    "for another client": (lambda: revoked("s", audience="another-client"), "invalid_audience"),
    "from another issuer": (lambda: with_claims(iss="elsewhere"), "invalid_issuer"),
    "an access token": (lambda: access(), "invalid_request"),
    "typed JWT": (lambda: retyped("JWT"), "invalid_request"),
    "untyped": (lambda: retyped(None), "invalid_request"),
    "no jti": (lambda: with_claims(jti=None), "invalid_request"),
    "an unknown event type": (
        lambda: with_claims(events={"https://schemas.openid.net/secevent/caep/event-type/other": {}}),
        "invalid_request",
    ),
    "two events": (
        lambda: with_claims(
            events={**parts(revoked("s"))[1]["events"], **parts(credential_change())[1]["events"]}
        ),
        "invalid_request",
    ),
    "no user in sub_id": (
        lambda: with_claims(sub_id={"format": "complex", "session": {"format": "opaque", "id": "s"}}),
        "invalid_request",
    ),
    "an event_timestamp that is not a number": (
        lambda: with_claims(events={next(iter(parts(revoked("s"))[1]["events"])): {"event_timestamp": "1"}}),
        "invalid_request",
    ),
    "not a JWT": (lambda: "not.a.jwt", "invalid_request"),
}


@pytest.mark.parametrize(("forge", "err"), REFUSED.values(), ids=REFUSED.keys())
def test_a_forged_or_misdirected_set_is_refused_with_its_err(
    client: FlaskClient, ended: EndedAccess, forge: Any, err: str
) -> None:
    answer = push(client, forge())
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["err"] == err
    assert answer.json["description"]
    assert len(ended) == 0


@pytest.mark.parametrize("content_type", ["application/json", "application/jwt", "text/plain"])
def test_a_set_must_come_as_its_media_type(client: FlaskClient, content_type: str) -> None:
    answer = push(client, revoked("s"), content_type=content_type)
    assert (answer.status_code, answer.json) == (
        400,
        {"err": "invalid_request", "description": "The body must be application/secevent+jwt."},
    )


def test_a_body_that_is_not_ascii_is_refused(client: FlaskClient) -> None:
    answer = client.post("/events", data="é".encode(), headers={"Content-Type": "application/secevent+jwt"})
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["err"] == "invalid_request"


def test_the_endpoint_is_at_the_configured_path_and_needs_a_client_id() -> None:
    configured = Settings(issuer_url=ISSUER_URL, client_id=CLIENT_ID, client_secret="s", events_path="/caep")
    client = create_app(configured, keys=keys()).test_client()
    body, headers = set_push_request(revoked("s"))
    assert client.post("/caep", data=body, headers=headers).status_code == 202
    assert client.post("/events", data=body, headers=headers).status_code == 404
    without = create_app(Settings(issuer_url=ISSUER_URL), keys=keys()).test_client()
    assert without.post("/events", data=body, headers=headers).status_code == 404


@pytest.mark.parametrize("path", ["events", "/e?x=1", "/e#f", "/é"])
def test_a_malformed_events_path_fails_at_start(path: str) -> None:
    with pytest.raises(ValueError, match="VERIFIER_EVENTS_PATH"):
        Settings(events_path=path)


def test_the_events_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"VERIFIER_EVENTS_PATH": "/ssf/push", "TASKS_EVENTS_RETAIN": "600"})
    assert (settings.events_path, settings.events_retain) == ("/ssf/push", 600.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def event(session: str | None, *, user: str = "7", at: float = 1_800_000_000.0) -> SecurityEvent:
    kind = "session-revoked"
    return SecurityEvent(jti=uuid.uuid4().hex, kind=kind, user=user, session=session, timestamp=at)


def test_ended_access_is_bounded_and_never_forgets_a_live_entry() -> None:
    clock = Clock()
    ended = EndedAccess(retain=300, max_entries=2, clock=clock)
    ended.record(event("a"))
    ended.record(event(None, user="9"))
    ended.record(event("a"))  # already known: no room needed
    with pytest.raises(EventsUnavailable):
        ended.record(event("b"))
    assert ended.refuses({"sid": "a", "sub": "7", "iat": 0})
    clock.now += 301  # every token these refused has expired by now
    assert not ended.refuses({"sid": "a", "sub": "7", "iat": 0})
    ended.record(event("b", at=clock.now))
    assert len(ended) == 1
    assert ended.refuses({"sid": "b", "sub": "7", "iat": 0})


def test_a_full_store_answers_503_so_the_transmitter_retries(ended: EndedAccess) -> None:
    cache = keys()
    receiver = EventReceiver(
        verifier=EventVerifier(keys=cache, issuer="taskservice", audience=CLIENT_ID),
        ended=EndedAccess(max_entries=1),
    )
    client = create_app(Settings(issuer_url=ISSUER_URL), keys=cache, events=receiver).test_client()
    assert push(client, revoked("a")).status_code == 202
    answer = push(client, revoked("b"))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"


def test_a_set_is_never_taken_for_an_access_token(client: FlaskClient) -> None:
    answer = client.get("/whoami", headers={"Authorization": f"Bearer {revoked('s')}"})
    assert answer.status_code == 401
    assert answer.json == {"detail": "This is not an access token."}


def test_an_oversized_body_is_refused_unread(client: FlaskClient) -> None:
    token = with_claims(padding="x" * 20_000)
    answer = push(client, token)
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["err"] == "invalid_request"
