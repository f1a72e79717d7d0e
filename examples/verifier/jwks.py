"""The issuer's public keys: its JWK Set (RFC 7517), fetched over HTTP and cached.

What a service must get right when it verifies with keys another service publishes:

- The keys come from the one configured URL. A redirect is a failed fetch, never followed:
  whoever can make that URL answer a 3xx must not be able to choose our keys. Every fetch has
  a deadline and reads at most MAX_JWKS_BYTES, so a slow or huge answer cannot stall us.
- A key is kept only if it is a public signature key of an asymmetric algorithm we know,
  named by its own ``alg`` and consistent with its ``kty`` (and curve): a token never picks
  the algorithm (RFC 8725 §3.1), so a public key is never taken for an HMAC secret, and
  ``none`` has no key at all. Keys without a ``kid`` are dropped, and so is a ``kid`` that
  names two keys: a token says which key signed it, and that must be unambiguous.
- The set is cached for ``ttl`` seconds. A token naming a kid the cache lacks forces an early
  fetch (the issuer may just have rotated its key), but no fetch, whatever its reason,
  starts less than ``min_interval`` seconds after the previous one: a flood of made-up kids
  costs the issuer one request per interval, not one per token.
- A failed fetch keeps the last good set until it is ``max_stale`` seconds old, so a short
  outage of the issuer does not lock every user out. With no set that recent (none fetched
  yet, or the issuer unreachable too long), the keys are unavailable: KeysUnavailable, which
  the app answers with 503, since the token may well be good.

PyJWT's PyJWKClient fetches and caches too, but with urllib: it follows redirects, has no
size limit, and does not rate-limit refetches; hence this module.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import OKPAlgorithm, get_default_algorithms

from examples.verifier.remote import RemoteError, issuer_client, request_json

logger = logging.getLogger(__name__)

# Each algorithm we verify, with the key type (and curves) its JWK must have (RFC 7518 §3.1,
# RFC 8037 §3.1). HMAC (HS*) is absent on purpose: a published key is public, not a secret.
ALGORITHM_KEYS: dict[str, tuple[str, frozenset[str] | None]] = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), ("RSA", None)),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),  # RFC 9864's name for EdDSA on Ed25519
}
# PyJWT knows EdDSA on Ed25519 as "EdDSA" only, unless a newer release knows RFC 9864's name:
# jwt.decode gets the same algorithm under that name too (which key it may verify with is
# the JWK's curve, checked above), and PyJWK builds the key under the name it knows.
try:
    jwt.get_algorithm_by_name("Ed25519")
except NotImplementedError:
    jwt.register_algorithm("Ed25519", OKPAlgorithm())
PYJWK_NAMES = {"Ed25519": "EdDSA"} if "Ed25519" not in get_default_algorithms() else {}
RSA_MIN_BITS = 2048  # RFC 7518 §3.3
# Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1): a set
# publishing one is broken, and we do not use its keys.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 100


class JwksError(RemoteError):
    """An answer that is not a usable JWK Set. The message is for the log."""


class KeysUnavailable(Exception):
    """No key set recent enough to verify with: the issuer cannot be reached, or answers garbage."""


@dataclass(frozen=True)
class VerifyingKey:
    kid: str
    algorithm: str
    public_key: Any  # a cryptography public key object: what jwt.decode verifies with


def parse_jwk(jwk: object) -> VerifyingKey:
    """The verifying key a JWK describes, or JwksError saying why it is not one we use."""
    if not isinstance(jwk, dict):
        raise JwksError("a key is not a JSON object")
    kid, algorithm = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str) or not kid:
        raise JwksError("a key has no kid")
    if not isinstance(algorithm, str) or algorithm not in ALGORITHM_KEYS:
        raise JwksError(f"key {kid}: algorithm {algorithm!r} is not one we verify")
    key_type, curves = ALGORITHM_KEYS[algorithm]
    if jwk.get("kty") != key_type or (curves is not None and jwk.get("crv") not in curves):
        raise JwksError(f"key {kid}: {jwk.get('kty')!r} {jwk.get('crv') or ''} does not fit {algorithm}")
    if jwk.get("use", "sig") != "sig":
        raise JwksError(f"key {kid}: not a signature key (use {jwk.get('use')!r})")
    operations = jwk.get("key_ops")
    if operations is not None and (not isinstance(operations, list) or "verify" not in operations):
        raise JwksError(f"key {kid}: key_ops {operations!r} does not allow verify")
    if PRIVATE_MEMBERS & jwk.keys():
        raise JwksError(f"key {kid}: private key material is published")
    try:
        public_key = jwt.PyJWK(jwk, algorithm=PYJWK_NAMES.get(algorithm, algorithm)).key
    except Exception as exc:  # hostile input may reach any corner of a key parser
        raise JwksError(f"key {kid}: {exc}") from exc
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < RSA_MIN_BITS:
        raise JwksError(f"key {kid}: {public_key.key_size}-bit RSA is too weak")
    return VerifyingKey(kid=kid, algorithm=algorithm, public_key=public_key)


def parse_jwks(document: object) -> dict[str, VerifyingKey]:
    """The usable keys of a JWK Set by kid. Keys we cannot use are skipped (RFC 7517 §5)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JWK Set: no 'keys' list")
    if len(document["keys"]) > MAX_KEYS:
        raise JwksError(f"a JWK Set of {len(document['keys'])} keys (at most {MAX_KEYS})")
    found: dict[str, VerifyingKey] = {}
    ambiguous: set[str] = set()
    for jwk in document["keys"]:
        try:
            key = parse_jwk(jwk)
        except JwksError as exc:
            logger.warning("skipping a key of the JWK Set: %s", exc)
            continue
        if key.kid in found:
            ambiguous.add(key.kid)
        found[key.kid] = key
    for kid in ambiguous:
        logger.warning("skipping kid %s of the JWK Set: it names more than one key", kid)
        del found[kid]
    return found


def fetch_jwks(client: httpx.Client, url: str, *, timeout: float) -> dict[str, VerifyingKey]:
    """GET ``url`` with ``client`` (which must not follow redirects) and parse the JWK Set."""
    return parse_jwks(request_json(client, "GET", url, timeout=timeout, max_bytes=MAX_JWKS_BYTES))


class JwksCache:
    """The issuer's keys by kid, fetched from ``url`` when stale or asked for a kid they lack.

    Thread-safe: a fetch happens under a lock, so the threads that need one wait for one
    fetch rather than make their own (for at most ``timeout``, if the issuer hangs).
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 60.0,
        timeout: float = 2.0,
        min_interval: float = 1.0,
        max_stale: float = 3600.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < min_interval <= ttl <= max_stale:
            raise ValueError("the JWKS intervals must satisfy 0 < min_interval <= ttl <= max_stale")
        if timeout <= 0:
            raise ValueError("the JWKS timeout must be positive")
        self.url, self.ttl, self.timeout = url, ttl, timeout
        self.min_interval, self.max_stale = min_interval, max_stale
        self._client = issuer_client(timeout=timeout, transport=transport)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: Mapping[str, VerifyingKey] = {}
        self._fetched_at: float | None = None  # when the keys we hold were fetched
        self._next_fetch = float("-inf")  # no fetch starts before this

    def key(self, kid: str) -> VerifyingKey | None:
        """The key named ``kid``, None if the issuer does not publish it; KeysUnavailable."""
        with self._lock:
            now = self._clock()
            fresh = self._fetched_at is not None and now < self._fetched_at + self.ttl
            if (not fresh or kid not in self._keys) and now >= self._next_fetch:
                try:
                    self._keys = fetch_jwks(self._client, self.url, timeout=self.timeout)
                    self._fetched_at = now
                except RemoteError as exc:
                    logger.warning("could not fetch the issuer's keys: %s", exc)
                finally:
                    # Counted from the end: threads that queued behind a slow fetch must
                    # not each start another one.
                    self._next_fetch = self._clock() + self.min_interval
            if self._fetched_at is None or self._clock() >= self._fetched_at + self.max_stale:
                raise KeysUnavailable(f"no usable JWK Set from {self.url}")
            return self._keys.get(kid)

    def close(self) -> None:
        self._client.close()
