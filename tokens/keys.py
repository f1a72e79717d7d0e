"""The key ring that signs and verifies JSON Web Tokens.

Every key has a ``kid`` and exactly one algorithm. The newest key of the configured
``JWT_ALGORITHM`` signs; every key in the ring verifies, so tokens signed before a key
rotation stay valid until their key is removed from the ring.

Where a key comes from, in order:
- ``JWT_SECRET`` (HMAC algorithms) or ``JWT_PRIVATE_KEY_FILE`` (a PEM private key);
- otherwise generated keys under ``var/jwt/``: ``<ALG>-<n>.pem`` (or ``.key`` for HMAC),
  the highest ``n`` signing. The first one is made on first start, atomically, so every
  worker and every restart agrees on it.
"""

import base64
import functools
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import get_default_algorithms

from config.statefiles import read_or_create

HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # minimum key bytes, RFC 7518 §3.2
EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
RSA_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
ALGORITHMS = frozenset({*HMAC_ALGORITHMS, *EC_CURVES, *RSA_ALGORITHMS, "EdDSA"})
RSA_MIN_BITS = 2048  # RFC 7518 §3.3
KEY_FILE = re.compile(r"^(?P<alg>[A-Za-z0-9]+)-(?P<seq>\d{1,9})\.(?:pem|key)$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any  # what PyJWT signs with: a private key object, or the HMAC secret
    public: Any  # what PyJWT verifies with: a public key object, or the HMAC secret

    @property
    def is_hmac(self) -> bool:
        return self.algorithm in HMAC_ALGORITHMS

    def public_jwk(self) -> dict[str, Any] | None:
        """The RFC 7517 public JWK, or None for an HMAC key (which is never published)."""
        if self.is_hmac:
            return None
        jwk: dict[str, Any] = get_default_algorithms()[self.algorithm].to_jwk(self.public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True)
class KeyRing:
    signing: SigningKey
    verifying: dict[str, SigningKey]

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        keys = [jwk for key in self.verifying.values() if (jwk := key.public_jwk()) is not None]
        return {"keys": keys}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def generate_key_material(algorithm: str) -> bytes:
    """A new private key (PKCS#8 PEM) or HMAC secret for ``algorithm``."""
    if algorithm in HMAC_ALGORITHMS:
        return b64url(secrets.token_bytes(64)).encode()
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if algorithm in RSA_ALGORITHMS:
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    elif algorithm in EC_CURVES:
        private = ec.generate_private_key(EC_CURVES[algorithm]())
    elif algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ImproperlyConfigured(f"unsupported JWT algorithm {algorithm!r}")
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_key(algorithm: str, material: bytes, *, source: str) -> SigningKey:
    """Build a key from a secret or a PEM private key, refusing one that does not fit ``algorithm``."""
    if algorithm in HMAC_ALGORITHMS:
        if len(material) < HMAC_ALGORITHMS[algorithm]:
            raise ImproperlyConfigured(
                f"{source}: {algorithm} needs a secret of at least {HMAC_ALGORITHMS[algorithm]} bytes"
            )
        kid = b64url(hashlib.sha256(b"kid\0" + algorithm.encode() + b"\0" + material).digest()[:16])
        return SigningKey(kid=kid, algorithm=algorithm, private=material, public=material)
    try:
        private = serialization.load_pem_private_key(material, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source}: not an unencrypted PEM private key ({exc})") from exc
    if algorithm in RSA_ALGORITHMS:
        fits = isinstance(private, rsa.RSAPrivateKey) and private.key_size >= RSA_MIN_BITS
    elif algorithm in EC_CURVES:
        fits = isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(
            private.curve, EC_CURVES[algorithm]
        )
    else:
        fits = isinstance(private, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    if not fits:
        raise ImproperlyConfigured(f"{source}: the key does not fit {algorithm}")
    public = private.public_key()
    jwk = get_default_algorithms()[algorithm].to_jwk(public, as_dict=True)
    return SigningKey(kid=jwk_thumbprint(jwk), algorithm=algorithm, private=private, public=public)


def _generated_keys(key_dir: Path) -> list[tuple[int, str, Path]]:
    found = []
    if key_dir.is_dir():
        for path in key_dir.iterdir():
            if match := KEY_FILE.match(path.name):
                found.append((int(match["seq"]), match["alg"], path))
    return sorted(found)


def generated_key_path(key_dir: Path, algorithm: str, seq: int) -> Path:
    suffix = "key" if algorithm in HMAC_ALGORITHMS else "pem"
    return key_dir / f"{algorithm}-{seq}.{suffix}"


def ensure_generated_key(key_dir: Path, algorithm: str) -> None:
    """Make the first generated key of ``algorithm`` unless one exists (safe to race)."""
    if not any(alg == algorithm for _, alg, _ in _generated_keys(key_dir)):
        read_or_create(generated_key_path(key_dir, algorithm, 1), lambda: generate_key_material(algorithm))


def build_key_ring() -> KeyRing:
    algorithm: str = settings.JWT_ALGORITHM
    key_dir: Path = settings.JWT_KEY_DIR
    configured: SigningKey | None = None
    hmac = algorithm in HMAC_ALGORITHMS
    if settings.JWT_SECRET and not hmac:
        raise ImproperlyConfigured(f"JWT_SECRET is for the HMAC algorithms, not {algorithm}")
    if settings.JWT_PRIVATE_KEY_FILE and hmac:
        raise ImproperlyConfigured(f"JWT_PRIVATE_KEY_FILE is for the public-key algorithms, not {algorithm}")
    if settings.JWT_SECRET:
        configured = load_key(algorithm, settings.JWT_SECRET.encode(), source="JWT_SECRET")
    elif settings.JWT_PRIVATE_KEY_FILE:
        path = Path(settings.JWT_PRIVATE_KEY_FILE)
        try:
            material = path.read_bytes()
        except OSError as exc:
            raise ImproperlyConfigured(f"JWT_PRIVATE_KEY_FILE {path}: {exc.strerror}") from exc
        configured = load_key(algorithm, material, source=f"JWT_PRIVATE_KEY_FILE {path}")
    else:
        ensure_generated_key(key_dir, algorithm)

    verifying: dict[str, SigningKey] = {}
    signing = configured
    for _, alg, path in _generated_keys(key_dir):
        if alg not in ALGORITHMS:
            continue
        key = load_key(
            alg, path.read_bytes().strip() if alg in HMAC_ALGORITHMS else path.read_bytes(), source=str(path)
        )
        verifying[key.kid] = key
        if configured is None and alg == algorithm:
            signing = key  # sorted by sequence: the last one of our algorithm is the newest
    assert signing is not None  # noqa: S101  ensure_generated_key made one
    verifying[signing.kid] = signing
    return KeyRing(signing=signing, verifying=verifying)


@functools.cache
def key_ring() -> KeyRing:
    return build_key_ring()


def find_verifying_key(kid: str) -> SigningKey | None:
    """The key named ``kid`` in the ring, or None."""
    return key_ring().verifying.get(kid)
