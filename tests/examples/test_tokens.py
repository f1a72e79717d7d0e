"""The verifier's token checks, with a key set served by an httpx mock transport."""

import json
import os
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import get_default_algorithms

from examples.verifier.jwks import JwksCache
from examples.verifier.tokens import AccessTokenVerifier, TokenRefused
from tests.helpers.jose import AUDIENCE, DROP, ISSUER, REFUSED, Forge, Signer, b64url_json, parts, unsigned
from tests.helpers.processes import ROOT

SIGNER = Signer.generate("rsa-1")


class Issuer:
    def __init__(self) -> None:
        self.fetches = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(200, json={"keys": [SIGNER.jwk()]})


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def verifier(issuer: Issuer) -> AccessTokenVerifier:
    keys = JwksCache("https://issuer.example/jwks", transport=httpx.MockTransport(issuer.handle))
    return AccessTokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE, leeway=30)


def test_an_access_token_of_the_issuer_is_accepted(verifier: AccessTokenVerifier) -> None:
    token = verifier.verify(SIGNER.sign(sub="7"))
    assert (token.subject, token.key_id, token.claims["aud"]) == ("7", "rsa-1", AUDIENCE)


def test_an_audience_list_holding_ours_is_accepted(verifier: AccessTokenVerifier) -> None:
    # RFC 7519 §4.1.3: aud may be an array; the token is for us if we are in it.
    assert verifier.verify(SIGNER.sign(aud=["another-api", AUDIENCE])).subject == "42"


def test_clock_skew_within_the_leeway_is_allowed(verifier: AccessTokenVerifier) -> None:
    now = int(time.time())
    assert verifier.verify(SIGNER.sign(iat=now - 320, nbf=now - 320, exp=now - 20)).subject == "42"
    assert verifier.verify(SIGNER.sign(iat=now + 20, nbf=now + 20, exp=now + 320)).subject == "42"


@pytest.mark.parametrize(("forge", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_a_forged_or_misused_token_is_refused(
    verifier: AccessTokenVerifier, forge: Forge, reason: str
) -> None:
    with pytest.raises(TokenRefused) as refused:
        verifier.verify(forge(SIGNER, SIGNER.sign()))
    assert str(refused.value) == reason


def test_an_algorithm_other_than_the_keys_is_refused(verifier: AccessTokenVerifier) -> None:
    # ES256 is an algorithm we accept, but not this key's: the key's alg decides (RFC 8725 §3.1).
    header, claims, signature = parts(SIGNER.sign())
    token = f"{b64url_json({**header, 'alg': 'ES256'})}.{b64url_json(claims)}.{signature}"
    with pytest.raises(TokenRefused, match="does not match its key"):
        verifier.verify(token)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(unsigned(SIGNER.sign()), id="alg none"),
        pytest.param(SIGNER.sign(headers={"kid": DROP}), id="no kid"),
        pytest.param(SIGNER.sign(typ="refresh+jwt", token_use="refresh"), id="a refresh token"),
        pytest.param("x" * 9000, id="too large"),
    ],
)
def test_a_token_refused_by_its_header_costs_no_fetch(
    verifier: AccessTokenVerifier, issuer: Issuer, token: str
) -> None:
    with pytest.raises(TokenRefused):
        verifier.verify(token)
    assert issuer.fetches == 0


@pytest.mark.parametrize("padding", ["==", "=", "!"])
def test_a_signature_spelled_otherwise_is_refused(verifier: AccessTokenVerifier, padding: str) -> None:
    # RFC 7515 §2: base64url without padding. A 2048-bit RSA signature is 342 characters, which
    # a base64 decoder would pad with "==": PyJWT accepts that spelling of the same token.
    token = SIGNER.sign()
    assert len(token.rsplit(".", 1)[1]) % 4 == 2
    assert verifier.verify(token).subject == "42"

    with pytest.raises(TokenRefused, match="malformed"):
        verifier.verify(token + padding)


# RFC 9864's "Ed25519", in a process of the verifier's own: this one has imported the task
# service's tokens.keys, which teaches PyJWT the name; the verifier must not depend on that.

VERIFY_ALONE = """
import json, sys
import httpx
from examples.verifier.jwks import JwksCache
from examples.verifier.tokens import AccessTokenVerifier
assert "tokens.keys" not in sys.modules
jwk, token, issuer, audience = json.loads(sys.argv[1]), *sys.argv[2:]
transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [jwk]}))
keys = JwksCache("https://issuer.example/jwks", transport=transport)
print(AccessTokenVerifier(keys=keys, issuer=issuer, audience=audience).verify(token).subject)
"""


def test_an_ed25519_token_is_accepted_by_the_verifier_alone() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = get_default_algorithms()["EdDSA"].to_jwk(private.public_key(), as_dict=True)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "7", "iat": now, "nbf": now, "exp": now + 300}
    token = jwt.encode(
        {**claims, "jti": "j", "token_use": "access"},
        private,
        algorithm="Ed25519",
        headers={"kid": "ed-1", "typ": "at+jwt"},
    )
    published = json.dumps({**jwk, "kid": "ed-1", "alg": "Ed25519", "use": "sig"})

    verified = subprocess.run(  # noqa: S603  our own interpreter and code
        [sys.executable, "-c", VERIFY_ALONE, published, token, ISSUER, AUDIENCE],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == "7"
