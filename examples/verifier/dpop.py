"""DPoP proofs (RFC 9449): a token bound to a key is accepted only from whoever holds the key.

A DPoP-bound access token carries the RFC 7638 thumbprint of its client's public key
(``cnf.jkt``, §6.1) and comes as ``Authorization: DPoP <token>`` with a ``DPoP: <proof>``
header: a JWT the client signed, for this one request, with the private half of that key,
the public half riding in the proof's header. A thief of the token alone cannot make one.

``ProofChecker.check`` makes the checks of §4.3, with joserfc: a JOSE library other than
the PyJWT the token checks use (and nothing of the task service's own code), so that a
flaw in one is not silently shared by the other. The order: the header (type, algorithm,
a public key of a type that fits it), the signature, then the claims (method, URL, age,
the access token's hash), the key's thumbprint against the token's, and last the ``jti``,
remembered so that no proof is accepted twice (§11.1).

The ``jti`` store is this process's memory (``SeenProofs``): enough for one process, as
this example runs. Behind several processes or machines a replayed proof sent to another
one would be accepted; such a service keeps them in a store all of them share (Redis's
SET NX with an expiry, as the task service does).
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwk, jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from examples.verifier.jwks import PRIVATE_MEMBERS, RSA_MIN_BITS
from examples.verifier.tokens import is_canonical_jws

PROOF_TYPE = "dpop+jwt"  # §4.2
# Asymmetric algorithms only (§4.3 step 5): a proof is checked with the key it carries, so
# an HMAC one would prove nothing, and "none" nothing at all. Ed25519 is RFC 9864's name
# for what EdDSA names with an Ed25519 key.
ALGORITHMS = (
    *("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"),
    *("Ed25519", "EdDSA"),
)
REQUIRED_CLAIMS = ("jti", "htm", "htu", "iat", "ath")  # §4.2; ath, since a token always comes along
# Headers naming a key other than ``jwk``: the proof's key is the one it carries, and only that.
OTHER_KEY_HEADERS = frozenset({"jku", "x5u", "x5c", "kid"})
MAX_PROOF_BYTES = 8192
MAX_JTI_LENGTH = 256
DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 §2.3: the unreserved characters, which a normalized URL never percent-encodes.
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


class ProofRefused(Exception):
    """The proof must not be accepted (``invalid_dpop_proof``). The message is safe to show."""


class ProofsUnavailable(Exception):
    """Too many proofs to remember: a new one cannot be told from a replay, so none is accepted."""


class _Registry(JWSRegistry):
    # joserfc's default bounds a header to 512 bytes: too few for a proof carrying an RSA key.
    max_header_length = 4096


REGISTRY = _Registry(algorithms=ALGORITHMS)


class SeenProofs:
    """The proofs accepted in the last ``window`` seconds, by key and ``jti``: in this process.

    Bounded: when ``max_entries`` proofs younger than the window are held, a new one is
    ProofsUnavailable rather than forgetting one that could then be replayed.
    """

    def __init__(
        self, *, window: float, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window, self.max_entries = window, max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._until: OrderedDict[bytes, float] = OrderedDict()  # oldest first

    def first_use(self, thumbprint: str, jti: str) -> bool:
        """Whether the proof ``jti`` of key ``thumbprint`` is new; from now on it is not."""
        key = hashlib.sha256(f"{thumbprint}:{jti}".encode()).digest()
        with self._lock:
            now = self._clock()
            while self._until and next(iter(self._until.values())) <= now:
                self._until.popitem(last=False)
            if key in self._until:
                return False
            if len(self._until) >= self.max_entries:
                raise ProofsUnavailable(f"{len(self._until)} proofs younger than {self.window} s are held")
            self._until[key] = now + self.window
            return True


class ProofChecker:
    """Checks DPoP proofs for the requests of bound tokens (RFC 9449 §4.3, §7.1).

    A proof is accepted from ``max_age`` seconds before now to ``leeway`` seconds after
    (the client's clock may run ahead), and remembered for as long.
    """

    def __init__(
        self,
        *,
        max_age: float = 60.0,
        leeway: float = 5.0,
        algorithms: Collection[str] = ALGORITHMS,
        seen: SeenProofs | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not set(algorithms) <= set(ALGORITHMS):
            raise ValueError(f"DPoP algorithms must be among {', '.join(ALGORITHMS)}")
        self.max_age, self.leeway, self.algorithms = max_age, leeway, tuple(algorithms)
        self.seen = seen or SeenProofs(window=max_age + leeway)
        self._wall_clock = wall_clock

    def check(self, proof: str, *, method: str, url: str, access_token: str, thumbprint: str) -> None:
        """Accept ``proof`` for ``method url`` with ``access_token``, bound to key ``thumbprint``;
        or ProofRefused (ProofsUnavailable when no more proofs can be remembered)."""
        if len(proof) > MAX_PROOF_BYTES or not is_canonical_jws(proof):
            raise ProofRefused("The DPoP proof is malformed.")
        try:
            signed = jws.extract_compact(proof.encode("ascii"), registry=REGISTRY)
        except JoseError as exc:
            raise ProofRefused("The DPoP proof is malformed.") from exc
        header = signed.headers()
        key = self._key(header)
        try:
            if not jws.validate_compact(signed, key, registry=REGISTRY):
                raise ProofRefused("The DPoP proof's signature is invalid.")
        except JoseError as exc:
            raise ProofRefused("The DPoP proof is malformed.") from exc
        claims = _claims(signed.payload)
        self._check_claims(claims, method=method, url=url, access_token=access_token)
        # §4.3 step 12: the proof's key must be the one the token is bound to.
        if not hmac.compare_digest(key.thumbprint(), thumbprint):
            raise ProofRefused("The DPoP proof is not signed by the key this token is bound to.")
        if not self.seen.first_use(thumbprint, claims["jti"]):
            raise ProofRefused("This DPoP proof was already used: make a new one for each request.")

    def _key(self, header: dict[str, Any]) -> jwk.Key:
        """The public key the proof's header carries, checked against its algorithm (§4.3 steps 4-7)."""
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
            raise ProofRefused("This is not a DPoP proof (typ must be dpop+jwt).")
        if header.get("alg") not in self.algorithms:
            raise ProofRefused("The DPoP proof's algorithm is not accepted.")
        if "crit" in header or "b64" in header:
            # RFC 7515 §4.1.11: we understand no extensions; RFC 7797's b64 would make it no JWT.
            raise ProofRefused("The DPoP proof has header parameters we do not accept.")
        if OTHER_KEY_HEADERS & header.keys():
            raise ProofRefused("The DPoP proof must carry its key in jwk, and name no other.")
        public = header.get("jwk")
        if not isinstance(public, dict):
            raise ProofRefused("The DPoP proof does not carry its public key (jwk).")
        if PRIVATE_MEMBERS & public.keys():
            raise ProofRefused("The DPoP proof's jwk is not a public key.")
        try:
            key = jwk.import_key(public)
            REGISTRY.algorithms[header["alg"]].check_key(key)
        except (
            JoseError,
            ValueError,
            TypeError,
        ) as exc:  # hostile input may reach any corner of a key parser
            raise ProofRefused("The DPoP proof's jwk does not fit its algorithm.") from exc
        if key.is_private:
            raise ProofRefused("The DPoP proof's jwk is not a public key.")
        size = getattr(key.raw_value, "key_size", None)
        if key.key_type == "RSA" and (size is None or size < RSA_MIN_BITS):
            raise ProofRefused(f"The DPoP proof's RSA key is too weak (at least {RSA_MIN_BITS} bits).")
        return key

    def _check_claims(self, claims: dict[str, Any], *, method: str, url: str, access_token: str) -> None:
        for name in REQUIRED_CLAIMS:
            if name not in claims:
                raise ProofRefused(f"The DPoP proof lacks the {name!r} claim.")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise ProofRefused("The DPoP proof's 'jti' claim is malformed.")
        if claims["htm"] != method:  # §4.3 step 8
            raise ProofRefused("The DPoP proof was made for another HTTP method.")
        htu = claims["htu"]
        expected = normalized_url(url)
        # §4.3 step 9: the URL without its query and fragment, both normalized (RFC 3986 §6.2.2, §6.2.3).
        if not isinstance(htu, str) or expected is None or normalized_url(htu) != expected:
            raise ProofRefused("The DPoP proof was made for another URL.")
        issued = claims["iat"]
        if isinstance(issued, bool) or not isinstance(issued, int | float):
            raise ProofRefused("The DPoP proof's 'iat' claim is not a number.")
        now = self._wall_clock()
        if not now - self.max_age <= issued <= now + self.leeway:  # §4.3 step 11
            raise ProofRefused("The DPoP proof is too old, or made in the future: make a new one.")
        # §4.3 step 12: the proof is for this access token, by the hash of it (§4.2).
        ath = claims["ath"]
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode(), token_hash(access_token).encode()
        ):
            raise ProofRefused("The DPoP proof was made for another access token (ath).")


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise ProofRefused("The DPoP proof is malformed.") from exc
    if not isinstance(claims, dict):
        raise ProofRefused("The DPoP proof is malformed.")
    return claims


def token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the token's ASCII (RFC 9449 §4.2)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalized_url(url: str) -> str | None:
    """``url`` without query and fragment, normalized as RFC 3986 §6.2.2 and §6.2.3 say (case,
    percent-encoding, default port, empty path); None if it is not an http(s) URL to a host.

    Dot segments are not removed: a proof naming ``/a/../whoami`` is refused, not accepted.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # urlsplit lowercases it
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{PERCENT_ENCODED.sub(_normal_escape, parts.path) or '/'}"


def _normal_escape(escape: re.Match[str]) -> str:
    """A percent-encoded octet as §6.2.2.1 and §6.2.2.2 write it: uppercase, or decoded if unreserved."""
    try:
        character = binascii.unhexlify(escape[0][1:]).decode("ascii")
    except UnicodeDecodeError:
        return escape[0].upper()
    return character if character in UNRESERVED else escape[0].upper()
