from typing import Any

from rest_framework import HTTP_HEADER_ENCODING, authentication, exceptions
from rest_framework.request import Request

from tokens import codec
from tokens.codec import InvalidToken
from tokens.revocation import token_principal
from users.principal import Principal

# RFC 6750 §3: the challenge a 401 carries.
CHALLENGE = 'Bearer realm="api", error="invalid_token"'


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>`` (RFC 6750 §2.1)."""

    def authenticate(self, request: Request) -> tuple[Principal, dict[str, Any]] | None:
        # From META, not DRF's get_authorization_header(), which maps every request header
        # first; WSGI hands header values over as latin-1 text (PEP 3333), DRF's encoding too.
        raw = request.META.get("HTTP_AUTHORIZATION", b"")
        try:
            header = (raw.encode(HTTP_HEADER_ENCODING) if isinstance(raw, str) else raw).split()
        except UnicodeEncodeError as exc:  # past latin-1: only a test client can send these
            raise exceptions.AuthenticationFailed("The token is malformed.") from exc
        if not header or header[0].lower() != b"bearer":
            return None  # not ours: another scheme, or anonymous
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            claims = codec.decode(header[1].decode("ascii"), token_use="access")
            return token_principal(claims), claims
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is malformed.") from exc
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE
