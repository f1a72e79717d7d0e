"""The key ring under a test's own directory, a clock for it, and tokens as another key signs them."""

import secrets
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from rest_framework.test import APIClient

from tokens.keys import (
    HMAC_ALGORITHMS,
    RECHECK_SECONDS,
    KeyRing,
    SigningKey,
    generate_key_material,
    generated_key_path,
    key_ring,
    load_generated_key,
)


def pem(private: Any, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def rebuilt_ring() -> KeyRing:
    key_ring.cache_clear()
    return key_ring()


class Clock:
    """Stands in for the monotonic clock of ``tokens.keys``: time passes only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = RECHECK_SECONDS) -> None:
        self.now += seconds


def resign(token: str, key: SigningKey, kid: str | None = None) -> str:
    """``token``'s header and claims signed by ``key``: a token as that key would have issued it.

    With ``kid``, the header names that kid instead of the key's own.
    """
    header = jwt.get_unverified_header(token) | {"kid": kid or key.kid, "alg": key.algorithm}
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, key.private, algorithm=key.algorithm, headers=header)


def write_key(key_dir: Path, algorithm: str, seq: int) -> SigningKey:
    """A key file as another process (a rotation elsewhere) would write it."""
    key_dir.mkdir(mode=0o700, exist_ok=True)
    path = generated_key_path(key_dir, algorithm, seq)
    material = secrets.token_urlsafe(64).encode() if algorithm in HMAC_ALGORITHMS else None
    path.write_bytes(material or generate_key_material(algorithm))
    return load_generated_key(algorithm, path)


def me(token: str) -> int:
    return int(APIClient().get("/users/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code)
