"""DPoP-bound access tokens at the API (RFC 9449 §7): accepted only as ``Authorization: DPoP``
with a fresh proof of their key; every refusal a 401 with a challenge that says why."""

from typing import Any

import pytest
from django.http import HttpResponse
from rest_framework.test import APIClient

from tests.helpers.dpop import URL, ProofKey, bound_token
from tests.helpers.forgery import assert_invalid_token, forge
from tokens import authentication, dpop
from tokens.authentication import CHALLENGE
from tokens.models import Session
from tokens.services import session_revoke, token_pair_issue
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> ProofKey:
    return ProofKey.generate("ES256")


@pytest.fixture
def token(owner: User, key: ProofKey) -> str:
    return bound_token(owner, key.thumbprint)


def get_tasks(authorization: str, proof: str | None = None, path: str = "/tasks/") -> HttpResponse:
    headers = {"HTTP_DPOP": proof} if proof is not None else {}
    return APIClient().get(path, HTTP_AUTHORIZATION=authorization, **headers)


def assert_refused(response: HttpResponse, error: str, description: str) -> None:
    """RFC 9449 §7.1: a 401 with a DPoP challenge naming the error and the algorithms."""
    assert response.status_code == 401, response.content
    assert response.headers["WWW-Authenticate"] == dpop.challenge(error, description)
    assert response.json() == {"detail": description}


def test_a_bound_token_with_a_proof_reads_the_tasks(token: str, key: ProofKey) -> None:
    response = get_tasks(f"DPoP {token}", key.proof(access_token=token))
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_a_bound_token_writes_with_a_proof_for_the_write(token: str, key: ProofKey) -> None:
    body = {"title": "Bound", "due_to": "2030-01-01T00:00:00Z"}
    created = APIClient().post(
        "/tasks/",
        body,
        HTTP_AUTHORIZATION=f"DPoP {token}",
        HTTP_DPOP=key.proof(method="POST", access_token=token),
    )
    assert created.status_code == 201, created.content
    proof_for_a_read = key.proof(access_token=token)
    refused = APIClient().post(
        "/tasks/", body, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof_for_a_read
    )
    assert_refused(refused, "invalid_dpop_proof", "The DPoP proof is for another HTTP method.")


def test_each_request_takes_a_fresh_proof(token: str, key: ProofKey) -> None:
    for _ in range(2):
        assert get_tasks(f"DPoP {token}", key.proof(access_token=token)).status_code == 200


def test_the_query_is_not_part_of_the_proof(token: str, key: ProofKey) -> None:
    response = get_tasks(f"DPoP {token}", key.proof(access_token=token), path="/tasks/?completed=false")
    assert response.status_code == 200, response.content


def test_the_scheme_is_case_insensitive(token: str, key: ProofKey) -> None:
    assert get_tasks(f"dpop {token}", key.proof(access_token=token)).status_code == 200  # RFC 9110 §11.1


def test_a_bound_token_sent_as_bearer_is_refused(token: str, key: ProofKey) -> None:
    response = get_tasks(f"Bearer {token}", key.proof(access_token=token))
    assert_refused(
        response,
        "invalid_token",
        "This token is bound to a key: send it as 'DPoP <token>' with a DPoP proof.",
    )
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token", ')
    assert 'algs="ES256 ' in response.headers["WWW-Authenticate"]


def test_a_bound_token_without_a_proof_is_refused(token: str) -> None:
    assert_refused(
        get_tasks(f"DPoP {token}"),
        "invalid_dpop_proof",
        "A DPoP proof (the DPoP header) is required with this token.",
    )


def test_a_proof_of_another_key_is_refused(token: str) -> None:
    thief = ProofKey.generate("ES256")
    assert_refused(
        get_tasks(f"DPoP {token}", thief.proof(access_token=token)),
        "invalid_dpop_proof",
        "The DPoP proof is not signed by the key this token is bound to.",
    )


def test_a_replayed_proof_is_refused(token: str, key: ProofKey) -> None:
    proof = key.proof(access_token=token)
    assert get_tasks(f"DPoP {token}", proof).status_code == 200
    assert_refused(
        get_tasks(f"DPoP {token}", proof), "invalid_dpop_proof", "The DPoP proof was already used."
    )


def test_a_proof_made_for_another_token_is_refused(owner: User, token: str, key: ProofKey) -> None:
    sibling = bound_token(owner, key.thumbprint)
    assert_refused(
        get_tasks(f"DPoP {token}", key.proof(access_token=sibling)),
        "invalid_dpop_proof",
        "The DPoP proof was made for another access token.",
    )


@pytest.mark.parametrize(
    ("proof", "description"),
    [
        (
            lambda key, token: f"{key.proof(access_token=token)}, {key.proof(access_token=token)}",
            "Send exactly one DPoP proof.",
        ),
        (
            lambda key, token: key.proof(access_token=token, htu="http://testserver/users/me/"),
            "The DPoP proof is for another URL.",
        ),
        (
            lambda key, token: key.proof(access_token=token, htu=URL.replace("http:", "https:")),
            "The DPoP proof is for another URL.",
        ),
        (lambda key, token: "garbage", "The DPoP proof is malformed."),
    ],
)
def test_any_bad_proof_is_refused(token: str, key: ProofKey, proof: Any, description: str) -> None:
    assert_refused(get_tasks(f"DPoP {token}", proof(key, token)), "invalid_dpop_proof", description)


def test_a_bound_token_of_an_ended_session_is_refused(owner: User, token: str, key: ProofKey) -> None:
    session_revoke(session=Session.objects.get(user=owner), reason=Session.Reason.REVOKED)
    assert_refused(
        get_tasks(f"DPoP {token}", key.proof(access_token=token)),
        "invalid_token",
        "The token's session has ended.",
    )


def test_a_bad_token_under_the_dpop_scheme_gets_the_dpop_challenge(key: ProofKey) -> None:
    assert_refused(get_tasks("DPoP not-a-token", key.proof()), "invalid_token", "The token is malformed.")
    assert_refused(
        get_tasks("DPoP", key.proof()), "invalid_token", "The Authorization header must be 'DPoP <token>'."
    )


def test_an_unbound_token_under_the_dpop_scheme_is_refused(owner: User, key: ProofKey) -> None:
    unbound = token_pair_issue(user=owner)["access"]
    assert_refused(
        get_tasks(f"DPoP {unbound}", key.proof(access_token=unbound)),
        "invalid_token",
        "This token is not bound to a key: send it as 'Bearer <token>'.",
    )


@pytest.mark.parametrize("confirmation", [{"x5t#S256": "a certificate"}, {"jkt": 42}, "a key", None])
def test_a_token_confirmed_by_anything_else_is_refused(owner: User, key: ProofKey, confirmation: Any) -> None:
    # Sender-constrained some way we cannot check: refused under either scheme, never a bearer token.
    token = forge(owner, cnf=confirmation)
    bearer = get_tasks(f"Bearer {token}")
    assert bearer.status_code == 401
    assert bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    assert get_tasks(f"DPoP {token}", key.proof(access_token=token)).status_code == 401


def test_an_unbound_token_as_bearer_does_no_dpop_work(
    owner: User, key: ProofKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def checked(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a Bearer request checked a DPoP proof")

    monkeypatch.setattr(authentication.dpop, "proof_verify", checked)
    unbound = token_pair_issue(user=owner)["access"]
    response = get_tasks(f"Bearer {unbound}", key.proof(access_token=unbound))  # a stray proof is ignored
    assert response.status_code == 200, response.content


def test_bearer_refusals_answer_as_before(owner: User) -> None:
    response = get_tasks(f"Bearer {forge(owner, exp=1)}")
    assert_invalid_token(response)
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert APIClient().get("/tasks/").headers["WWW-Authenticate"] == CHALLENGE  # no credentials at all
