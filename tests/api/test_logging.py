"""Logs: one JSON object per line, each with its request's id, and never a token."""

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.test import APIClient

from api.logging import JsonFormatter, PlainFormatter, RedactFilter, RequestIdFilter, redact
from tests.helpers.linear import assert_linear
from tests.helpers.processes import RunDjango
from users.models import User

# An access token as this service makes them (header, claims, signature), and an encrypted one.
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0"
    ".eyJzdWIiOiIxIiwiZXhwIjoxNzAwMDAwMDAwfQ"
    ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJl"
)
JWE = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZc.48V1_ALb6US04U3b.5eym8TW_c8SuK.XFBoMYUZodetZdvTiFvSkQ"
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def console() -> Iterator[Lines]:
    """What the configured console handler writes, as JSON objects, whatever LOG_FORMAT says."""
    [handler] = [h for h in logging.getLogger().handlers if h.name == "console"]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(stream), handler.formatter
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("api.access")
    previous_level = access.level
    access.setLevel(logging.INFO)  # as ACCESS_LOG=true sets it
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setStream(previous_stream)
        handler.setFormatter(previous_formatter)
        access.setLevel(previous_level)


def test_the_access_log_is_off_unless_asked_for(run_django: RunDjango) -> None:
    code = "import logging, django; django.setup(); print(logging.getLogger('api.access').isEnabledFor(logging.INFO))"
    assert run_django("-c", code, SECRET_KEY="k" * 50).stdout.split() == ["False"]
    assert run_django("-c", code, SECRET_KEY="k" * 50, ACCESS_LOG="true").stdout.split() == ["True"]


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "api.access"]


@pytest.mark.django_db
def test_a_request_writes_one_json_access_line(owner: User, owner_client: APIClient, console: Lines) -> None:
    response = owner_client.get("/tasks/?search=private+words", HTTP_X_REQUEST_ID="trace-42")
    [line] = access_lines(console())
    assert line["request_id"] == response["X-Request-ID"] == "trace-42"
    assert line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/tasks/", 200)
    assert line["user_id"] == owner.pk
    assert isinstance(line["duration_ms"], float)
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None
    assert "private" not in json.dumps(line)


@pytest.mark.django_db
def test_every_line_written_during_a_request_carries_its_id(anon: APIClient, console: Lines) -> None:
    # Django's own security logger speaks up inside the request about a forged Host.
    response = anon.get("/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    lines = console()
    assert {line["logger"] for line in lines} == {"django.security.DisallowedHost", "api.access"}
    assert {line["request_id"] for line in lines} == {response["X-Request-ID"]}


def test_a_line_outside_any_request_says_so(console: Lines) -> None:
    logging.getLogger("tests").warning("starting")
    [line] = console()
    assert line["request_id"] == "-"
    assert line["message"] == "starting"


def test_tokens_are_redacted_from_messages_extras_and_tracebacks(console: Lines) -> None:
    log = logging.getLogger("tests")
    log.warning("fetched %s", f"https://api.example.com/tasks/?access_token={JWT}")
    log.warning("header was %(header)s", {"header": f"Bearer {JWT}"})
    log.warning("opaque Authorization: bearer abc123.opaque/token=")
    log.warning("encrypted %s", JWE)
    log.warning("with extras", extra={"url": f"/x?t={JWT}"})
    try:
        raise ValueError(f"cannot parse {JWT}")
    except ValueError:
        log.exception("failed")
    written = json.dumps(console())
    for secret in (JWT, JWT.split(".")[1], JWE.split(".")[4], "abc123.opaque/token="):
        assert secret not in written
    assert written.count("[redacted jwt]") == 5
    assert "bearer [redacted]" in written


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_server_error_is_logged_without_the_query_string(anon: APIClient, console: Lines) -> None:
    anon.raise_request_exception = False
    response = anon.get("/boom/?api_key=opaque-secret-value")
    assert response.status_code == 500
    lines = console()
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert "RuntimeError" in error["exc_info"]
    assert error["request_id"] == response["X-Request-ID"]
    assert "opaque-secret-value" not in json.dumps(lines)


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {JWT} end", "token [redacted jwt] end"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "[redacted jwt]"),  # unsigned: still a token
        ("Authorization: BEARER abc-def", "Authorization: BEARER [redacted]"),
        ("Authorization: DPoP abc-def", "Authorization: DPoP [redacted]"),
        ("Authorization: Basic Y2xpZW50OnNlY3JldA==", "Authorization: Basic [redacted]"),  # client:secret
        ("the keyJar and eyJustText are not tokens", "the keyJar and eyJustText are not tokens"),
        ("GET /tasks/1/ 200 3.1ms", "GET /tasks/1/ 200 3.1ms"),
        (  # a calendar feed's URL is its secret
            "GET /tasks/feed/A_BoXsjJ_2nHC0yINsMeatBIhjW6y4E3b8Qs-ZWF0GA.ics 200",
            "GET /tasks/feed/[redacted] 200",
        ),
        ("GET /tasks/feeds/3/ 200", "GET /tasks/feeds/3/ 200"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A token glued to what came before it is still redacted, from the start of its run.
        (f"id-{JWT}", "[redacted jwt]"),
        (f"abc.x{JWT}", "abc.[redacted jwt]"),
        (f"'{JWT}'", "'[redacted jwt]'"),
        ("eyJa.eyJb", "eyJa.eyJb"),  # two segments are not a JWS
        ("Bearer " + " " * 10 + "!", "Bearer " + " " * 10 + "!"),
    ],
)
def test_redact_at_run_boundaries(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(lambda n: "eyJ" * n, id="eyJ repeated"),
        pytest.param(lambda n: "-eyJ" * n, id="eyJ inside one long run"),
        pytest.param(lambda n: "eyJ." * n, id="eyJ and dots"),
        pytest.param(lambda n: "eyJa.b " * n, id="two-segment near misses"),
        pytest.param(lambda n: "Bearer " + " " * (3 * n) + "!", id="bearer and spaces"),
        pytest.param(lambda n: "Bearer\t" * n, id="bearer repeated"),
        pytest.param(lambda n: "/tasks/feed/" * n, id="feed paths"),
    ],
)
def test_redaction_takes_time_linear_in_hostile_text(hostile: Callable[[int], str]) -> None:
    # 16 KB against 64 KB: quadratic redaction took 0.5 s and 8 s on these.
    assert_linear(redact, hostile, count=16_000 // len(hostile(1)))


@pytest.mark.django_db
def test_a_long_token_like_host_is_answered_in_linear_time(anon: APIClient, console: Lines) -> None:
    # Django logs a disallowed Host at ERROR, whole; 30 KB of "eyJ" once took 5 s to answer.
    def request(host: str) -> None:
        assert anon.get("/", HTTP_HOST=host).status_code == 400

    assert_linear(request, lambda n: "eyJ" * n, count=2_500)
    assert any(line["logger"] == "django.security.DisallowedHost" for line in console())


@pytest.mark.django_db
def test_a_long_token_like_path_is_answered_in_linear_time(anon: APIClient, console: Lines) -> None:
    def request(path: str) -> None:
        assert anon.get(path).status_code == 404

    assert_linear(request, lambda n: "/" + "eyJ" * n, count=2_500)
    assert access_lines(console())


def test_the_plain_format_has_the_request_id_and_redacts_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PlainFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactFilter())
    record = logging.LogRecord("tests", logging.INFO, __file__, 1, "got %s", (JWT,), None)
    handler.handle(record)
    line = stream.getvalue()
    assert " INFO tests [-] got [redacted jwt]" in line
    assert JWT not in line


@pytest.mark.parametrize(
    ("env", "formatter"),
    [
        ({}, "JsonFormatter"),
        ({"DEBUG": "true"}, "PlainFormatter"),
        ({"DEBUG": "true", "LOG_FORMAT": "json"}, "JsonFormatter"),
        ({"LOG_FORMAT": "plain"}, "PlainFormatter"),
    ],
)
def test_log_format_is_json_unless_debugging_or_asked(
    run_django: RunDjango, env: dict[str, str], formatter: str
) -> None:
    code = "import django, logging; django.setup(); print(type(logging.getLogger().handlers[0].formatter).__name__)"
    result = run_django("-c", code, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == formatter


def test_a_malformed_log_format_fails_at_start(run_django: RunDjango) -> None:
    result = run_django("-c", "from django.conf import settings; settings.DEBUG", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT" in result.stderr
