"""DPoP proofs (RFC 9449): checking one, and remembering the ones already used.

A DPoP proof is a JWT a client signs for one request with a key it holds, the public half
of which rides in the proof's header (``jwk``). A token bound to that key (``cnf.jkt``,
§6.1) is accepted only with a fresh proof for the request at hand. ``proof_verify`` makes
every check of §4.3 and is the only place proofs are checked: the token endpoint binding a
new token and the API accepting a bound one call it alike.

Replays (§11.1) are refused by remembering each accepted proof's key and ``jti`` until the
proof is too old to be accepted anyway: in Redis when it is configured (one SET NX, seen
by every worker and instance at once), otherwise, and while Redis is away, in the
database (``SeenProof``, one INSERT whose primary key refuses the second).
"""

import base64
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from tokens.codec import is_canonical_jws
from tokens.models import SeenProof

logger = logging.getLogger(__name__)

HEADER_TYPE = "dpop+jwt"  # §4.2
MAX_PROOF_BYTES = 8192
MAX_JTI_LENGTH = 128
REQUIRED_CLAIMS = ["jti", "htm", "htu", "iat"]  # §4.2; ath too when an access token comes along
# The key type each asymmetric algorithm takes, and the curve where the algorithm names one
# (RFC 7518 §3.4, RFC 8037 §3.1, RFC 9864). HMAC and "none" are not here:
# a proof is checked with the key it carries, so a symmetric one proves nothing (§4.3 step 5).
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    **{f"{family}{bits}": ("RSA", None) for family in ("RS", "PS") for bits in (256, 384, 512)},
    "EdDSA": ("OKP", None),  # Ed25519 or Ed448
    "Ed25519": ("OKP", "Ed25519"),
}
# The members only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2 and §6.4.1,
# RFC 8037 §2): a proof's key must be public (§4.3 step 7).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# The members a thumbprint covers, in lexicographic order (RFC 7638 §3.2; RFC 8037 §2 for OKP).
THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}
DEFAULT_PORTS = {"http": 80, "https": 443}
# The database store deletes the rows past their time on about one insert in this many.
PRUNE_ONE_IN = 100
QUOTED_SPECIALS = re.compile(r'["\\]')
NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class DPoPError(Exception):
    """The proof must not be accepted. ``description`` is safe to show to the client."""

    def __init__(self, description: str, error: str = "invalid_dpop_proof") -> None:
        super().__init__(description)
        self.error = error  # §7.1 and §12.2's error codes
        self.description = description


@dataclass(frozen=True)
class Proof:
    jkt: str  # the RFC 7638 thumbprint of the proof's key
    jti: str
    iat: int


def proof_verify(proof: str, *, method: str, url: str, access_token: str | None = None) -> Proof:
    """The proof ``proof`` (a DPoP header's value) checked for a ``method`` request to ``url``.

    With ``access_token``, the proof must be made for that token (``ath``). Whether the
    token is bound to the proof's key is the caller's to compare (``Proof.jkt`` with
    ``cnf.jkt``). Raises DPoPError; an unavailable database raises as it is (a 503).
    """
    try:
        checked = _checked(proof, method=method, url=url, access_token=access_token)
    except DPoPError:
        raise
    except jwt.PyJWTError as exc:
        raise DPoPError(_describe(exc)) from exc
    except Exception as exc:
        # Hostile input must end in a refusal, whatever corner of a parser it reaches.
        logger.warning("DPoP proof verification failed unexpectedly", exc_info=True)
        raise DPoPError("The DPoP proof is malformed.") from exc
    until = datetime.fromtimestamp(checked.iat + settings.DPOP_PROOF_MAX_AGE + 1, tz=UTC)
    if not proof_first_use(jkt=checked.jkt, jti=checked.jti, until=until):
        raise DPoPError("The DPoP proof was already used.")
    return checked


def _checked(proof: str, *, method: str, url: str, access_token: str | None) -> Proof:
    # §4.3 steps 1 and 2. A server joins repeated headers with commas (RFC 9110 §5.3), which
    # no compact JWS contains.
    if "," in proof:
        raise DPoPError("Send exactly one DPoP proof.")
    if len(proof) > MAX_PROOF_BYTES or not is_canonical_jws(proof):
        raise DPoPError("The DPoP proof is malformed.")
    header = jwt.get_unverified_header(proof)
    if header.get("typ") != HEADER_TYPE:  # step 4
        raise DPoPError("The DPoP proof is not of type dpop+jwt.")
    algorithm = header.get("alg")
    if (
        not isinstance(algorithm, str)
        or algorithm not in KEY_TYPES
        or algorithm not in settings.DPOP_ALGORITHMS
    ):
        raise DPoPError("The DPoP proof's algorithm is not accepted.")  # step 5
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DPoPError("The DPoP proof carries no public key (jwk).")
    if PRIVATE_MEMBERS & jwk.keys() or jwk.get("kty") == "oct":  # step 7
        raise DPoPError("The DPoP proof's key must be a public key.")
    key_type, curve = KEY_TYPES[algorithm]
    if jwk.get("kty") != key_type or (curve is not None and jwk.get("crv") != curve):
        raise DPoPError("The DPoP proof's key does not fit its algorithm.")
    # Steps 3 and 6: the signature checked with the proof's own key, never with one the
    # algorithm would pick; RSA keys shorter than 2048 bits are refused (RFC 7518 §3.3).
    claims = jwt.decode(
        proof,
        jwt.PyJWK(jwk, algorithm=algorithm),
        algorithms=[algorithm],
        options={
            "require": REQUIRED_CLAIMS,
            "verify_aud": False,
            "verify_iss": False,
            # Checked below, with answers of their own.
            "verify_iat": False,
            "verify_jti": False,
            "enforce_minimum_key_length": True,
        },
        leeway=settings.JWT_LEEWAY,
    )
    jti, htm, htu, iat = (claims[name] for name in REQUIRED_CLAIMS)
    if not (isinstance(jti, str) and 0 < len(jti) <= MAX_JTI_LENGTH):
        raise DPoPError("The DPoP proof's jti is malformed.")
    if htm != method:  # step 8; methods are case-sensitive (RFC 9110 §9.1)
        raise DPoPError("The DPoP proof is for another HTTP method.")
    target = _comparable_uri(url)
    if not isinstance(htu, str) or target is None or _comparable_uri(htu) != target:  # step 9
        raise DPoPError("The DPoP proof is for another URL.")
    # Step 11 and §11.1: recent, by our clock. Written so that NaN fails both comparisons.
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise DPoPError("The DPoP proof's iat is not a number.")
    now = time.time()
    if not iat <= now + settings.JWT_LEEWAY:
        raise DPoPError("The DPoP proof was made in the future.")
    if not iat >= now - settings.DPOP_PROOF_MAX_AGE:
        raise DPoPError("The DPoP proof is too old.")
    if access_token is not None:  # step 12, first half
        ath = claims.get("ath")
        if ath is None:
            raise DPoPError("The DPoP proof lacks the access token's hash (ath).")
        if not (isinstance(ath, str) and hmac.compare_digest(ath, access_token_hash(access_token))):
            raise DPoPError("The DPoP proof was made for another access token.")
    return Proof(jkt=jwk_thumbprint(jwk), jti=jti, iat=int(iat))


def _comparable_uri(uri: str) -> tuple[str, str, int, str] | None:
    """``uri`` without its query and fragment (§4.3 step 9), normalised as RFC 3986 §6.2.2 and
    §6.2.3 say: scheme and host case, the scheme's default port, dot segments, an empty path.
    None when it is not an absolute http(s) URI.

    The path is compared percent-decoded: the server is handed it decoded (PEP 3333's
    PATH_INFO), so two spellings of one path reach the same view.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None  # userinfo is deprecated in http(s) URIs (RFC 9110 §4.2.4)
    path = _without_dot_segments(unquote(parts.path)) or "/"
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path


def _without_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, for an absolute path."""
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(kept) > 1:  # never above the root: kept[0] is the empty segment before it
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in {".", ".."}:
        kept.append("")  # "/a/b/.." is "/a/", a directory
    return "/".join(kept)


def _describe(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "The DPoP proof's signature is invalid."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The DPoP proof lacks the {exc.claim!r} claim."
    if isinstance(exc, jwt.InvalidKeyError | jwt.PyJWKError):
        return "The DPoP proof's key is malformed, or too weak for its algorithm."
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The DPoP proof has expired."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The DPoP proof is not valid yet."
    return "The DPoP proof is malformed."


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``jwk``, base64url: its required members only, in
    lexicographic order, without whitespace (§3.1-3.3). ValueError for a key it cannot cover."""
    key_type = jwk.get("kty")
    members = THUMBPRINT_MEMBERS.get(key_type) if isinstance(key_type, str) else None
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ValueError("Not a JWK with a thumbprint.")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """The ``ath`` of a proof made for ``token``: base64url of its SHA-256 (§4.2)."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def challenge(error: str | None = None, description: str | None = None) -> str:
    """A ``WWW-Authenticate`` challenge of the DPoP scheme, naming the algorithms we accept (§7.1)."""
    params = [f'error="{_quoted(error)}"'] if error else []
    if description:
        params.append(f'error_description="{_quoted(description)}"')
    params.append(f'algs="{" ".join(settings.DPOP_ALGORITHMS)}"')
    return "DPoP " + ", ".join(params)


def _quoted(text: str) -> str:
    """``text`` as the inside of an RFC 9110 §5.6.4 quoted-string, printable ASCII only."""
    return QUOTED_SPECIALS.sub(r"\\\g<0>", NOT_PRINTABLE.sub("?", text))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def proof_first_use(*, jkt: str, jti: str, until: datetime) -> bool:
    """Whether the proof of key ``jkt`` with ``jti`` is seen here for the first time; it is
    remembered until ``until``, after which it would be refused as too old anyway.

    Atomic across workers and instances: Redis's SET NX when it is configured, a primary
    key INSERT otherwise. While Redis is away the database answers, so a replay is still
    refused; a proof first used during the outage and replayed after it, within its
    window, is the one gap.
    """
    digest = hashlib.sha256(f"{jkt}.{jti}".encode()).hexdigest()  # a thumbprint has no "."
    now = timezone.now()
    if settings.REVOCATION_SHARED_CACHE:
        timeout = max(1, math.ceil((until - now).total_seconds()))
        try:
            return bool(cache.add(f"dpop:proof:{digest}", 1, timeout=timeout))
        except Exception:
            logger.warning("cache unavailable; checking DPoP proofs against the database", exc_info=True)
    return _first_insert(digest=digest, until=until, now=now)


def _first_insert(*, digest: str, until: datetime, now: datetime) -> bool:
    if secrets.randbelow(PRUNE_ONE_IN) == 0:
        SeenProof.objects.filter(expires__lt=now).delete()  # one DELETE on the expires index
    try:
        with transaction.atomic():  # a savepoint, when the caller is in a transaction
            SeenProof.objects.create(digest=digest, expires=until)
    except IntegrityError:
        # Seen: unless the row outlived its time and was not pruned yet. Taking it over is
        # one conditional UPDATE, so of two requests racing for it only one wins.
        return SeenProof.objects.filter(pk=digest, expires__lte=now).update(expires=until) == 1
    return True
