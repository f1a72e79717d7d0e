"""DPoP at the token endpoints (RFC 9449 §5): a login or a refresh with a proof gets tokens
bound to the proof's key, and a bound refresh token needs a proof of that key."""

from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.http import HttpResponse
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from tests.helpers.dpop import ProofKey
from tokens.clients import client_create
from tokens.models import Session
from users.models import User

pytestmark = pytest.mark.django_db
BASE = "http://testserver"


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def post_json(path: str, body: dict[str, Any], proof: str | None = None) -> HttpResponse:
    extra = {"HTTP_DPOP": proof} if proof is not None else {}
    return APIClient().post(path, body, format="json", **extra)


def post_form(path: str, form: dict[str, Any], proof: str | None = None, **extra: Any) -> HttpResponse:
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return APIClient().generic(
        "POST", path, urlencode(form), content_type="application/x-www-form-urlencoded", **extra
    )


def login(key: ProofKey | None) -> HttpResponse:
    proof = key.proof(method="POST", url=f"{BASE}/auth/token/") if key else None
    return post_json("/auth/token/", {"username": "owner", "password": PASSWORD}, proof)


def read_tasks(access: str, key: ProofKey) -> HttpResponse:
    proof = key.proof(method="GET", url=f"{BASE}/tasks/", access_token=access)
    return APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"DPoP {access}", HTTP_DPOP=proof)


def test_a_login_with_a_proof_gets_tokens_bound_to_its_key(owner: User) -> None:
    key = ProofKey.generate("ES256")
    response = login(key)
    assert response.status_code == 200, response.content
    pair = response.json()
    assert pair["token_type"] == "DPoP"
    assert claims(pair["access"])["cnf"] == {"jkt": key.thumbprint}
    assert claims(pair["refresh"])["cnf"] == {"jkt": key.thumbprint}
    assert Session.objects.get(user=owner).binding == key.thumbprint
    assert read_tasks(pair["access"], key).status_code == 200
    as_bearer = APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert as_bearer.status_code == 401
    assert as_bearer.headers["WWW-Authenticate"].startswith("DPoP")


def test_a_login_without_a_proof_stays_unbound(owner: User) -> None:
    pair = login(None).json()
    assert pair["token_type"] == "Bearer"
    assert "cnf" not in claims(pair["access"])
    assert "cnf" not in claims(pair["refresh"])


def test_the_password_grant_with_a_proof_is_bound_too(owner: User) -> None:
    service = client_create(name="service", confidential=True)
    key = ProofKey.generate("EdDSA")
    response = post_form(
        "/auth/token/",
        {
            "grant_type": "password",
            "username": "owner",
            "password": PASSWORD,
            "client_id": service.client_id,
            "client_secret": service.client_secret,
        },
        key.proof(method="POST", url=f"{BASE}/auth/token/"),
    )
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert claims(response.json()["access_token"])["cnf"] == {"jkt": key.thumbprint}
    assert read_tasks(response.json()["access_token"], key).status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        lambda key: key.proof(method="GET", url=f"{BASE}/auth/token/"),
        lambda key: key.proof(method="POST", url=f"{BASE}/auth/token/refresh/"),
        lambda key: key.proof(method="POST", url=f"{BASE}/auth/token/", signed_by=ProofKey.generate("ES256")),
        lambda key: "not-a-proof",
    ],
)
def test_a_login_with_a_bad_proof_is_refused_and_starts_no_session(bad: Any, owner: User) -> None:
    key = ProofKey.generate("ES256")
    response = post_json("/auth/token/", {"username": "owner", "password": PASSWORD}, bad(key))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert not Session.objects.exists()


def test_a_proof_is_good_for_one_login_only(owner: User) -> None:
    key = ProofKey.generate("ES256")
    proof = key.proof(method="POST", url=f"{BASE}/auth/token/")
    assert post_json("/auth/token/", {"username": "owner", "password": PASSWORD}, proof).status_code == 200
    replay = post_json("/auth/token/", {"username": "owner", "password": PASSWORD}, proof)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_dpop_proof"


def refresh(token: str, key: ProofKey | None) -> HttpResponse:
    proof = key.proof(method="POST", url=f"{BASE}/auth/token/refresh/") if key else None
    return post_json("/auth/token/refresh/", {"refresh": token}, proof)


def test_a_bound_refresh_token_needs_a_proof_of_its_own_key(owner: User) -> None:
    key = ProofKey.generate("ES256")
    pair = login(key).json()
    assert refresh(pair["refresh"], None).status_code == 401
    assert refresh(pair["refresh"], ProofKey.generate("ES256")).status_code == 401
    # Neither refusal spent the token, nor ended the session: the holder of the key goes on.
    renewed = refresh(pair["refresh"], key)
    assert renewed.status_code == 200, renewed.content
    assert renewed.json()["token_type"] == "DPoP"
    assert claims(renewed.json()["access"])["cnf"] == {"jkt": key.thumbprint}
    assert read_tasks(renewed.json()["access"], key).status_code == 200


def test_a_bound_refresh_token_through_the_grant_needs_its_key_too(owner: User) -> None:
    key = ProofKey.generate("ES256")
    pair = login(key).json()
    form = {"grant_type": "refresh_token", "refresh_token": pair["refresh"]}
    stolen = post_form(
        "/auth/token/", form, ProofKey.generate("ES256").proof(method="POST", url=f"{BASE}/auth/token/")
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    good = post_form("/auth/token/", form, key.proof(method="POST", url=f"{BASE}/auth/token/"))
    assert good.status_code == 200, good.content
    assert good.json()["token_type"] == "DPoP"


def test_an_unbound_session_refreshed_with_a_proof_is_bound_from_then_on(owner: User) -> None:
    pair = login(None).json()
    key = ProofKey.generate("ES256")
    bound = refresh(pair["refresh"], key).json()
    assert bound["token_type"] == "DPoP"
    assert claims(bound["refresh"])["cnf"] == {"jkt": key.thumbprint}
    assert refresh(bound["refresh"], None).status_code == 401


def test_dpop_required_refuses_unbound_logins_and_refreshes(owner: User, settings: Settings) -> None:
    pair = login(None).json()  # before the setting: an unbound session
    settings.DPOP_REQUIRED = True
    refused = login(None)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"
    grant = post_form("/auth/token/", {"grant_type": "password", "username": "owner", "password": PASSWORD})
    assert grant.status_code == 400
    assert grant.json()["error"] == "invalid_dpop_proof"
    assert refresh(pair["refresh"], None).status_code == 400
    assert login(ProofKey.generate("ES256")).json()["token_type"] == "DPoP"


def test_introspection_names_a_bound_tokens_key(owner: User) -> None:
    service = client_create(name="resource server", confidential=True)
    key = ProofKey.generate("ES256")
    access = login(key).json()["access"]
    answer = post_form(
        "/auth/introspect/",
        {"token": access, "client_id": service.client_id, "client_secret": service.client_secret},
    ).json()
    assert answer["active"] is True
    assert answer["token_type"] == "DPoP"
    assert answer["cnf"] == {"jkt": key.thumbprint}
