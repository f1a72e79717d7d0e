"""DPoP proofs (RFC 9449) as a client makes them, with a key pair of the test's own, each with
only the asked-for thing wrong, and access tokens bound to such a key."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from jwt.algorithms import get_default_algorithms

from tests.helpers.forgery import MISSING, live_session
from tokens import codec
from users.models import User

URL = "http://testserver/tasks/"  # where the API tests' requests go, as Django's test client builds it
CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
# RFC 7638 §3.2, written out here so that the thumbprint under test is checked against another.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def private_key(algorithm: str, rsa_bits: int = 2048) -> Any:
    """A fresh private key of the kind ``algorithm`` signs with."""
    if algorithm in CURVES:
        return ec.generate_private_key(CURVES[algorithm]())
    if algorithm[:2] in {"RS", "PS"}:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm in {"EdDSA", "Ed25519"}:
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(algorithm)


@dataclass(frozen=True)
class ProofKey:
    """A client's DPoP key pair, and the proofs it signs."""

    private: Any
    algorithm: str = "ES256"

    @classmethod
    def generate(cls, algorithm: str = "ES256", rsa_bits: int = 2048) -> "ProofKey":
        return cls(private_key(algorithm, rsa_bits), algorithm)

    @property
    def signer(self) -> Any:
        return get_default_algorithms()["EdDSA" if self.algorithm == "Ed25519" else self.algorithm]

    @property
    def jwk(self) -> dict[str, Any]:
        """The public key, as a proof's header carries it."""
        return dict(self.signer.to_jwk(self.private.public_key(), as_dict=True))

    @property
    def private_jwk(self) -> dict[str, Any]:
        return dict(self.signer.to_jwk(self.private, as_dict=True))

    @property
    def thumbprint(self) -> str:
        jwk = self.jwk
        members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
        return b64url(hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest())

    def proof(
        self,
        *,
        method: str = "GET",
        url: str = URL,
        access_token: str | None = None,
        header: dict[str, Any] | None = None,
        signed_by: "ProofKey | None" = None,
        **claims: Any,
    ) -> str:
        """A proof for a ``method`` request to ``url`` (and ``access_token``: its ``ath``).

        ``header`` and ``claims`` change the header's members and the claims (MISSING leaves
        one out); ``signed_by`` signs with another key while the header still carries ours.
        """
        full_header = {"typ": "dpop+jwt", "alg": self.algorithm, "jwk": self.jwk, **(header or {})}
        payload = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
            **({"ath": ath(access_token)} if access_token is not None else {}),
            **claims,
        }
        return signed(
            {name: value for name, value in full_header.items() if value is not MISSING},
            {name: value for name, value in payload.items() if value is not MISSING},
            signed_by or self,
        )


def signed(header: dict[str, Any], payload: Any, key: ProofKey) -> str:
    """Exactly this header and payload, signed by ``key`` whatever the header's ``alg`` says."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    signature = key.signer.sign(signing_input.encode(), key.private)
    return f"{signing_input}.{b64url(signature)}"


def ath(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def parts(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = proof.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
    )


def unsigned(proof: str) -> str:
    """``proof`` with ``alg: none`` and no signature (RFC 7519 §6)."""
    header, payload = parts(proof)
    return f"{b64url_json({**header, 'alg': 'none'})}.{b64url_json(payload)}."


def hmac_signed(proof: str, secret: bytes) -> str:
    """``proof`` re-signed HS256 with ``secret``, its header's ``jwk`` an ``oct`` key holding it:
    a proof anyone who reads it could sign again."""
    header, payload = parts(proof)
    jwk = {"kty": "oct", "k": b64url(secret)}
    signing_input = f"{b64url_json({**header, 'alg': 'HS256', 'jwk': jwk})}.{b64url_json(payload)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def signature_flipped(proof: str) -> str:
    header, payload, signature = proof.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def bound_token(user: User, jkt: str, **claims: Any) -> str:
    """An access token of a live session of ``user``, bound to the key of thumbprint ``jkt``,
    as the login will issue it (the real signing key and codec)."""
    extra = {
        "sid": live_session(user),
        "gen": user.token_generation,
        "client_id": settings.DEFAULT_CLIENT_ID,
        "cnf": {"jkt": jkt},
        **claims,
    }
    return codec.encode(user_id=user.pk, token_use="access", ttl=settings.JWT_ACCESS_TTL, extra=extra).token
