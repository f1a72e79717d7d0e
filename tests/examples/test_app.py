"""The verifier's HTTP answers (RFC 6750 §3) and its settings, through Flask's test client."""

import httpx
import pytest
from flask.testing import FlaskClient

from examples.verifier.app import Settings, create_app
from examples.verifier.jwks import JwksCache
from tests.helpers.jose import Signer

SIGNER = Signer.generate("rsa-1")
JWKS_URL = "https://issuer.example/.well-known/jwks.json"


def client_for(answer: httpx.Response) -> FlaskClient:
    keys = JwksCache(JWKS_URL, transport=httpx.MockTransport(lambda request: answer), min_interval=2.0)
    return create_app(Settings(issuer_url="https://issuer.example"), keys=keys).test_client()


@pytest.fixture
def client() -> FlaskClient:
    return client_for(httpx.Response(200, json={"keys": [SIGNER.jwk()]}))


def test_whoami_answers_the_bearer(client: FlaskClient) -> None:
    token = SIGNER.sign(sub="7", jti="abc")
    answer = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json is not None
    assert answer.json["sub"] == "7"
    assert answer.json["jti"] == "abc"
    assert answer.json["kid"] == "rsa-1"


def test_the_scheme_is_case_insensitive(client: FlaskClient) -> None:
    # RFC 7235 §2.1: auth-scheme is case-insensitive.
    answer = client.get("/whoami", headers={"Authorization": f"bearer {SIGNER.sign()}"})
    assert answer.status_code == 200


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Token abc"])
def test_no_bearer_token_gets_a_bare_challenge(client: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.get("/whoami", headers=headers)
    assert answer.status_code == 401
    # RFC 6750 §3.1: a request without credentials gets no error code.
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="tasks-verifier"'
    assert answer.json == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Bearer ", "Bearer a b", "Bearer a,Bearer b", "Bearer é"]
)
def test_a_malformed_header_is_an_invalid_request(client: FlaskClient, authorization: str) -> None:
    answer = client.get("/whoami", headers={"Authorization": authorization})
    assert answer.status_code == 400
    assert 'error="invalid_request"' in answer.headers["WWW-Authenticate"]


def test_a_refused_token_is_an_invalid_token_with_the_reason(client: FlaskClient) -> None:
    answer = client.get("/whoami", headers={"Authorization": f"Bearer {SIGNER.sign(aud='another-api')}"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer realm="tasks-verifier", error="invalid_token", '
        'error_description="The token is not meant for this service."'
    )
    assert answer.json == {"detail": "The token is not meant for this service."}


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(302, headers={"Location": "https://elsewhere.example/jwks"}), httpx.Response(500)],
    ids=["redirect", "server error"],
)
def test_without_keys_the_answer_is_503_not_401(answer: httpx.Response) -> None:
    # The token may be perfectly good: a 401 would make its holder log in again for nothing.
    response = client_for(answer).get("/whoami", headers={"Authorization": f"Bearer {SIGNER.sign()}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.is_json


def test_errors_are_json(client: FlaskClient) -> None:
    for answer, status in ((client.get("/nowhere"), 404), (client.post("/whoami"), 405)):
        assert answer.status_code == status
        assert answer.is_json
        assert answer.json is not None
        assert "detail" in answer.json


# Settings.


def test_the_defaults_fit_make_run() -> None:
    settings = Settings.from_env({})
    assert settings.jwks_url == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert (settings.issuer, settings.audience) == ("taskservice", "taskservice-api")


def test_the_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TASKS_ISSUER_URL": "https://tasks.example/",
            "TASKS_JWT_ISSUER": "tasks-prod",
            "TASKS_JWT_AUDIENCE": "tasks-prod-api",
            "TASKS_JWKS_TTL": "300",
            "TASKS_JWKS_TIMEOUT": "0.5",
        }
    )
    assert settings.jwks_url == "https://tasks.example/.well-known/jwks.json"
    assert (settings.issuer, settings.audience, settings.jwks_ttl, settings.jwks_timeout) == (
        "tasks-prod",
        "tasks-prod-api",
        300.0,
        0.5,
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"TASKS_ISSUER_URL": "http://tasks.example"},  # keys in the clear, from another machine
        {"TASKS_ISSUER_URL": "ftp://127.0.0.1/"},
        {"TASKS_ISSUER_URL": "127.0.0.1:8000"},
        {"TASKS_JWKS_TTL": "soon"},
        {"TASKS_JWKS_TTL": "-1"},
        {"TASKS_JWKS_TIMEOUT": "nan"},
        {"TASKS_JWT_LEEWAY": "3600"},
        {"TASKS_JWKS_TIMEOUT": "0"},
        {"TASKS_JWKS_TTL": "0.5"},  # under the minimum interval between fetches
        {"TASKS_JWKS_MAX_STALE": "30"},  # under the TTL
    ],
)
def test_a_malformed_setting_fails_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="TASKS_"):
        create_app(Settings.from_env(environ))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"])
def test_plain_http_is_allowed_on_this_machine(host: str) -> None:
    assert Settings.from_env({"TASKS_ISSUER_URL": f"http://{host}:8000"}).issuer_url.startswith("http://")
