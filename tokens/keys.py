"""The key ring that signs and verifies JSON Web Tokens.

Every key has a ``kid`` and exactly one algorithm. The newest key of the configured
``JWT_ALGORITHM`` signs; every key in the ring verifies, so tokens signed before a key
rotation stay valid until their key is removed from the ring.

Where a key comes from, in order:
- ``JWT_SECRET`` (HMAC algorithms) or ``JWT_PRIVATE_KEY_FILE`` (a PEM private key);
- otherwise generated keys under ``var/jwt/``: ``<ALG>-<n>.pem`` (or ``.key`` for HMAC),
  the highest ``n`` signing. The first one is made on first start, atomically, so every
  worker and every restart agrees on it. ``manage.py rotate_jwt_key`` writes the next one.

Running workers pick up a rotation or a removal without a restart: ``key_ring()`` looks at
its sources (the key directory, and JWT_PRIVATE_KEY_FILE) at most once a second, and a
token naming a kid we do not know forces one early look, at most once a second per
process, so a key another process just wrote verifies at once while made-up kids cannot
make us rebuild per request. JWT_SECRET, being environment, changes with a restart only.
"""

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import Algorithm, OKPAlgorithm
from jwt.exceptions import InvalidKeyError

from api.statefiles import read_or_create

HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # minimum key bytes, RFC 7518 §3.2
EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
RSA_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
# The private keys each EdDSA algorithm signs with: "EdDSA" names no curve (RFC 8037 §3.1),
# "Ed25519" is RFC 9864's fully-specified name for EdDSA on Ed25519 alone.
OKP_KEYS: dict[str, tuple[type[ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey], ...]] = {
    "EdDSA": (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey),
    "Ed25519": (ed25519.Ed25519PrivateKey,),
}
ALGORITHMS = frozenset({*HMAC_ALGORITHMS, *EC_CURVES, *RSA_ALGORITHMS, *OKP_KEYS})
RSA_MIN_BITS = 2048  # RFC 7518 §3.3
KEY_FILE = re.compile(r"^(?P<alg>[A-Za-z0-9]+)-(?P<seq>\d{1,9})\.(?:pem|key)$")
MAX_SEQ = 999_999_999  # KEY_FILE's nine digits
# How stale a worker's ring may be: the longest a rotation or a removal takes to be seen.
RECHECK_SECONDS = 1.0

logger = logging.getLogger(__name__)


class Ed25519Algorithm(OKPAlgorithm):
    """RFC 9864's "Ed25519": PyJWT's EdDSA, refusing any key but an Ed25519 one (PyJWT's
    "EdDSA" takes Ed448 keys too)."""

    def prepare_key(self, key: Any) -> Any:
        prepared = super().prepare_key(key)
        if not isinstance(prepared, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            raise InvalidKeyError("Ed25519 takes Ed25519 keys only")
        return prepared

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> Any:
        key = OKPAlgorithm.from_jwk(jwk)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            raise InvalidKeyError("Ed25519 takes Ed25519 keys only")
        return key


# Once, here, for the whole process: on PyJWT's global JWS object, which jwt.encode and
# jwt.decode use. A PyJWT that knows the name itself is left to its own algorithm.
try:
    jwt.get_algorithm_by_name("Ed25519")
except NotImplementedError:
    jwt.register_algorithm("Ed25519", Ed25519Algorithm())


def jws_algorithm(algorithm: str) -> Algorithm:
    """PyJWT's algorithm object for ``algorithm``, "Ed25519" included."""
    return jwt.get_algorithm_by_name(algorithm)


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
        jwk: dict[str, Any] = jws_algorithm(self.algorithm).to_jwk(self.public, as_dict=True)
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
    elif algorithm in OKP_KEYS:
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
    elif algorithm in OKP_KEYS:
        fits = isinstance(private, OKP_KEYS[algorithm])
    else:
        raise ImproperlyConfigured(f"{source}: unsupported JWT algorithm {algorithm!r}")
    if not fits:
        raise ImproperlyConfigured(f"{source}: the key does not fit {algorithm}")
    public = private.public_key()
    jwk = jws_algorithm(algorithm).to_jwk(public, as_dict=True)
    return SigningKey(kid=jwk_thumbprint(jwk), algorithm=algorithm, private=private, public=public)


def generated_keys(key_dir: Path) -> list[tuple[int, str, Path]]:
    """``(seq, algorithm, path)`` of every generated key file, oldest first."""
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
    if not any(alg == algorithm for _, alg, _ in generated_keys(key_dir)):
        read_or_create(generated_key_path(key_dir, algorithm, 1), lambda: generate_key_material(algorithm))


def ensure_signing_key() -> None:
    """Make the first generated key of JWT_ALGORITHM, unless the signing key is configured."""
    if not (settings.JWT_SECRET or settings.JWT_PRIVATE_KEY_FILE):
        ensure_generated_key(settings.JWT_KEY_DIR, settings.JWT_ALGORITHM)


def load_generated_key(algorithm: str, path: Path) -> SigningKey:
    material = path.read_bytes()
    return load_key(
        algorithm, material.strip() if algorithm in HMAC_ALGORITHMS else material, source=str(path)
    )


def write_next_generated_key(key_dir: Path, algorithm: str) -> tuple[Path, SigningKey]:
    """Write a new key of ``algorithm`` numbered after every existing one; return it and its file.

    The file appears atomically with mode 0600 (``read_or_create``). Of two rotations racing
    for one number, the one whose bytes did not land takes the next number, so each ends
    with a key of its own.
    """
    if algorithm not in ALGORITHMS:
        raise ImproperlyConfigured(f"unsupported JWT algorithm {algorithm!r}")
    material = generate_key_material(algorithm)  # once: RSA generation takes a second
    for _ in range(100):
        seq = max((seq for seq, _, _ in generated_keys(key_dir)), default=0) + 1
        if seq > MAX_SEQ:
            raise ImproperlyConfigured(f"{key_dir}: key numbers are exhausted (at most {MAX_SEQ})")
        path = generated_key_path(key_dir, algorithm, seq)
        if read_or_create(path, lambda: material) == material:
            return path, load_generated_key(algorithm, path)
    raise ImproperlyConfigured(f"{key_dir}: could not claim a key number; is another rotation looping?")


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
    for _, alg, path in generated_keys(key_dir):
        if alg not in ALGORITHMS:
            continue
        try:
            key = load_generated_key(alg, path)  # the file name fixes its one algorithm (RFC 8725 §3.1)
        except FileNotFoundError:
            continue  # removed since we listed the directory: it no longer verifies anyway
        verifying[key.kid] = key
        if configured is None and alg == algorithm:
            signing = key  # sorted by sequence: the last one of our algorithm is the newest
    assert signing is not None  # noqa: S101  ensure_generated_key made one
    verifying[signing.kid] = signing
    return KeyRing(signing=signing, verifying=verifying)


def key_source_state() -> tuple[object, ...]:
    """A cheap summary of what the ring is built from; when it changes, the ring is rebuilt.

    The settings that pick the keys; the key directory's mtime_ns and key file names (adding,
    removing or renaming a file changes both; the names alone still tell changes apart on
    file systems with coarse timestamps); and a stat of JWT_PRIVATE_KEY_FILE, so a replaced
    configured key (written elsewhere and renamed into place) is seen too.
    """
    key_dir = Path(settings.JWT_KEY_DIR)
    try:
        mtime: int | None = key_dir.stat().st_mtime_ns
        with os.scandir(key_dir) as entries:
            names: frozenset[str] | None = frozenset(e.name for e in entries if KEY_FILE.match(e.name))
    except OSError:
        mtime, names = None, None
    key_file = settings.JWT_PRIVATE_KEY_FILE
    key_file_state: object = None
    if key_file:
        try:
            found = os.stat(key_file)
            key_file_state = (found.st_dev, found.st_ino, found.st_mtime_ns, found.st_size)
        except OSError as exc:
            key_file_state = exc.errno
    configured = (settings.JWT_ALGORITHM, str(key_dir), settings.JWT_SECRET, str(key_file or ""))
    return (*configured, mtime, names, key_file_state)


class CachedKeyRing:
    """``key_ring()``: the ring, rebuilt when ``key_source_state()`` changes.

    The hot path is one clock comparison: the sources are looked at (one stat and one
    directory listing) at most once every RECHECK_SECONDS, and the ring rebuilt only when
    they changed. ``recheck()`` looks at once, at most once a second, for a kid we do not
    know. Looks happen under a lock, so the threads of a worker build a new ring once and
    wait for it rather than use the one it replaces.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The ring and the time of the next look, in one tuple: a thread reads both at once.
        self._current: tuple[KeyRing, float] | None = None
        self._state: tuple[object, ...] | None = None
        self._next_recheck = float("-inf")
        if hasattr(os, "register_at_fork"):
            # A fork while another thread held the lock would leave the child's copy held forever.
            os.register_at_fork(after_in_child=self._after_fork)

    def __call__(self) -> KeyRing:
        current = self._current
        if current is not None and monotonic() < current[1]:
            return current[0]
        with self._lock:
            now = monotonic()
            current = self._current
            if current is not None and now < current[1]:
                return current[0]  # another thread looked while we waited for the lock
            return self._refresh(now)

    def recheck(self) -> KeyRing | None:
        """The ring as the sources are now, or None if this process did so less than a second ago."""
        if monotonic() < self._next_recheck:
            return None
        with self._lock:
            now = monotonic()
            if now < self._next_recheck:
                return None
            self._next_recheck = now + RECHECK_SECONDS
            return self._refresh(now)

    def cache_clear(self) -> None:
        """Forget the ring: the next call builds it afresh (like ``functools.cache``)."""
        with self._lock:
            self._current, self._state = None, None
            self._next_recheck = float("-inf")

    def _refresh(self, now: float) -> KeyRing:
        """Look at the sources and rebuild the ring if they changed. The caller holds the lock."""
        previous = self._current[0] if self._current is not None else None
        if previous is None:
            # Made before the look, so that making it does not count as a change to reload.
            ensure_signing_key()
        # The state is read before the build: a change made during the build then differs
        # from the state we keep, and is picked up by the next look rather than lost.
        state = key_source_state()
        if previous is not None and state == self._state:
            self._current = (previous, now + RECHECK_SECONDS)
            return previous
        try:
            ring = build_key_ring()
        except Exception:
            if previous is None:
                raise  # nothing to fall back on: at start, a bad key must stop the service
            # A half-copied or corrupt key file must not take down a running service: keep
            # the ring that works, say so, and try again at the next look (the state is not
            # kept, so the next look rebuilds even if the directory did not change).
            logger.exception("could not reload the JWT keys; still using the previous ones")
            self._current = (previous, now + RECHECK_SECONDS)
            return previous
        if previous is not None and (previous.signing.kid, previous.verifying.keys()) != (
            ring.signing.kid,
            ring.verifying.keys(),
        ):
            logger.info(
                "JWT keys reloaded: %s key %s signs, %d keys verify",
                ring.signing.algorithm,
                ring.signing.kid,
                len(ring.verifying),
            )
        self._current, self._state = (ring, now + RECHECK_SECONDS), state
        return ring

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


key_ring: Final = CachedKeyRing()


def find_verifying_key(kid: str) -> SigningKey | None:
    """The key named ``kid`` in the ring, or None.

    An unknown kid may be a key another process has just written: look at the key directory
    again before refusing it, at most once a second, so made-up kids cost no rebuilds.
    """
    key = key_ring().verifying.get(kid)
    if key is None and (ring := key_ring.recheck()) is not None:
        key = ring.verifying.get(kid)
    return key
