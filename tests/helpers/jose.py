"""Tokens as the task service signs them, and every way of getting one wrong that a second
service must refuse. Shared by the verifier's unit tests and its integration test, which
signs with the key the real service generated."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import get_default_algorithms

ISSUER = "taskservice"
AUDIENCE = "taskservice-api"
DROP = object()  # a claim or header given this value is left out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        signature,
    )


@dataclass(frozen=True)
class Signer:
    """Signs as the task service does: RS256, its kid, ``typ: at+jwt``, its claims."""

    private_key: rsa.RSAPrivateKey
    kid: str
    algorithm: str = "RS256"

    @classmethod
    def generate(cls, kid: str) -> "Signer":
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid)

    @classmethod
    def from_pem(cls, pem: bytes, kid: str) -> "Signer":
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(key, kid)

    def jwk(self) -> dict[str, Any]:
        jwk = get_default_algorithms()[self.algorithm].to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, *, typ: Any = "at+jwt", headers: dict[str, Any] | None = None, **changes: Any) -> str:
        """An access token with ``changes`` to its claims (DROP leaves one out)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "42",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
            **changes,
        }
        header = {"kid": self.kid, "typ": typ, **(headers or {})}
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not DROP},
            self.private_key,
            algorithm=self.algorithm,
            headers={k: v for k, v in header.items() if v is not DROP},
        )


def with_payload(token: str, **changes: Any) -> str:
    """``token`` with its claims changed and its header and signature kept."""
    header, payload, signature = token.split(".")
    _, claims, _ = parts(token)
    changed = b64url_json({**claims, **changes})
    assert changed != payload, "the change must change the payload"
    return f"{header}.{changed}.{signature}"


def with_signature_flipped(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def hs256_with_public_key(token: str, public_pem: bytes) -> str:
    """``token`` re-signed HS256 with the public key as the secret: algorithm confusion.

    Made by hand: PyJWT itself refuses a PEM as an HMAC secret.
    """
    header, claims, _ = parts(token)
    signing_input = f"{b64url_json({**header, 'alg': 'HS256'})}.{b64url_json(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned(token: str) -> str:
    """``token`` with ``alg: none`` and no signature (RFC 7519 §6)."""
    header, claims, _ = parts(token)
    return f"{b64url_json({**header, 'alg': 'none'})}.{b64url_json(claims)}."


# Every way an access token must be refused, made from a genuine one (``token``, from the
# issuer) and a signer holding the issuer's own key: each is right in all but one thing. With
# each, the reason the verifier gives, so that a case refused by accident is caught.
Forge = Callable[[Signer, str], str]
BAD_SIGNATURE = "The token's signature is invalid."
BAD_ALGORITHM = "The token's algorithm is not accepted."
NOT_ACCESS = "This is not an access token."
NOT_YET = "The token is not valid yet."
MALFORMED = "The token is malformed."
REFUSED: dict[str, tuple[Forge, str]] = {
    "payload changed": (
        lambda signer, token: with_payload(token, sub=parts(token)[1]["sub"] + "0"),
        BAD_SIGNATURE,
    ),
    "signature changed": (lambda signer, token: with_signature_flipped(token), BAD_SIGNATURE),
    "another key under our kid": (lambda signer, token: Signer.generate(signer.kid).sign(), BAD_SIGNATURE),
    "HS256 keyed with the public key": (
        lambda signer, token: hs256_with_public_key(token, signer.public_pem()),
        BAD_ALGORITHM,
    ),
    "alg none": (lambda signer, token: unsigned(token), BAD_ALGORITHM),
    "wrong audience": (
        lambda signer, token: signer.sign(aud="another-api"),
        "The token is not meant for this service.",
    ),
    "wrong issuer": (
        lambda signer, token: signer.sign(iss="someone-else"),
        "The token was issued by someone else.",
    ),
    "expired": (
        lambda signer, token: signer.sign(
            iat=int(time.time()) - 3600, nbf=int(time.time()) - 3600, exp=int(time.time()) - 600
        ),
        "The token has expired.",
    ),
    "not valid yet": (lambda signer, token: signer.sign(nbf=int(time.time()) + 600), NOT_YET),
    "issued in the future": (lambda signer, token: signer.sign(iat=int(time.time()) + 600), NOT_YET),
    "a refresh token": (
        lambda signer, token: signer.sign(typ="refresh+jwt", token_use="refresh"),
        NOT_ACCESS,
    ),
    "typed access, used as refresh": (lambda signer, token: signer.sign(token_use="refresh"), NOT_ACCESS),
    "untyped": (lambda signer, token: signer.sign(typ=DROP), NOT_ACCESS),
    "no kid": (lambda signer, token: signer.sign(headers={"kid": DROP}), "The token does not name its key."),
    "an unknown kid": (
        lambda signer, token: signer.sign(headers={"kid": "no-such-key"}),
        "The token was not signed by any key the issuer publishes.",
    ),
    "names its own key (jku)": (
        lambda signer, token: signer.sign(headers={"jku": "https://elsewhere.example/jwks"}),
        "The token names its own key, which is never trusted.",
    ),
    "an unknown critical extension": (
        lambda signer, token: signer.sign(headers={"crit": ["exp"]}),
        MALFORMED,
    ),
    "no exp": (lambda signer, token: signer.sign(exp=DROP), "The token lacks the 'exp' claim."),
    "no sub": (lambda signer, token: signer.sign(sub=DROP), "The token lacks the 'sub' claim."),
    "exp as a string": (
        lambda signer, token: signer.sign(exp=str(int(time.time()) + 300)),
        "The token's 'exp' claim is not a number.",
    ),
    "not a JWT": (lambda signer, token: "not.a.jwt", MALFORMED),
}
