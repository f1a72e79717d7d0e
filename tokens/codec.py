"""Encoding and verifying our JSON Web Tokens (RFC 7519), on PyJWT.

Every check a token must pass is here, in one place, for access and refresh tokens alike.
Signatures are PyJWT's; what this module adds are the checks RFC 8725 asks of an
application: the algorithm is the key's own, never the token's choice (§3.1); tokens are
explicitly typed, so one kind cannot stand in for another (§3.11); audience and issuer
are exact (§3.9); key-locating headers are never followed (§3.10).
"""

import base64
import binascii
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from django.conf import settings
from django.utils import timezone

from api.caches import BoundedCache
from tokens.keys import find_verifying_key, key_ring

logger = logging.getLogger(__name__)

TokenUse = Literal["access", "refresh"]
# RFC 9068 §2.1 names "at+jwt" for access tokens; refresh tokens get their own type.
HEADER_TYPE: dict[str, str] = {"access": "at+jwt", "refresh": "refresh+jwt"}
MAX_TOKEN_BYTES = 8192
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "token_use"]
# Headers that would let a token choose its own verification key (RFC 8725 §3.10). We never
# fetch or trust them, and refuse tokens that carry them rather than silently ignore them.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
# RFC 7515 §2: base64url is the URL-safe alphabet with the padding left out.
BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidToken(Exception):
    """The token must not be accepted. The message is safe to show to the client."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: dict[str, Any]


def encode(
    *, user_id: int, token_use: TokenUse, ttl: int, extra: dict[str, Any] | None = None
) -> IssuedToken:
    key = key_ring().signing  # first: on a first start this generates the key, which takes a while
    now = int(timezone.now().timestamp())
    claims: dict[str, Any] = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "token_use": token_use,
        **(extra or {}),
    }
    token = jwt.encode(
        claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": HEADER_TYPE[token_use]}
    )
    return IssuedToken(token=token, claims=claims)


class VerifiedTokens:
    """Claims of tokens whose signature and claims this process has already verified.

    A client sends the same access token on every request; verifying its signature again
    each time (0.1-0.2 ms for RS256) buys nothing. What can change between two requests is
    checked again on every hit: the time (``exp``, ``nbf``) and whether the signing key is
    still in the ring. Revocation is checked by the caller on every request regardless.
    """

    def __init__(self, size: int = 4096) -> None:
        self.entries: BoundedCache[tuple[str, str], tuple[str, dict[str, Any]]] = BoundedCache(
            "codec.verified_tokens", size
        )

    def get(self, token: str, token_use: str) -> dict[str, Any] | None:
        entry = self.entries.get((token, token_use))
        if entry is None:
            return None
        kid, claims = entry
        now = time.time()
        leeway = settings.JWT_LEEWAY
        if now >= claims["exp"] + leeway or now < claims["nbf"] - leeway or find_verifying_key(kid) is None:
            self.entries.pop((token, token_use))
            return None  # verify from scratch: this raises the right error
        return claims

    def put(self, token: str, token_use: str, kid: str, claims: dict[str, Any]) -> None:
        self.entries.put((token, token_use), (kid, claims))


verified_tokens = VerifiedTokens()


def decode(token: str, *, token_use: TokenUse) -> dict[str, Any]:
    """Verify ``token`` as a ``token_use`` token and return its claims, or raise InvalidToken."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("The token is too large.")
    claims = verified_tokens.get(token, token_use)
    if claims is not None:
        return claims
    try:
        kid, claims = _decode(token, token_use)
    except InvalidToken:
        raise
    except jwt.PyJWTError as exc:
        raise InvalidToken(_describe(exc)) from exc
    except Exception as exc:
        # Hostile input must end in a 401, whatever corner of a parser it reaches.
        logger.warning("token verification failed unexpectedly", exc_info=True)
        raise InvalidToken("The token is malformed.") from exc
    verified_tokens.put(token, token_use, kid, claims)
    return claims


def is_canonical_jws(token: str) -> bool:
    """Whether ``token`` is three base64url segments each spelled as RFC 7515 §2 and §7.1 write
    them: only the URL-safe alphabet, no ``=`` padding, and the unused bits of the last
    character zero (a segment re-encodes to exactly what was sent).

    PyJWT decodes leniently (it pads, and the standard library's decoder skips characters
    outside the alphabet and ignores unused bits), so one token would have many spellings,
    each a different cache key, revocation-list entry or log line for the same signature.
    """
    segments = token.split(".")
    if len(segments) != 3:
        return False
    for segment in segments:
        if not BASE64URL.fullmatch(segment):
            return False
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except binascii.Error:  # a length of 1 mod 4, which no byte string encodes to
            return False
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
            return False
    return True


def _decode(token: str, token_use: TokenUse) -> tuple[str, dict[str, Any]]:
    # Before anything is parsed, and once per distinct token: decode() caches what passes.
    if not is_canonical_jws(token):
        raise InvalidToken("The token is malformed.")
    header = jwt.get_unverified_header(token)
    if FORBIDDEN_HEADERS & header.keys():
        raise InvalidToken("The token names its own key, which is never trusted.")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extensions, so any critical one is refused.
        raise InvalidToken("The token has critical extensions we do not understand.")
    kid = header.get("kid")
    key = find_verifying_key(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("The token was not signed by any of our keys.")
    if header.get("alg") != key.algorithm:
        raise InvalidToken("The token's algorithm does not match its key.")
    if header.get("typ") != HEADER_TYPE[token_use]:
        raise InvalidToken(f"This is not an {token_use} token.")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.public,
        algorithms=[key.algorithm],
        audience=settings.JWT_AUDIENCE,
        issuer=settings.JWT_ISSUER,
        leeway=settings.JWT_LEEWAY,
        options={"require": REQUIRED_CLAIMS, "strict_aud": True},
    )
    for name in ("exp", "nbf", "iat"):
        # RFC 7519 §2: a NumericDate is a JSON number; PyJWT int()s these, so "123" and true pass it.
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidToken(f"The token's {name!r} claim is not a number.")
    if claims["token_use"] != token_use:
        raise InvalidToken(f"This is not an {token_use} token.")
    sub, jti = claims["sub"], claims["jti"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 19):
        raise InvalidToken("The token's subject is malformed.")
    if not (isinstance(jti, str) and 0 < len(jti) <= 64):
        raise InvalidToken("The token's id is malformed.")
    if token_use == "access" and not isinstance(claims.get("client_id"), str):
        raise InvalidToken("The token lacks the 'client_id' claim.")  # RFC 9068 §2.2
    return key.kid, claims


def _describe(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The token has expired."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The token is not valid yet."
    if isinstance(exc, jwt.InvalidAudienceError):
        return "The token is not meant for this service."
    if isinstance(exc, jwt.InvalidIssuerError):
        return "The token was issued by someone else."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The token lacks the {exc.claim!r} claim."
    if isinstance(exc, jwt.InvalidSignatureError):
        return "The token's signature is invalid."
    return "The token is malformed."
