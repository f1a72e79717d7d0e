"""Verifying the task service's access tokens with the keys it publishes.

The same checks the task service makes of its own tokens (tokens/codec.py), made here from
the outside: the header first, so that a token no key could verify costs no fetch of the
keys; then the signature with the one algorithm of the key the token names (RFC 8725
§3.1); then the claims. An access token is typed twice by its issuer, by the ``typ``
header (``at+jwt``, RFC 9068 §2.1) and by the ``token_use`` claim, and both are checked, so
that a refresh token, which lives two weeks, can never stand in for one (RFC 8725 §3.11).

What these checks cannot see is revocation: a logged-out session's access token passes them
until it expires (JWT_ACCESS_TTL at the issuer, five minutes by default). The app asks the
issuer about each token they accept when it is configured to (examples/verifier/introspection.py).

A token bound to a key (RFC 9449 §6.1) names it by ``cnf.jkt``; ``AccessToken.binding`` is
that thumbprint, and the app accepts such a token only with a proof of the key
(examples/verifier/dpop.py). A ``cnf`` binding the token any other way (RFC 7800: a
certificate, a key we would have to trust as given) is refused: we could not check it.
"""

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from examples.verifier.jwks import ALGORITHM_KEYS, JwksCache

ACCESS_TOKEN_TYPE = "at+jwt"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "token_use"]
MAX_TOKEN_BYTES = 8192
# Headers that would let a token choose its own verification key (RFC 8725 §3.10): refused.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
# RFC 7515 §2: base64url is the URL-safe alphabet with the padding left out.
BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenRefused(Exception):
    """The token must not be accepted. The message is safe to show to the client."""


@dataclass(frozen=True)
class AccessToken:
    subject: str
    key_id: str
    claims: Mapping[str, Any]
    binding: str | None = None  # the RFC 7638 thumbprint of the key a DPoP-bound token is bound to


@dataclass(frozen=True)
class AccessTokenVerifier:
    keys: JwksCache
    issuer: str
    audience: str
    leeway: float = 30.0  # seconds of clock difference allowed on exp, nbf and iat

    def verify(self, token: str) -> AccessToken:
        """The verified access token, or TokenRefused (KeysUnavailable if no keys can be had)."""
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused("The token is too large.")
        if not is_canonical_jws(token):
            raise TokenRefused("The token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRefused("The token is malformed.") from exc
        if FORBIDDEN_HEADERS & header.keys():
            raise TokenRefused("The token names its own key, which is never trusted.")
        if "crit" in header:
            # RFC 7515 §4.1.11: we understand no extensions, so any critical one is refused.
            raise TokenRefused("The token has critical extensions we do not understand.")
        if header.get("alg") not in ALGORITHM_KEYS:
            raise TokenRefused("The token's algorithm is not accepted.")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise TokenRefused("This is not an access token.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("The token does not name its key.")
        key = self.keys.key(kid)
        if key is None:
            raise TokenRefused("The token was not signed by any key the issuer publishes.")
        if header["alg"] != key.algorithm:
            raise TokenRefused("The token's algorithm does not match its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise TokenRefused(describe(exc)) from exc
        except Exception as exc:  # hostile input must end in a refusal, whatever parser corner it reaches
            raise TokenRefused("The token is malformed.") from exc
        for name in ("exp", "nbf", "iat"):
            # RFC 7519 §2: a NumericDate is a JSON number; PyJWT int()s these, so "123" and true pass it.
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TokenRefused(f"The token's {name!r} claim is not a number.")
        if claims["token_use"] != "access":
            raise TokenRefused("This is not an access token.")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("The token's subject is malformed.")
        return AccessToken(subject=subject, key_id=kid, claims=claims, binding=binding_of(claims))


def binding_of(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint in ``cnf.jkt`` (RFC 9449 §6.1), None if the token is unbound; or TokenRefused."""
    if "cnf" not in claims:
        return None
    confirmation = claims["cnf"]
    if not isinstance(confirmation, dict) or confirmation.keys() != {"jkt"}:
        raise TokenRefused("The token is bound to a key in a way this service cannot check.")
    thumbprint = confirmation["jkt"]
    # A SHA-256 thumbprint: 32 bytes, 43 base64url characters (RFC 7638 §3, RFC 9449 §6.1).
    if not isinstance(thumbprint, str) or len(thumbprint) != 43 or not BASE64URL.fullmatch(thumbprint):
        raise TokenRefused("The token's key thumbprint (cnf.jkt) is malformed.")
    return thumbprint


def is_canonical_jws(token: str) -> bool:
    """Whether ``token`` is three base64url segments spelled as RFC 7515 §2 and §7.1 write them:
    the URL-safe alphabet only, no ``=`` padding, the last character's unused bits zero.

    PyJWT accepts a padded signature too, so one token would have several spellings. (The
    same check as the issuer's tokens/codec.py; this program imports nothing from it.)
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


def describe(exc: jwt.PyJWTError) -> str:
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
