"""The token endpoints: log in, refresh, verify, and the JWKS."""

import base64
import ipaddress
import json
import uuid
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.http import HttpResponse
from pytest_django import Settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers.accounts import PASSWORD
from tokens.keys import key_ring
from tokens.services import token_pair_issue
from users.models import User

pytestmark = pytest.mark.django_db


def login(client: APIClient, username: str, password: str = PASSWORD, **extra: Any) -> HttpResponse:
    return client.post("/auth/token/", {"username": username, "password": password}, **extra)


def unverified_claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def assert_invalid_token(response: HttpResponse) -> None:
    """RFC 6750 §3: a 401 with a Bearer challenge, and a JSON body."""
    assert response.status_code == 401, response.content
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["detail"]


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = unverified_claims(token)
    claims["sub"] = "1" + claims["sub"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert forged != payload
    return f"{header}.{forged}.{signature}"


def unique_address() -> str:
    """A client address no other test (or earlier run against a shared cache) has used."""
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


# POST /auth/token/


def test_login_issues_a_token_pair(owner: User, anon: APIClient) -> None:
    response = login(anon, "owner")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body.keys() == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.JWT_ACCESS_TTL
    # RFC 6749 §5.1: responses carrying tokens must not be cached.
    assert response.headers["Cache-Control"] == "no-store"


def test_login_access_token_carries_kid_type_and_every_claim(owner: User, anon: APIClient) -> None:
    body = login(anon, "owner").json()
    access, refresh = body["access"], body["refresh"]

    header = jwt.get_unverified_header(access)
    assert header["kid"] == key_ring().signing.kid
    assert header["typ"] == "at+jwt"  # RFC 9068 §2.1
    assert header["alg"] == key_ring().signing.algorithm
    claims = unverified_claims(access)
    assert {"iss", "aud", "sub", "exp", "nbf", "iat", "jti", "token_use"} <= claims.keys()
    assert claims["iss"] == settings.JWT_ISSUER
    assert claims["aud"] == settings.JWT_AUDIENCE
    assert claims["sub"] == str(owner.pk)
    assert claims["token_use"] == "access"
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == settings.JWT_ACCESS_TTL

    assert jwt.get_unverified_header(refresh)["typ"] == "refresh+jwt"
    refresh_claims = unverified_claims(refresh)
    assert refresh_claims["token_use"] == "refresh"
    assert refresh_claims["exp"] - refresh_claims["iat"] == settings.JWT_REFRESH_TTL
    assert refresh_claims["jti"] != claims["jti"]


def test_login_access_token_authenticates(owner: User, anon: APIClient) -> None:
    access = login(anon, "owner").json()["access"]

    response = APIClient().get("/users/me/", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 200
    assert response.json()["username"] == "owner"


def test_login_ignores_a_bad_authorization_header(owner: User, anon: APIClient) -> None:
    # The token endpoints take credentials from the body only: a stale token must not block a login.
    assert login(anon, "owner", HTTP_AUTHORIZATION="Bearer expired.or.garbage").status_code == 200


def test_login_refusals_are_indistinguishable(owner: User, anon: APIClient) -> None:
    User.objects.create_user(username="sleeper", password=PASSWORD, is_active=False)

    wrong_password = login(anon, "owner", "not-the-password")
    unknown_user = login(anon, "nobody")
    inactive_user = login(anon, "sleeper")

    for response in (wrong_password, unknown_user, inactive_user):
        assert_invalid_token(response)
        assert "access" not in response.json()
    assert wrong_password.json() == unknown_user.json() == inactive_user.json()


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({}, {"username", "password"}),
        ({"username": "owner"}, {"password"}),
        ({"password": PASSWORD}, {"username"}),
    ],
)
def test_login_without_a_field_names_it(
    owner: User, anon: APIClient, body: dict[str, str], missing: set[str]
) -> None:
    response = anon.post("/auth/token/", body)

    assert response.status_code == 400
    assert response.json().keys() == missing


def test_login_refuses_an_oversized_password_before_hashing_it(owner: User, anon: APIClient) -> None:
    # A megabyte password would make the (deliberately slow) hasher a denial-of-service lever.
    response = login(anon, "owner", "x" * 1025)

    assert response.status_code == 400
    assert "password" in response.json()


def test_login_with_argon2_hashes(settings: Settings, anon: APIClient) -> None:
    # The only test that pays for the real hasher (conftest swaps in a fast one).
    settings.PASSWORD_HASHERS = ["users.hashers.Argon2PasswordHasher"]
    user = User.objects.create_user(username="argon", password=PASSWORD)

    assert user.password.startswith("argon2")
    assert login(anon, "argon").status_code == 200
    assert login(anon, "argon", "not-the-password").status_code == 401


@pytest.fixture
def login_rate_3_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"login": "3/min", "login_username": "100000/min", "signup": "3/min"},
    )


@pytest.mark.usefixtures("login_rate_3_per_minute")
def test_login_is_throttled_per_client(owner: User, anon: APIClient) -> None:
    address = unique_address()
    for _ in range(3):
        assert login(anon, "owner", "wrong", REMOTE_ADDR=address).status_code == 401

    throttled = login(anon, "owner", REMOTE_ADDR=address)  # even the right password now waits

    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert throttled.json()["detail"]
    assert login(anon, "owner", REMOTE_ADDR=unique_address()).status_code == 200  # others are not held up


@pytest.mark.usefixtures("login_rate_3_per_minute")
def test_successful_logins_count_towards_the_throttle(owner: User, anon: APIClient) -> None:
    address = unique_address()
    for _ in range(3):
        assert login(anon, "owner", REMOTE_ADDR=address).status_code == 200

    assert login(anon, "owner", REMOTE_ADDR=address).status_code == 429


@pytest.mark.usefixtures("login_rate_3_per_minute")
def test_a_forged_x_forwarded_for_does_not_dodge_the_throttle(owner: User, anon: APIClient) -> None:
    # With no trusted proxy, a client-chosen X-Forwarded-For must not give it a fresh allowance.
    address = unique_address()
    for _ in range(3):
        login(anon, "owner", "wrong", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=unique_address())

    assert login(anon, "owner", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=unique_address()).status_code == 429


# POST /auth/token/refresh/


def test_refresh_issues_a_new_pair(owner: User, anon: APIClient) -> None:
    old = token_pair_issue(user=owner)

    response = anon.post("/auth/token/refresh/", {"refresh": old["refresh"]})

    assert response.status_code == 200, response.content
    assert response.headers["Cache-Control"] == "no-store"
    new = response.json()
    assert unverified_claims(new["refresh"])["jti"] != unverified_claims(old["refresh"])["jti"]
    assert unverified_claims(new["access"])["jti"] != unverified_claims(old["access"])["jti"]
    assert unverified_claims(new["access"])["sub"] == str(owner.pk)
    me = APIClient().get("/users/me/", HTTP_AUTHORIZATION=f"Bearer {new['access']}")
    assert me.status_code == 200


def test_refresh_refuses_an_access_token(owner: User, anon: APIClient) -> None:
    # RFC 8725 §3.11: one kind of token must not stand in for the other.
    access = token_pair_issue(user=owner)["access"]

    assert_invalid_token(anon.post("/auth/token/refresh/", {"refresh": access}))


def test_refresh_refuses_a_tampered_token(owner: User, anon: APIClient) -> None:
    refresh = token_pair_issue(user=owner)["refresh"]

    assert_invalid_token(anon.post("/auth/token/refresh/", {"refresh": tamper(refresh)}))


def test_refresh_refuses_the_token_of_a_deactivated_user(owner: User, anon: APIClient) -> None:
    refresh = token_pair_issue(user=owner)["refresh"]
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert_invalid_token(anon.post("/auth/token/refresh/", {"refresh": refresh}))


def test_refresh_without_a_token_names_the_field(anon: APIClient) -> None:
    response = anon.post("/auth/token/refresh/", {})

    assert response.status_code == 400
    assert "refresh" in response.json()


# POST /auth/token/verify/


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_verify_accepts_a_valid_token(owner: User, anon: APIClient, kind: str) -> None:
    token = token_pair_issue(user=owner)[kind]

    response = anon.post("/auth/token/verify/", {"token": token})

    assert response.status_code == 200, response.content
    assert response.json()["token_use"] == kind
    assert response.json()["sub"] == str(owner.pk)


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_verify_refuses_a_tampered_token(owner: User, anon: APIClient, kind: str) -> None:
    token = token_pair_issue(user=owner)[kind]

    assert_invalid_token(anon.post("/auth/token/verify/", {"token": tamper(token)}))


def test_verify_refuses_the_token_of_a_deleted_user(owner: User, anon: APIClient) -> None:
    token = token_pair_issue(user=owner)["access"]
    owner.delete()

    assert_invalid_token(anon.post("/auth/token/verify/", {"token": token}))


def test_verify_refuses_garbage(anon: APIClient) -> None:
    assert_invalid_token(anon.post("/auth/token/verify/", {"token": "a.b.c"}))


# GET /.well-known/jwks.json


def test_jwks_publishes_the_signing_key_to_anyone(anon: APIClient) -> None:
    response = anon.get("/.well-known/jwks.json", HTTP_AUTHORIZATION="Bearer garbage")

    assert response.status_code == 200
    kids = {jwk["kid"] for jwk in response.json()["keys"]}
    signing = key_ring().signing
    if signing.is_hmac:
        assert kids == set()
    else:
        assert signing.kid in kids
