"""What every response carries: a request id, security headers, caching rules, CORS headers."""

import logging
import re

import pytest
from django.conf import settings
from django.http import HttpResponse
from pytest_django import DjangoAssertNumQueries, Settings
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from tokens.services import token_pair_issue
from users.models import User

pytestmark = pytest.mark.django_db

# A real token and a password that must never be written to a log.
SECRET_PASSWORD = "wrong-but-secret-password-1234"


def post_too_large(client: APIClient, **extra: str) -> HttpResponse:
    body = "x" * (settings.REQUEST_MAX_BYTES + 1)
    return client.post("/tasks/", data=body, content_type="application/json", **extra)


# Request ids


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", "/", 200), ("get", "/tasks/", 401), ("get", "/nowhere/", 404), ("get", "/healthz", 200)],
)
def test_every_response_has_a_fresh_request_id(anon: APIClient, method: str, path: str, status: int) -> None:
    first = getattr(anon, method)(path)
    second = getattr(anon, method)(path)
    assert first.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_response_made_before_the_view_has_a_request_id_too(anon: APIClient) -> None:
    response = post_too_large(anon)
    assert response.status_code == 413
    assert response["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming",
    ["0f3c2a9e-6b1d-4c4e-9a57-2f1e8d6b7c10", "Root=1-5759e988-bd862e3fe1be46a994272793", "a" * 64],
)
def test_a_well_formed_incoming_request_id_is_echoed(anon: APIClient, incoming: str) -> None:
    assert anon.get("/", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "a" * 65,  # too long
        "",
        "has space",
        "line\nbreak",
        '"quoted"',
        "<script>",
        "-starts-with-a-dash",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU",  # a token
    ],
)
def test_a_malformed_incoming_request_id_is_replaced(anon: APIClient, incoming: str) -> None:
    answered = anon.get("/", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"]
    assert answered != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_the_access_log_has_one_line_per_request_without_secrets(
    owner: User, owner_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        response = owner_client.get("/tasks/?search=hello", HTTP_X_REQUEST_ID="req-1")
    [record] = [r for r in caplog.records if r.name == "api.access"]
    assert record.request_id == "req-1"  # type: ignore[attr-defined]
    assert (record.method, record.path, record.status) == ("GET", "/tasks/", response.status_code)  # type: ignore[attr-defined]
    assert record.user_id == owner.pk  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert "hello" not in caplog.text


def test_the_middlewares_query_nothing_for_a_logged_in_caller(
    owner: User, caplog: pytest.LogCaptureFixture, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client = APIClient()
    client.force_login(owner)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(user=owner)['access']}")
    # healthz needs no user: neither the session nor the token is looked up, not even to
    # name the user in the access log.
    with caplog.at_level(logging.INFO, logger="api.access"), django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "api.access"]
    assert record.user_id is None  # type: ignore[attr-defined]


def test_the_access_log_escapes_control_characters_in_the_path(
    anon: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        anon.get("/nowhere%0A2026-01-01 INFO forged line/")
    [record] = [r for r in caplog.records if r.name == "api.access"]
    assert "\n" not in record.getMessage()
    assert "\\n" in record.path  # type: ignore[attr-defined]


def test_tokens_and_passwords_never_reach_the_logs(
    owner: User, anon: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    pair = token_pair_issue(user=owner)
    access, refresh = pair["access"], pair["refresh"]
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="api.access"):
        # A token in a query string, as some clients send it, and in the header.
        anon.get(f"/tasks/?access_token={access}", HTTP_AUTHORIZATION=f"Bearer {access}")
        anon.get(f"/users/me/?token={refresh}")
        # A failing login, with a token pasted as the password; a refused refresh and verify.
        assert (
            anon.post("/auth/token/", {"username": "owner", "password": SECRET_PASSWORD}).status_code == 401
        )
        assert anon.post("/auth/token/", {"username": "owner", "password": access}).status_code == 401
        assert anon.post("/auth/token/refresh/", {"refresh": access}).status_code == 401
        assert anon.post("/auth/token/verify/", {"token": access + "x"}).status_code == 401
        # A successful login answers tokens; they are in the body, not in the log.
        login = anon.post("/auth/token/", {"username": "owner", "password": PASSWORD})
        assert login.status_code == 200
    assert caplog.records  # the access log did write
    for secret in (
        access,
        refresh,
        SECRET_PASSWORD,
        PASSWORD,
        login.json()["access"],
        login.json()["refresh"],
    ):
        assert secret not in caplog.text
    assert "access_token" not in caplog.text


# Security headers


@pytest.mark.parametrize("path", ["/", "/tasks/", "/nowhere/", "/auth/token/"])
def test_security_headers_are_on_api_responses(owner_client: APIClient, path: str) -> None:
    response = owner_client.get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_hsts_without_behind_tls_even_on_a_secure_request(anon: APIClient) -> None:
    # The default settings (BEHIND_TLS unset); with it set, see tests/config/test_security.py.
    assert settings.SECURE_HSTS_SECONDS == 0
    assert "Strict-Transport-Security" not in anon.get("/", secure=True)


def test_hsts_is_sent_on_secure_requests_when_configured(anon: APIClient, settings: Settings) -> None:
    settings.SECURE_HSTS_SECONDS = 3600
    assert anon.get("/", secure=True)["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    assert "Strict-Transport-Security" not in anon.get("/")  # RFC 6797 §7.2: not over plain HTTP


# Caching


def test_bearer_authenticated_responses_are_not_stored(owner_client: APIClient) -> None:
    for path in ("/tasks/", "/users/me/", "/nowhere/"):
        response = owner_client.get(path)
        assert response["Cache-Control"] == "no-store", path
        assert "Authorization" in response["Vary"]


def test_a_refused_bearer_token_is_not_stored_either(anon: APIClient) -> None:
    response = anon.get("/tasks/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"


def test_session_authenticated_responses_are_not_stored(owner: User) -> None:
    client = APIClient()
    client.force_login(owner)
    response = client.get("/users/me/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_anonymous_reads_of_public_resources_are_left_cacheable(anon: APIClient) -> None:
    for path in ("/", "/healthz"):
        response = anon.get(path)
        assert "Cache-Control" not in response, path
        assert "Authorization" not in response.get("Vary", ""), path


def test_a_view_own_cache_control_is_kept_and_varies_on_authorization(owner_client: APIClient) -> None:
    response = owner_client.get("/.well-known/jwks.json")
    assert response["Cache-Control"].startswith("public, max-age=")  # the view's, not no-store
    assert "Authorization" in response["Vary"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/auth/token/", {"username": "owner", "password": PASSWORD}, 200),
        ("/auth/token/", {"username": "owner", "password": "wrong-password"}, 401),
        ("/auth/token/", {"username": "owner"}, 400),
        ("/auth/token/refresh/", {"refresh": "not-a-token"}, 401),
        ("/auth/token/refresh/", {}, 400),
        ("/auth/token/verify/", {"token": "not-a-token"}, 401),
        ("/auth/logout/", {"refresh": "not-a-token"}, 401),
    ],
)
def test_every_token_endpoint_answer_is_not_stored(
    owner: User, anon: APIClient, path: str, body: dict[str, str], status: int
) -> None:
    response = anon.post(path, body)
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"


def test_a_refreshed_and_a_verified_token_are_not_stored(owner: User, anon: APIClient) -> None:
    pair = token_pair_issue(user=owner)
    verified = anon.post("/auth/token/verify/", {"token": pair["access"]})
    refreshed = anon.post("/auth/token/refresh/", {"refresh": pair["refresh"]})
    assert (verified.status_code, refreshed.status_code) == (200, 200)
    assert verified["Cache-Control"] == refreshed["Cache-Control"] == "no-store"


# CORS

APP = "https://app.example.com"
CORS_MIDDLEWARE = "corsheaders.middleware.CorsMiddleware"


@pytest.fixture
def cors(settings: Settings) -> None:
    """CORS_ALLOWED_ORIGINS=https://app.example.com, as config/settings.py wires it."""
    assert CORS_MIDDLEWARE not in settings.MIDDLEWARE  # off by default
    security = settings.MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[: security + 1],
        CORS_MIDDLEWARE,
        *settings.MIDDLEWARE[security + 1 :],
    ]
    settings.CORS_ALLOWED_ORIGINS = [APP]


def test_cors_is_off_by_default(owner_client: APIClient) -> None:
    response = owner_client.get("/tasks/", HTTP_ORIGIN=APP)
    assert "Access-Control-Allow-Origin" not in response
    preflight = owner_client.options("/tasks/", HTTP_ORIGIN=APP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in preflight


@pytest.mark.usefixtures("cors")
def test_an_allowed_origin_gets_exactly_itself_without_credentials(owner_client: APIClient) -> None:
    response = owner_client.get("/tasks/", HTTP_ORIGIN=APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "Access-Control-Allow-Credentials" not in response
    assert "origin" in response["Vary"].lower()
    exposed = response["Access-Control-Expose-Headers"]
    assert "X-Request-ID" in exposed
    assert "Location" in exposed


@pytest.mark.usefixtures("cors")
@pytest.mark.parametrize(
    "origin",
    ["https://evil.example.com", "http://app.example.com", "https://app.example.com.evil.net", "null"],
)
def test_a_disallowed_origin_gets_no_cors_headers(owner_client: APIClient, origin: str) -> None:
    response = owner_client.get("/tasks/", HTTP_ORIGIN=origin)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    preflight = owner_client.options("/tasks/", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in preflight


@pytest.mark.usefixtures("cors")
def test_a_preflight_from_an_allowed_origin_permits_the_authorization_header(anon: APIClient) -> None:
    response = anon.options(
        "/tasks/",
        HTTP_ORIGIN=APP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    allowed_headers = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-request-id"} <= allowed_headers
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.usefixtures("cors")
def test_an_allowed_origin_can_read_a_refused_request(anon: APIClient) -> None:
    # A browser client must see the 401 and the 413 to act on them, not an opaque CORS failure.
    unauthorized = anon.get("/tasks/", HTTP_ORIGIN=APP)
    too_large = post_too_large(anon, HTTP_ORIGIN=APP)
    assert (unauthorized.status_code, too_large.status_code) == (401, 413)
    assert unauthorized["Access-Control-Allow-Origin"] == too_large["Access-Control-Allow-Origin"] == APP
