"""DPoP proofs (RFC 9449 §4.2) as a client makes them, and made wrong on purpose.

Made with PyJWT and cryptography, and the thumbprint (RFC 7638) by hand: the verifier
example checks proofs with joserfc, so the two meet only in the standard.
"""

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from tests.helpers.jose import DROP, b64url, b64url_json, parts

# RFC 7638 §3.2 (and RFC 8037 §2 for OKP): the members a thumbprint covers.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
GENERATORS: dict[str, Any] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


def token_hash(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode()).digest())


@dataclass(frozen=True)
class ProofKey:
    """A client's DPoP key: it signs proofs, and its thumbprint is what a bound token names."""

    private_key: Any
    algorithm: str = "ES256"

    @classmethod
    def generate(cls, algorithm: str = "ES256") -> "ProofKey":
        return cls(GENERATORS[algorithm](), algorithm)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            get_default_algorithms()[self.algorithm].to_jwk(self.private_key.public_key())
        )
        return jwk

    def private_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(get_default_algorithms()[self.algorithm].to_jwk(self.private_key))
        return jwk

    def thumbprint(self) -> str:
        jwk = self.public_jwk()
        members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
        canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def confirmation(self) -> dict[str, str]:
        """The ``cnf`` claim of a token bound to this key (RFC 9449 §6.1)."""
        return {"jkt": self.thumbprint()}

    def proof(
        self,
        *,
        access_token: str | None,
        method: str = "GET",
        url: str = "http://localhost/whoami",
        headers: dict[str, Any] | None = None,
        **changes: Any,
    ) -> str:
        """A proof for ``method url`` with ``access_token``, with ``changes`` to its claims
        (DROP leaves one out) and ``headers`` to its header."""
        claims = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
            **({"ath": token_hash(access_token)} if access_token is not None else {}),
            **changes,
        }
        header = {"typ": "dpop+jwt", "jwk": self.public_jwk(), **(headers or {})}
        return jwt.api_jws.encode(
            json.dumps({k: v for k, v in claims.items() if v is not DROP}).encode(),
            self.private_key,
            algorithm=self.algorithm,
            headers={k: v for k, v in header.items() if v is not DROP},
        )


def unsigned(proof: str) -> str:
    """``proof`` with ``alg: none`` and no signature."""
    header, claims, _ = parts(proof)
    return f"{b64url_json({**header, 'alg': 'none'})}.{b64url_json(claims)}."


def hs256_keyed_with_the_jwk(proof: str) -> str:
    """``proof`` re-signed HS256 with its own public JWK (as JSON) as the secret."""
    header, claims, _ = parts(proof)
    signing_input = f"{b64url_json({**header, 'alg': 'HS256'})}.{b64url_json(claims)}"
    secret = json.dumps(header["jwk"], sort_keys=True).encode()
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def hs256_with_a_symmetric_jwk(proof: str) -> str:
    """A proof signed HS256 with a symmetric key it carries itself (``kty: oct``)."""
    header, claims, _ = parts(proof)
    secret = b"a-secret-anyone-can-read-in-the-header"
    jwk = {"kty": "oct", "k": b64url(secret)}
    signing_input = f"{b64url_json({**header, 'alg': 'HS256', 'jwk': jwk})}.{b64url_json(claims)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def with_claims(proof: str, **changes: Any) -> str:
    """``proof`` with its claims changed and its header and signature kept."""
    header, _, signature = proof.split(".")
    return f"{header}.{b64url_json({**parts(proof)[1], **changes})}.{signature}"
