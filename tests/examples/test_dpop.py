"""DPoP-bound tokens at the verifier (RFC 9449): accepted only with a good proof of their key,
refused as Bearer tokens with a DPoP challenge, and every way of getting a proof wrong."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from examples.verifier.app import Settings, create_app
from examples.verifier.dpop import ALGORITHMS, ProofChecker, SeenProofs, normalized_url
from examples.verifier.jwks import JwksCache
from tests.helpers.dpop_proofs import (
    ProofKey,
    hs256_keyed_with_the_jwk,
    hs256_with_a_symmetric_jwk,
    unsigned,
    with_claims,
)
from tests.helpers.jose import DROP, Signer

SIGNER = Signer.generate("rsa-1")
KEY = ProofKey.generate("ES256")
URL = "http://localhost/whoami"  # the Flask test client's, and VERIFIER_URL's below
INVALID_PROOF = "invalid_dpop_proof"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def app_client(proofs: ProofChecker | None = None) -> FlaskClient:
    keys = JwksCache(
        "https://issuer.example/.well-known/jwks.json",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [SIGNER.jwk()]})),
    )
    settings = Settings(issuer_url="https://issuer.example", verifier_url="http://localhost")
    return create_app(settings, keys=keys, proofs=proofs).test_client()


@pytest.fixture
def client() -> FlaskClient:
    return app_client()


def bound_token(key: ProofKey = KEY, **claims: Any) -> str:
    return SIGNER.sign(cnf=key.confirmation(), **claims)


def whoami(client: FlaskClient, token: str, *proofs: str, scheme: str = "DPoP") -> TestResponse:
    headers = [("Authorization", f"{scheme} {token}"), *(("DPoP", proof) for proof in proofs)]
    return client.get("/whoami", headers=headers)


def assert_refused(answer: TestResponse, error: str, detail: str | None = None) -> None:
    """RFC 9449 §7.1: a 401 with a DPoP challenge naming the error and the algorithms."""
    assert answer.status_code == 401, answer.json
    challenges = answer.headers.getlist("WWW-Authenticate")
    assert len(challenges) == 1
    assert challenges[0].startswith(f'DPoP realm="tasks-verifier", error="{error}", error_description=')
    assert challenges[0].endswith(f'algs="{" ".join(ALGORITHMS)}"')
    if detail is not None:
        assert answer.json == {"detail": detail}


# Accepted.


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # joserfc's, for RFC 9864's Ed25519
@pytest.mark.parametrize("algorithm", ["ES256", "ES384", "PS256", "RS256", "EdDSA"])
def test_a_bound_token_with_a_good_proof_is_accepted(client: FlaskClient, algorithm: str) -> None:
    key = ProofKey.generate(algorithm)
    token = bound_token(key, sub="7")
    answer = whoami(client, token, key.proof(access_token=token))
    assert answer.status_code == 200, answer.json
    assert answer.json is not None
    assert answer.json["sub"] == "7"


def test_each_request_needs_a_proof_of_its_own(client: FlaskClient) -> None:
    token = bound_token()
    for _ in range(3):
        assert whoami(client, token, KEY.proof(access_token=token)).status_code == 200


@pytest.mark.parametrize(
    "htu",
    [
        "http://LOCALHOST/whoami",
        "HTTP://localhost:80/whoami",
        "http://localhost/%77hoami",
        "http://localhost/whoami?x=1#f",
    ],
    ids=["host case", "default port", "an unreserved character escaped", "query and fragment"],
)
def test_the_url_is_compared_normalized_without_query(client: FlaskClient, htu: str) -> None:
    # RFC 9449 §4.3 step 9, RFC 3986 §6.2.2 and §6.2.3.
    token = bound_token()
    assert whoami(client, token, KEY.proof(access_token=token, url=htu)).status_code == 200


def test_the_scheme_is_case_insensitive(client: FlaskClient) -> None:
    token = bound_token()
    assert whoami(client, token, KEY.proof(access_token=token), scheme="dpop").status_code == 200


def test_an_unbound_token_still_works_as_bearer(client: FlaskClient) -> None:
    token = SIGNER.sign()
    assert whoami(client, token, scheme="Bearer").status_code == 200
    # A stray proof changes nothing for a Bearer token.
    assert whoami(client, token, KEY.proof(access_token=token), scheme="Bearer").status_code == 200


# Refused: the token sent the wrong way.


def test_a_bound_token_sent_as_bearer_is_refused_with_a_dpop_challenge(client: FlaskClient) -> None:
    token = bound_token()
    # With a good proof too: the Bearer scheme is what a thief of the token alone would use.
    answer = whoami(client, token, KEY.proof(access_token=token), scheme="Bearer")
    assert_refused(
        answer, "invalid_token", "This token is bound to a key: send it as 'DPoP <token>' with a DPoP proof."
    )


def test_an_unbound_token_sent_as_dpop_is_refused(client: FlaskClient) -> None:
    token = SIGNER.sign()
    answer = whoami(client, token, KEY.proof(access_token=token))
    assert_refused(answer, "invalid_token", "This token is not bound to a key: send it as 'Bearer <token>'.")


@pytest.mark.parametrize("proofs", [0, 2])
def test_exactly_one_proof_is_required(client: FlaskClient, proofs: int) -> None:
    token = bound_token()
    answer = whoami(client, token, *(KEY.proof(access_token=token) for _ in range(proofs)))
    assert_refused(answer, INVALID_PROOF, "One DPoP proof (the DPoP header) is required with this token.")


@pytest.mark.parametrize(
    "confirmation",
    [
        {"jkt": KEY.thumbprint(), "x5t#S256": "abc"},  # a certificate binding too (RFC 8705)
        {"x5t#S256": KEY.thumbprint()},
        {"jwk": KEY.public_jwk()},  # a key to trust as given (RFC 7800 §3.2)
        {"jkt": "short"},
        {"jkt": 42},
        "a string",
    ],
)
def test_a_binding_we_cannot_check_is_refused(client: FlaskClient, confirmation: Any) -> None:
    token = SIGNER.sign(cnf=confirmation)
    for scheme in ("DPoP", "Bearer"):
        answer = whoami(client, token, KEY.proof(access_token=token), scheme=scheme)
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_a_malformed_dpop_header_is_an_invalid_request(client: FlaskClient) -> None:
    answer = client.get("/whoami", headers={"Authorization": "DPoP a b"})
    assert answer.status_code == 400
    assert answer.headers["WWW-Authenticate"].startswith(
        'DPoP realm="tasks-verifier", error="invalid_request"'
    )


def test_no_credentials_offers_both_schemes(client: FlaskClient) -> None:
    # RFC 9449 §7.2: a resource accepting both says so in two challenges.
    answer = client.get("/whoami")
    assert answer.status_code == 401
    assert answer.headers.getlist("WWW-Authenticate") == [
        'Bearer realm="tasks-verifier"',
        f'DPoP realm="tasks-verifier", algs="{" ".join(ALGORITHMS)}"',
    ]


# Refused: every way a proof can be wrong. Each case makes a proof, for ``token`` (bound to
# KEY) and a GET of URL, wrong in one thing only; with it, the reason the verifier gives.
Forge = Callable[[str], str]
OTHER_KEY = ProofKey.generate("ES256")
PROOFS: dict[str, tuple[Forge, str]] = {
    "another key": (
        lambda token: OTHER_KEY.proof(access_token=token),
        "The DPoP proof is not signed by the key this token is bound to.",
    ),
    "another key's jwk, signed by ours": (
        lambda token: KEY.proof(access_token=token, headers={"jwk": OTHER_KEY.public_jwk()}),
        "The DPoP proof's signature is invalid.",
    ),
    "claims changed after signing": (
        lambda token: with_claims(KEY.proof(access_token=token), htm="POST", jti="other"),
        "The DPoP proof's signature is invalid.",
    ),
    "another method": (
        lambda token: KEY.proof(access_token=token, method="POST"),
        "The DPoP proof was made for another HTTP method.",
    ),
    "method in lowercase": (
        lambda token: KEY.proof(access_token=token, method="get"),
        "The DPoP proof was made for another HTTP method.",
    ),
    "another host": (
        lambda token: KEY.proof(access_token=token, url="http://elsewhere.example/whoami"),
        "The DPoP proof was made for another URL.",
    ),
    "another path": (
        lambda token: KEY.proof(access_token=token, url="http://localhost/healthz"),
        "The DPoP proof was made for another URL.",
    ),
    "another scheme": (
        lambda token: KEY.proof(access_token=token, url="https://localhost/whoami"),
        "The DPoP proof was made for another URL.",
    ),
    "another port": (
        lambda token: KEY.proof(access_token=token, url="http://localhost:8080/whoami"),
        "The DPoP proof was made for another URL.",
    ),
    "a relative URL": (
        lambda token: KEY.proof(access_token=token, url="/whoami"),
        "The DPoP proof was made for another URL.",
    ),
    "stale": (
        lambda token: KEY.proof(access_token=token, iat=int(time.time()) - 61),
        "The DPoP proof is too old, or made in the future: make a new one.",
    ),
    "from the future": (
        lambda token: KEY.proof(access_token=token, iat=int(time.time()) + 60),
        "The DPoP proof is too old, or made in the future: make a new one.",
    ),
    "iat as a string": (
        lambda token: KEY.proof(access_token=token, iat=str(int(time.time()))),
        "The DPoP proof's 'iat' claim is not a number.",
    ),
    "no ath": (lambda token: KEY.proof(access_token=None), "The DPoP proof lacks the 'ath' claim."),
    "the ath of another token": (
        lambda token: KEY.proof(access_token=bound_token()),
        "The DPoP proof was made for another access token (ath).",
    ),
    "no jti": (
        lambda token: KEY.proof(access_token=token, jti=DROP),
        "The DPoP proof lacks the 'jti' claim.",
    ),
    "an empty jti": (
        lambda token: KEY.proof(access_token=token, jti=""),
        "The DPoP proof's 'jti' claim is malformed.",
    ),
    "no htu": (
        lambda token: KEY.proof(access_token=token, htu=DROP),
        "The DPoP proof lacks the 'htu' claim.",
    ),
    "no iat": (
        lambda token: KEY.proof(access_token=token, iat=DROP),
        "The DPoP proof lacks the 'iat' claim.",
    ),
    "alg none": (
        lambda token: unsigned(KEY.proof(access_token=token)),
        "The DPoP proof's algorithm is not accepted.",
    ),
    "HS256 keyed with the public jwk": (
        lambda token: hs256_keyed_with_the_jwk(KEY.proof(access_token=token)),
        "The DPoP proof's algorithm is not accepted.",
    ),
    "HS256 with a symmetric jwk": (
        lambda token: hs256_with_a_symmetric_jwk(KEY.proof(access_token=token)),
        "The DPoP proof's algorithm is not accepted.",
    ),
    "a private jwk": (
        lambda token: KEY.proof(access_token=token, headers={"jwk": KEY.private_jwk()}),
        "The DPoP proof's jwk is not a public key.",
    ),
    "no jwk": (
        lambda token: KEY.proof(access_token=token, headers={"jwk": DROP}),
        "The DPoP proof does not carry its public key (jwk).",
    ),
    "a key by URL": (
        lambda token: KEY.proof(access_token=token, headers={"jku": "https://elsewhere.example/jwks"}),
        "The DPoP proof must carry its key in jwk, and name no other.",
    ),
    "a jwk of another type than its alg": (
        lambda token: KEY.proof(access_token=token, headers={"jwk": ProofKey.generate("EdDSA").public_jwk()}),
        "The DPoP proof's jwk does not fit its algorithm.",
    ),
    "a P-384 jwk for ES256": (
        lambda token: KEY.proof(access_token=token, headers={"jwk": ProofKey.generate("ES384").public_jwk()}),
        "The DPoP proof's jwk does not fit its algorithm.",
    ),
    "a critical extension": (
        lambda token: KEY.proof(access_token=token, headers={"crit": ["exp"]}),
        "The DPoP proof has header parameters we do not accept.",
    ),
    "untyped": (
        lambda token: KEY.proof(access_token=token, headers={"typ": DROP}),
        "This is not a DPoP proof (typ must be dpop+jwt).",
    ),
    "typed as a JWT": (
        lambda token: KEY.proof(access_token=token, headers={"typ": "JWT"}),
        "This is not a DPoP proof (typ must be dpop+jwt).",
    ),
    "the access token itself": (lambda token: token, "This is not a DPoP proof (typ must be dpop+jwt)."),
    "padded": (lambda token: KEY.proof(access_token=token) + "=", "The DPoP proof is malformed."),
    "not a JWT": (lambda token: "not.a.jwt", "The DPoP proof is malformed."),
}


@pytest.mark.parametrize(("forge", "reason"), PROOFS.values(), ids=PROOFS.keys())
def test_a_wrong_proof_is_refused(client: FlaskClient, forge: Forge, reason: str) -> None:
    token = bound_token()
    assert_refused(whoami(client, token, forge(token)), INVALID_PROOF, reason)
    # The control: the same token with a good proof is accepted.
    assert whoami(client, token, KEY.proof(access_token=token)).status_code == 200


def test_a_replayed_proof_is_refused(client: FlaskClient) -> None:
    token = bound_token()
    proof = KEY.proof(access_token=token)
    assert whoami(client, token, proof).status_code == 200
    answer = whoami(client, token, proof)
    assert_refused(
        answer, INVALID_PROOF, "This DPoP proof was already used: make a new one for each request."
    )


def test_a_jti_is_remembered_per_key() -> None:
    seen = SeenProofs(window=60.0)
    assert seen.first_use("key-a", "1")
    assert seen.first_use("key-b", "1")
    assert not seen.first_use("key-a", "1")


def test_a_jti_is_forgotten_only_once_its_proof_is_too_old_anyway() -> None:
    clock = Clock()
    seen = SeenProofs(window=65.0, clock=clock)
    assert seen.first_use("key", "1")
    clock.now += 64.9
    assert not seen.first_use("key", "1")
    clock.now += 0.1
    assert seen.first_use("key", "1")


def test_a_full_replay_store_refuses_new_proofs_with_503_not_forgets() -> None:
    # Forgetting a proof still young enough to be accepted would let it be replayed.
    client = app_client(ProofChecker(seen=SeenProofs(window=65.0, max_entries=2)))
    token = bound_token()
    for _ in range(2):
        assert whoami(client, token, KEY.proof(access_token=token)).status_code == 200
    answer = whoami(client, token, KEY.proof(access_token=token))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"


def test_a_refused_proof_does_not_spend_its_jti(client: FlaskClient) -> None:
    token = bound_token()
    jti = "one-attempt"
    assert whoami(client, token, KEY.proof(access_token=token, jti=jti, method="POST")).status_code == 401
    assert whoami(client, token, KEY.proof(access_token=token, jti=jti)).status_code == 200


def test_the_url_checked_is_the_configured_one_not_the_host_header(client: FlaskClient) -> None:
    # A proof made for another service, replayed here with that service's Host header.
    token = bound_token()
    proof = KEY.proof(access_token=token, url="http://elsewhere.example/whoami")
    answer = client.get(
        "/whoami", headers={"Authorization": f"DPoP {token}", "DPoP": proof, "Host": "elsewhere.example"}
    )
    assert_refused(answer, INVALID_PROOF, "The DPoP proof was made for another URL.")


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Example.COM:443/a/%7euser/%2f", "https://example.com/a/~user/%2F"),
        ("http://example.com", "http://example.com/"),
        ("http://[::1]:8001/x?y#z", "http://[::1]:8001/x"),
        ("ftp://example.com/x", None),
        ("http://user@example.com/x", None),
        ("http://example.com:99999/x", None),
        ("/whoami", None),
    ],
)
def test_urls_are_normalized_as_rfc_3986_says(url: str, normal: str | None) -> None:
    assert normalized_url(url) == normal


def test_only_asymmetric_algorithms_can_be_allowed() -> None:
    with pytest.raises(ValueError, match="DPoP algorithms"):
        ProofChecker(algorithms=["ES256", "HS256"])
    assert not {"none", "HS256", "HS384", "HS512"} & set(ALGORITHMS)
