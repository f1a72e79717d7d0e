"""The OAuth 2.0 endpoints: form-encoded grants (RFC 6749), RFC 9068 access tokens,
introspection (RFC 7662), revocation (RFC 7009) and the server metadata (RFC 8414)."""

import base64
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from pytest_django import Settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers.accounts import PASSWORD
from tests.helpers.forgery import MISSING, forge
from tokens.clients import RegisteredClient, client_create
from tokens.keys import key_ring
from tokens.models import Session
from tokens.revocation import DEAD, session_key
from tokens.services import user_tokens_revoke
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def service() -> RegisteredClient:
    """A confidential client: another service."""
    return client_create(name="billing service", confidential=True)


@pytest.fixture
def app() -> RegisteredClient:
    """A public client: an app that cannot keep a secret."""
    return client_create(name="phone app", confidential=False)


def basic(client: RegisteredClient, secret: str | None = None) -> str:
    pair = f"{client.client_id}:{secret if secret is not None else client.client_secret}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def form_post(path: str, form: dict[str, Any], authorization: str = "") -> HttpResponse:
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return APIClient().generic(
        "POST", path, urlencode(form, doseq=True), content_type="application/x-www-form-urlencoded", **extra
    )


def password_grant(authorization: str = "", **form: Any) -> HttpResponse:
    return form_post(
        "/auth/token/",
        {"grant_type": "password", "username": "owner", "password": PASSWORD, **form},
        authorization,
    )


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def assert_oauth_error(response: HttpResponse, status: int, error: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


# Form-encoded grants (RFC 6749 §4.3, §6, §5)


def test_the_password_grant_issues_tokens_named_as_rfc_6749_names_them(
    owner: User, service: RegisteredClient
) -> None:
    response = password_grant(basic(service))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.JWT_ACCESS_TTL
    assert response.headers["Cache-Control"] == "no-store"
    assert claims(body["access_token"])["client_id"] == service.client_id
    assert Session.objects.get(user=owner).client_id == service.client_id
    tasks = APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert tasks.status_code == 200


def test_a_public_client_names_itself_and_no_client_means_the_first_party_one(
    owner: User, app: RegisteredClient
) -> None:
    named = password_grant(client_id=app.client_id).json()
    assert claims(named["access_token"])["client_id"] == app.client_id
    unnamed = password_grant().json()
    assert claims(unnamed["access_token"])["client_id"] == settings.DEFAULT_CLIENT_ID


def test_client_secret_post_works_like_basic(owner: User, service: RegisteredClient) -> None:
    response = password_grant(client_id=service.client_id, client_secret=service.client_secret)
    assert claims(response.json()["access_token"])["client_id"] == service.client_id


def test_the_refresh_token_grant_rotates_for_the_client_it_was_issued_to(
    owner: User, service: RegisteredClient, app: RegisteredClient
) -> None:
    first = password_grant(basic(service)).json()
    refreshed = form_post(
        "/auth/token/",
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        basic(service),
    )
    assert refreshed.status_code == 200, refreshed.content
    second = refreshed.json()
    assert claims(second["access_token"])["client_id"] == service.client_id
    assert second["refresh_token"] != first["refresh_token"]

    # RFC 6749 §6: a refresh token is bound to the client it was issued to.
    stolen = form_post(
        "/auth/token/",
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"], "client_id": app.client_id},
    )
    assert_oauth_error(stolen, 400, "invalid_grant")
    # Nor may the JSON endpoint, which speaks for the first-party client, use it.
    json_refresh = APIClient().post("/auth/token/refresh/", {"refresh": second["refresh_token"]})
    assert json_refresh.status_code == 401
    still = form_post(
        "/auth/token/",
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        basic(service),
    )
    assert still.status_code == 200, "a refusal for the wrong client must not spend the token"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "username": "owner", "password": "wrong"}, "invalid_grant"),
        ({"grant_type": "password", "username": "nobody", "password": PASSWORD}, "invalid_grant"),
        ({"grant_type": "password", "username": "owner"}, "invalid_request"),
        ({"grant_type": "password", "password": PASSWORD}, "invalid_request"),
        (
            {
                "grant_type": "password",
                "username": "owner",
                "password": PASSWORD,
                "scope": "x",
                "username ": "",
            },
            None,
        ),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "not.a.token"}, "invalid_grant"),
        (
            {"grant_type": ["password", "password"], "username": "owner", "password": PASSWORD},
            "invalid_request",
        ),
        ({"grant_type": "password", "username": ["owner", "other"], "password": PASSWORD}, "invalid_request"),
    ],
)
def test_grant_errors_are_rfc_6749_errors(owner: User, form: dict[str, Any], error: str | None) -> None:
    response = form_post("/auth/token/", form)
    if error is None:  # parameters a grant does not use are ignored (RFC 6749 §3.2)
        assert response.status_code == 200, response.content
        return
    assert_oauth_error(response, 400, error)
    assert not Session.objects.filter(user=owner).exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<root>grant_type</root>", "application/xml"),  # a string that contains the name
        ('"grant_type"', "application/json"),
        ('["grant_type"]', "application/json"),
        ('{"grant_type": {"a": 1}}', "application/json"),
        ('{"grant_type": "password", "username": ["owner"], "password": 5}', "application/json"),
        ("<root><grant_type>password</grant_type><username><a>1</a></username></root>", "application/xml"),
    ],
)
def test_a_grant_in_a_body_of_another_shape_gets_a_4xx(owner: User, body: str, content_type: str) -> None:
    response = APIClient().generic("POST", "/auth/token/", body, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert not Session.objects.exists()


def test_an_inactive_account_gets_invalid_grant(owner: User) -> None:
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert_oauth_error(password_grant(), 400, "invalid_grant")


def test_a_bad_client_gets_401_invalid_client_with_a_basic_challenge(
    owner: User, service: RegisteredClient
) -> None:
    response = password_grant(basic(service, "wrong"))
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    posted = password_grant(client_id=service.client_id, client_secret="wrong")
    assert_oauth_error(posted, 401, "invalid_client")
    assert not Session.objects.filter(user=owner).exists()


def test_the_password_grant_is_throttled_as_every_login_is(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "login_username", "2/min")
    assert password_grant().status_code == 200
    assert password_grant(password="wrong").status_code == 400
    throttled = password_grant()
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0


def test_the_json_login_keeps_working_beside_the_grants(owner: User) -> None:
    response = APIClient().post("/auth/token/", {"username": "owner", "password": PASSWORD})
    assert set(response.json()) == {"access", "refresh", "token_type", "expires_in"}


# RFC 9068, checked by another implementation


def test_access_tokens_meet_rfc_9068_by_an_independent_validator(
    owner: User, service: RegisteredClient
) -> None:
    class Validator(JWTBearerTokenValidator):  # type: ignore[misc]
        def get_jwks(self) -> dict[str, Any]:
            return key_ring().public_jwks()

    token = password_grant(basic(service)).json()["access_token"]
    validator = Validator(issuer=settings.JWT_ISSUER, resource_server=settings.JWT_AUDIENCE)
    verified = validator.authenticate_token(token)
    validator.validate_token(verified, scopes=None, request=None)
    assert verified["client_id"] == service.client_id
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    # The validator is not a rubber stamp: another audience fails it.
    strict = Validator(issuer=settings.JWT_ISSUER, resource_server="another-api")
    with pytest.raises(Exception, match="invalid_token"):
        strict.validate_token(strict.authenticate_token(token), scopes=None, request=None)


def test_an_access_token_without_client_id_is_refused(owner: User) -> None:
    response = APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {forge(owner, client_id=MISSING)}")
    assert response.status_code == 401
    assert "client_id" in response.json()["detail"]


# Introspection (RFC 7662)


def introspect(token: str, client: RegisteredClient, **form: Any) -> HttpResponse:
    return form_post("/auth/introspect/", {"token": token, **form}, basic(client))


def test_introspection_describes_a_live_access_token(owner: User, service: RegisteredClient) -> None:
    access = password_grant(basic(service)).json()["access_token"]
    answer = introspect(access, service)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    issued = claims(access)
    assert body == {
        "active": True,
        "client_id": service.client_id,
        "username": "owner",
        "token_type": "Bearer",
        **{name: issued[name] for name in ("sub", "iss", "aud", "exp", "iat", "nbf", "jti", "sid")},
    }


def test_introspection_describes_a_refresh_token_with_or_without_the_hint(
    owner: User, service: RegisteredClient
) -> None:
    refresh = password_grant(basic(service)).json()["refresh_token"]
    for hint in ({}, {"token_type_hint": "refresh_token"}, {"token_type_hint": "access_token"}):
        body = introspect(refresh, service, **hint).json()
        assert body["active"] is True
        assert body["jti"] == claims(refresh)["jti"]
        assert "token_type" not in body


def ended_by(event: str, owner: User, service: RegisteredClient, tokens: dict[str, Any]) -> None:
    if event == "logout":
        APIClient().post("/auth/logout/", {"refresh": tokens["refresh_token"]})
    elif event == "logout everywhere":
        APIClient().post("/auth/logout-all/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    elif event == "revoked":
        form_post("/auth/revoke/", {"token": tokens["refresh_token"]}, basic(service))
    elif event == "deactivated":
        owner.is_active = False
        owner.save()
    elif event == "password changed":
        owner.set_password("another-password-entirely")
        owner.save()
        user_tokens_revoke(user_id=owner.pk, reason=Session.Reason.PASSWORD)
    elif event == "user deleted":
        owner.delete()


@pytest.mark.parametrize(
    "event", ["logout", "logout everywhere", "revoked", "deactivated", "password changed", "user deleted"]
)
def test_introspection_reports_an_ended_token_inactive_at_once(
    event: str, owner: User, service: RegisteredClient
) -> None:
    tokens = password_grant(basic(service)).json()
    assert introspect(tokens["access_token"], service).json()["active"] is True
    ended_by(event, owner, service, tokens)
    assert introspect(tokens["access_token"], service).json() == {"active": False}
    assert introspect(tokens["refresh_token"], service).json() == {"active": False}


def test_introspection_reports_expired_foreign_and_garbage_tokens_inactive(
    owner: User, service: RegisteredClient
) -> None:
    now = int(time.time())
    for token in (
        forge(owner, exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        forge(owner, aud="another-api"),
        forge(owner, iss="someone-else"),
        "not-a-token",
        "a.b.c",
    ):
        assert introspect(token, service).json() == {"active": False}, token


def test_introspection_needs_a_confidential_client(
    owner: User, service: RegisteredClient, app: RegisteredClient
) -> None:
    access = password_grant(basic(service)).json()["access_token"]
    assert_oauth_error(form_post("/auth/introspect/", {"token": access}), 401, "invalid_client")
    assert_oauth_error(
        form_post("/auth/introspect/", {"token": access, "client_id": app.client_id}), 401, "invalid_client"
    )
    wrong = form_post("/auth/introspect/", {"token": access}, basic(service, "wrong"))
    assert_oauth_error(wrong, 401, "invalid_client")
    assert "active" not in wrong.json()
    bearer = form_post("/auth/introspect/", {"token": access}, f"Bearer {access}")
    assert_oauth_error(bearer, 401, "invalid_client")
    assert_oauth_error(form_post("/auth/introspect/", {}, basic(service)), 400, "invalid_request")


def test_introspection_asks_the_database_nothing_when_warm(
    owner: User, service: RegisteredClient, django_assert_num_queries: Any
) -> None:
    access = password_grant(basic(service)).json()["access_token"]
    introspect(access, service)
    with django_assert_num_queries(0):
        assert introspect(access, service).json()["active"] is True


def test_introspection_is_throttled_per_client(
    owner: User, service: RegisteredClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "introspection", "2/min")
    access = password_grant(basic(service)).json()["access_token"]
    assert introspect(access, service).status_code == 200
    assert introspect(access, service).status_code == 200
    refused = introspect(access, service)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    other = client_create(name="another service", confidential=True)
    assert introspect(access, other).status_code == 200


# Revocation (RFC 7009)


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_revoking_either_token_ends_its_session(kind: str, owner: User, service: RegisteredClient) -> None:
    tokens = password_grant(basic(service)).json()
    response = form_post("/auth/revoke/", {"token": tokens[kind], "token_type_hint": kind}, basic(service))
    assert response.status_code == 200
    assert response.content in (b"", b"null")
    assert (
        APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401
    )
    refreshed = form_post(
        "/auth/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        basic(service),
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")
    assert Session.objects.get(user=owner).revoked_reason == Session.Reason.REVOKED


def test_a_hint_we_do_not_know_is_ignored(owner: User, service: RegisteredClient) -> None:
    tokens = password_grant(basic(service)).json()
    assert introspect(tokens["access_token"], service, token_type_hint="id_token").json()["active"] is True
    form_post(
        "/auth/revoke/", {"token": tokens["refresh_token"], "token_type_hint": "id_token"}, basic(service)
    )
    assert Session.objects.get(user=owner).revoked is not None


def test_a_public_client_revokes_by_naming_itself(owner: User, app: RegisteredClient) -> None:
    tokens = password_grant(client_id=app.client_id).json()
    assert (
        form_post("/auth/revoke/", {"token": tokens["refresh_token"], "client_id": app.client_id}).status_code
        == 200
    )
    assert Session.objects.get(user=owner).revoked is not None


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "x" * 9000])
def test_revoking_a_bad_token_answers_200_and_tells_nothing(
    token: str, owner: User, service: RegisteredClient
) -> None:
    response = form_post("/auth/revoke/", {"token": token}, basic(service))
    assert response.status_code == 200


def test_a_client_cannot_revoke_another_clients_token(
    owner: User, service: RegisteredClient, app: RegisteredClient
) -> None:
    tokens = password_grant(basic(service)).json()
    response = form_post("/auth/revoke/", {"token": tokens["refresh_token"], "client_id": app.client_id})
    assert response.status_code == 200  # no oracle
    assert Session.objects.get(user=owner).revoked is None


def test_revocation_refuses_a_client_that_fails_to_authenticate(
    owner: User, service: RegisteredClient
) -> None:
    tokens = password_grant(basic(service)).json()
    response = form_post("/auth/revoke/", {"token": tokens["refresh_token"]}, basic(service, "wrong"))
    assert_oauth_error(response, 401, "invalid_client")
    assert Session.objects.get(user=owner).revoked is None


# Metadata (RFC 8414)


def test_metadata_names_every_endpoint_under_the_issuer(settings: Settings) -> None:
    settings.JWT_ISSUER = "https://tasks.example.com"
    response = APIClient().get("/.well-known/oauth-authorization-server", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]
    body = response.json()
    assert body["issuer"] == "https://tasks.example.com"
    assert body["jwks_uri"] == "https://tasks.example.com/.well-known/jwks.json"
    assert body["token_endpoint"] == "https://tasks.example.com/auth/token/"
    assert body["introspection_endpoint"] == "https://tasks.example.com/auth/introspect/"
    assert body["revocation_endpoint"] == "https://tasks.example.com/auth/revoke/"
    assert body["grant_types_supported"] == ["password", "refresh_token"]
    assert "client_secret_basic" in body["token_endpoint_auth_methods_supported"]
    assert body["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert body["dpop_signing_alg_values_supported"] == list(settings.DPOP_ALGORITHMS)
    assert not {"none", "HS256"} & set(body["dpop_signing_alg_values_supported"])


def test_metadata_with_a_plain_issuer_names_endpoints_where_it_was_asked(settings: Settings) -> None:
    settings.JWT_ISSUER = "taskservice"
    body = APIClient().get("/.well-known/oauth-authorization-server", HTTP_HOST="localhost").json()
    assert body["issuer"] == "taskservice"
    assert body["token_endpoint"] == "http://localhost/auth/token/"


@pytest.mark.redis
def test_introspection_sees_a_revocation_published_elsewhere_at_once(
    owner: User, service: RegisteredClient
) -> None:
    # Another worker or instance ended the session: Redis says so, this process's memo
    # (which the API reads for up to REVOCATION_LOCAL_TTL) does not know yet.
    tokens = password_grant(basic(service)).json()
    assert introspect(tokens["access_token"], service).json()["active"] is True
    assert (
        APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 200
    )
    cache.set(session_key(claims(tokens["access_token"])["sid"]), DEAD)
    assert introspect(tokens["access_token"], service).json() == {"active": False}
