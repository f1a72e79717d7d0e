"""Security Event Tokens (RFC 8417, CAEP 1.0), checked from the outside: with joserfc and the
JWKS we publish, never with our own verifier; and the RFC 8935 push request and answers."""

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from joserfc import jws
from joserfc.jwk import KeySet
from pytest_django import Settings
from rest_framework.test import APIClient

from tokens import codec
from tokens.clients import client_create, client_revoke
from tokens.codec import InvalidToken
from tokens.models import Client
from tokens.secevents import (
    EVENT_TYPES,
    event_receivers,
    push_answer_ok,
    push_answer_retryable,
    push_error,
    security_event,
    set_push_request,
)

pytestmark = pytest.mark.django_db

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"


def verified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``token``, verified by joserfc with our published JWKS."""
    published = APIClient().get("/.well-known/jwks.json").json()
    keys = KeySet.import_key_set(published)
    result = jws.deserialize_compact(token, keys, algorithms=[k["alg"] for k in published["keys"]])
    return result.headers(), json.loads(result.payload)


def revoked(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "kind": "session-revoked",
        "user_id": 7,
        "session_id": "6f1d3c1e-3b1a-4bb4-9f73-1a0f4c2c5e11",
        "reason": "logout",
        "audience": "client-1",
        **changes,
    }
    return security_event(**arguments)


def test_a_set_verifies_with_the_published_keys_and_is_typed(ring: Settings) -> None:
    header, claims = verified(revoked())
    assert header["typ"] == "secevent+jwt"  # RFC 8417 §2.3
    assert header["alg"] == ring.JWT_ALGORITHM
    assert set(header) == {"typ", "alg", "kid"}
    assert claims["iss"] == ring.JWT_ISSUER
    assert claims["aud"] == "client-1"
    assert isinstance(claims["iat"], int)
    assert len(claims["events"]) == 1  # RFC 8417 §2.2: one event per SET (SSF profile)


def test_a_set_has_no_exp_nor_sub(ring: Settings) -> None:
    # RFC 8417 §4.3: nothing that checks tokens must take a SET for one.
    _, claims = verified(revoked())
    assert "exp" not in claims
    assert "sub" not in claims
    assert "token_use" not in claims


@pytest.mark.parametrize("token_use", ["access", "refresh"])
def test_our_own_token_checks_refuse_a_set(ring: Settings, token_use: codec.TokenUse) -> None:
    with pytest.raises(InvalidToken, match=f"not an {token_use} token"):
        codec.decode(revoked(), token_use=token_use)


def test_every_set_has_its_own_jti(ring: Settings) -> None:
    ids = {verified(revoked())[1]["jti"] for _ in range(3)}
    assert len(ids) == 3


def test_a_given_jti_is_kept_so_every_delivery_attempt_is_one_set(ring: Settings) -> None:
    assert verified(revoked(jti="e-1"))[1]["jti"] == "e-1"


def test_session_revoked_names_the_user_and_the_session(ring: Settings) -> None:
    _, claims = verified(revoked(event_timestamp=1_800_000_000))
    assert claims["sub_id"] == {
        "format": "complex",
        "user": {"format": "opaque", "id": "7"},
        "session": {"format": "opaque", "id": "6f1d3c1e-3b1a-4bb4-9f73-1a0f4c2c5e11"},
    }
    assert claims["events"] == {
        SESSION_REVOKED: {
            "event_timestamp": 1_800_000_000,
            "initiating_entity": "user",
            "reason_admin": {"en": "The user logged out."},
        }
    }
    assert "txn" not in claims


def test_session_revoked_without_a_session_names_every_session_of_the_user(ring: Settings) -> None:
    _, claims = verified(revoked(session_id=None, reason="deactivated"))
    assert claims["sub_id"] == {"format": "complex", "user": {"format": "opaque", "id": "7"}}
    event = claims["events"][SESSION_REVOKED]
    assert event["initiating_entity"] == "admin"
    assert abs(event["event_timestamp"] - claims["iat"]) <= 1  # now, by default


def test_credential_change_is_a_password_update_of_the_user(ring: Settings) -> None:
    _, claims = verified(
        security_event(
            kind="credential-change",
            user_id=7,
            session_id=None,
            reason="password",
            audience="client-1",
            event_timestamp=1_800_000_000,
            txn="t-1",
        )
    )
    assert claims["sub_id"] == {"format": "complex", "user": {"format": "opaque", "id": "7"}}
    assert claims["txn"] == "t-1"
    assert claims["events"] == {
        CREDENTIAL_CHANGE: {
            "event_timestamp": 1_800_000_000,
            "initiating_entity": "user",
            "reason_admin": {"en": "The password changed."},
            "credential_type": "password",  # CAEP §3.3: required
            "change_type": "update",
        }
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "session-ended"}, "unknown security event"),
        ({"reason": "because"}, "unknown reason"),
        ({"kind": "credential-change", "reason": "password"}, "not a session"),  # with a session
    ],
)
def test_an_event_we_do_not_define_is_a_programming_error(
    ring: Settings, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        revoked(**changes)


def test_the_event_types_are_caeps() -> None:
    assert EVENT_TYPES == {"session-revoked": SESSION_REVOKED, "credential-change": CREDENTIAL_CHANGE}


def test_the_push_request_is_rfc_8935s(ring: Settings) -> None:
    token = revoked()
    body, headers = set_push_request(token)
    assert body == token.encode()
    assert headers == {"Content-Type": "application/secevent+jwt", "Accept": "application/json"}


def err(code: str) -> bytes:
    return json.dumps({"err": code, "description": "no"}).encode()


@pytest.mark.parametrize(
    ("status", "body", "ok", "retry"),
    [
        (202, b"", True, False),
        (200, b"{}", True, False),
        (400, err("invalid_key"), False, True),  # the receiver's keys may lag a rotation
        (400, err("invalid_request"), False, False),
        (400, err("invalid_audience"), False, False),
        (400, err("invalid_issuer"), False, False),
        (400, err("authentication_failed"), False, False),
        (400, err("access_denied"), False, False),
        (400, b"not json", False, False),
        (400, b'["invalid_key"]', False, False),
        (401, b"", False, False),
        (403, b"", False, False),
        (404, b"", False, False),
        (429, b"", False, True),
        (500, b"", False, True),
        (503, b"", False, True),
    ],
)
def test_push_answers(status: int, body: bytes, ok: bool, retry: bool) -> None:
    assert push_answer_ok(status, body) is ok
    assert push_answer_retryable(status, body) is retry


def test_push_error_reads_the_err_code() -> None:
    assert push_error(400, err("invalid_key")) == "invalid_key"
    assert push_error(400, b'{"err": 1}') is None
    assert push_error(500, err("invalid_key")) is None


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_client_registers_an_events_url_and_list_clients_shows_it() -> None:
    url = "https://rs.example/events?tenant=1"
    answer = json.loads(command("create_client", "resource server", "--confidential", "--events-url", url))
    assert Client.objects.get(pk=answer["client_id"]).events_url == url
    listed = [json.loads(line) for line in command("list_clients").splitlines()]
    assert [entry["events_url"] for entry in listed] == [url]


def test_a_client_without_an_events_url_has_none() -> None:
    answer = json.loads(command("create_client", "resource server", "--confidential"))
    assert Client.objects.get(pk=answer["client_id"]).events_url == ""
    assert json.loads(command("list_clients"))["events_url"] is None


def test_only_a_confidential_client_gets_events() -> None:
    with pytest.raises(CommandError, match="--confidential"):
        command("create_client", "app", "--events-url", "https://rs.example/events")
    assert not Client.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/events",
        "rs.example/events",
        "ftp://rs.example/events",
        "javascript:alert(1)",
        "https://user:pass@rs.example/events",
        "https://user@rs.example/events",
        "https://rs.example/events#frag",
        "https://rs.example/" + "e" * 2000,
        "https:///events",
    ],
)
def test_a_bad_events_url_is_refused(url: str) -> None:
    with pytest.raises(CommandError, match="--events-url"):
        command("create_client", "rs", "--confidential", "--events-url", url)
    assert not Client.objects.exists()


def test_events_go_to_live_confidential_clients_with_an_events_url() -> None:
    first = client_create(name="rs 1", confidential=True).client_id
    second = client_create(name="rs 2", confidential=True).client_id
    gone = client_create(name="rs 3", confidential=True).client_id
    client_create(name="no url", confidential=True)
    public = client_create(name="app", confidential=False).client_id
    for client_id in (first, second, gone, public):
        # A public client cannot register one (create_client); were one set, it is ignored.
        Client.objects.filter(pk=client_id).update(events_url=f"https://{client_id}.example/events")
    client_revoke(client_id=gone)
    assert event_receivers() == [
        (first, f"https://{first}.example/events"),
        (second, f"https://{second}.example/events"),
    ]
