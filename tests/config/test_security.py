"""Production posture from the environment: `check --deploy`, HTTPS, HSTS and CORS."""

import json
import secrets
from typing import Any

from django.utils.datastructures import CaseInsensitiveMapping

from tests.helpers.processes import RunDjango

PRODUCTION = {
    "DEBUG": "false",
    "BEHIND_TLS": "true",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "api.example.com",
}
# Requests made with Django's test client in a fresh process, so the settings are the ones
# the environment gives; prints each answer's status and headers, and the cookie settings.
PROBE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client
answers = []
for path, scheme, headers in json.loads(sys.argv[1]):
    response = Client().get(path, secure=scheme == "https", headers=headers)
    answers.append({"status": response.status_code, **response.headers})
cookies = {"session": settings.SESSION_COOKIE_SECURE, "csrf": settings.CSRF_COOKIE_SECURE}
print(json.dumps({"answers": answers, "secure_cookies": cookies}))
"""
HSTS = "Strict-Transport-Security"


def probe(
    run_django: RunDjango, requests: list[tuple[str, str, dict[str, str]]], **env: str
) -> dict[str, Any]:
    result = run_django("-c", PROBE, json.dumps(requests), ALLOWED_HOSTS="testserver", **env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    # Header names as HTTP has them: case-insensitive.
    seen["answers"] = [CaseInsensitiveMapping(answer) for answer in seen["answers"]]
    return seen  # type: ignore[no-any-return]


def test_check_deploy_is_clean_in_production(run_django: RunDjango) -> None:
    result = run_django("manage.py", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_warns_when_not_behind_tls(run_django: RunDjango) -> None:
    result = run_django(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "BEHIND_TLS": "false"}
    )
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def test_without_behind_tls_no_hsts_no_redirect_no_secure_cookies(run_django: RunDjango) -> None:
    seen = probe(run_django, [("/", "https", {}), ("/", "http", {})])
    over_tls, plain = seen["answers"]
    assert (over_tls["status"], plain["status"]) == (200, 200)
    assert HSTS not in over_tls
    assert seen["secure_cookies"] == {"session": False, "csrf": False}


def test_behind_tls_sends_hsts_redirects_plain_http_and_secures_cookies(run_django: RunDjango) -> None:
    seen = probe(
        run_django,
        [
            ("/", "https", {}),
            ("/tasks/?page_size=5", "http", {}),
            ("/healthz", "http", {}),  # a load balancer's probe, straight to the worker
            ("/", "http", {"X-Forwarded-Proto": "https"}),  # no trusted proxy: not believed
        ],
        BEHIND_TLS="true",
    )
    over_tls, plain, probe_, forged = seen["answers"]
    assert over_tls["status"] == 200
    assert over_tls[HSTS] == "max-age=31536000; includeSubDomains"
    assert plain["status"] == 301
    assert plain["Location"] == "https://testserver/tasks/?page_size=5"
    assert HSTS not in plain  # RFC 6797 §7.2: never over plain HTTP
    assert probe_["status"] == 200
    assert forged["status"] == 301
    assert seen["secure_cookies"] == {"session": True, "csrf": True}


def test_behind_tls_and_a_trusted_proxy_believes_its_x_forwarded_proto(run_django: RunDjango) -> None:
    seen = probe(
        run_django,
        [("/", "http", {"X-Forwarded-Proto": "https"}), ("/", "http", {})],
        BEHIND_TLS="true",
        TRUSTED_PROXY_COUNT="1",
    )
    via_proxy, direct = seen["answers"]
    assert via_proxy["status"] == 200
    assert HSTS in via_proxy
    assert direct["status"] == 301


def test_hsts_lifetime_and_subdomains_are_configurable(run_django: RunDjango) -> None:
    seen = probe(
        run_django,
        [("/", "https", {})],
        BEHIND_TLS="true",
        HSTS_SECONDS="600",
        HSTS_INCLUDE_SUBDOMAINS="false",
    )
    assert seen["answers"][0][HSTS] == "max-age=600"


def test_cors_allowed_origins_from_the_environment(run_django: RunDjango) -> None:
    origin = {"Origin": "https://app.example.com"}
    assert "Access-Control-Allow-Origin" not in probe(run_django, [("/", "https", origin)])["answers"][0]
    enabled = probe(
        run_django,
        [("/", "https", origin), ("/", "https", {"Origin": "https://other.example.com"})],
        CORS_ALLOWED_ORIGINS="https://app.example.com,http://localhost:3000",
    )
    allowed, other = enabled["answers"]
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed
    assert "Access-Control-Allow-Origin" not in other


def test_cors_refuses_a_wildcard_or_malformed_origin_at_start(run_django: RunDjango) -> None:
    for value in (
        "*",
        "null",
        "https://app.example.com/",
        "app.example.com",
        "https://a.example.com, https://b.example.com",
    ):
        result = run_django(
            "-c", "from django.conf import settings; settings.DEBUG", CORS_ALLOWED_ORIGINS=value
        )
        assert result.returncode != 0, value
        assert "CORS_ALLOWED_ORIGINS" in result.stderr


def test_malformed_security_settings_fail_at_start(run_django: RunDjango) -> None:
    result = run_django(
        "-c", "from django.conf import settings; settings.DEBUG", BEHIND_TLS="sometimes", HSTS_SECONDS="-1"
    )
    assert result.returncode != 0
    assert "BEHIND_TLS" in result.stderr
    assert "HSTS_SECONDS" in result.stderr
