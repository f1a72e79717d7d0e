import hmac
from typing import Any, NoReturn

from rest_framework import HTTP_HEADER_ENCODING, authentication, exceptions
from rest_framework.request import Request

from tokens import codec, dpop
from tokens.codec import InvalidToken
from tokens.revocation import token_principal
from users.principal import Principal

# RFC 6750 §3: the challenge a 401 carries.
CHALLENGE = 'Bearer realm="api", error="invalid_token"'
# Where a refusal leaves a challenge of its own: DRF asks authenticate_header() for the 401's
# challenge after authenticate() has raised, handing it the request and nothing else.
REFUSAL_CHALLENGE = "_token_refusal_challenge"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>`` (RFC 6750 §2.1), or, for a token bound to a
    key, ``Authorization: DPoP <access token>`` with a ``DPoP: <proof>`` header (RFC 9449 §7.1).

    A bound token (``cnf.jkt``, RFC 9449 §6.1) is refused as a Bearer token: whoever stole
    it would not hold its key. An unbound one is refused under the DPoP scheme, which
    promises a binding it does not have.
    """

    def authenticate(self, request: Request) -> tuple[Principal, dict[str, Any]] | None:
        # From META, not DRF's get_authorization_header(), which maps every request header
        # first; WSGI hands header values over as latin-1 text (PEP 3333), DRF's encoding too.
        raw = request.META.get("HTTP_AUTHORIZATION", b"")
        try:
            header = (raw.encode(HTTP_HEADER_ENCODING) if isinstance(raw, str) else raw).split()
        except UnicodeEncodeError as exc:  # past latin-1: only a test client can send these
            raise exceptions.AuthenticationFailed("The token is malformed.") from exc
        scheme = header[0].lower() if header else b""
        bearer = scheme == b"bearer"
        if not bearer and scheme != b"dpop":
            return None  # not ours: another scheme, or anonymous
        if len(header) != 2:
            named = "Bearer" if bearer else "DPoP"
            _refuse(request, f"The Authorization header must be '{named} <token>'.", bearer_challenge=bearer)
        try:
            token = header[1].decode("ascii")
            claims = codec.decode(token, token_use="access")
        except UnicodeDecodeError:
            _refuse(request, "The token is malformed.", bearer_challenge=bearer)
        except InvalidToken as exc:
            _refuse(request, str(exc), bearer_challenge=bearer)
        if bearer:
            if "cnf" in claims:  # the one thing an unbound token's request pays for DPoP
                _refuse(request, "This token is bound to a key: send it as 'DPoP <token>' with a DPoP proof.")
            try:
                return token_principal(claims), claims
            except InvalidToken as exc:
                _refuse(request, str(exc), bearer_challenge=True)
        return _bound_caller(request, token, claims), claims

    def authenticate_header(self, request: Request) -> str:
        challenge: str = getattr(request, REFUSAL_CHALLENGE, CHALLENGE)
        return challenge


def _bound_caller(request: Request, token: str, claims: dict[str, Any]) -> Principal:
    """The caller of a ``DPoP`` request: a token bound to a key, and a proof of that key for
    this very request (RFC 9449 §7.1)."""
    confirmation = claims.get("cnf")
    if confirmation is None:
        _refuse(request, "This token is not bound to a key: send it as 'Bearer <token>'.")
    binding = confirmation.get("jkt") if isinstance(confirmation, dict) else None
    if not isinstance(binding, str):
        _refuse(request, "The token's confirmation (cnf) is not a key thumbprint.")
    caller = _caller(request, claims, bearer_challenge=False)
    proof = request.META.get("HTTP_DPOP")
    if not proof:
        _refuse(request, "A DPoP proof (the DPoP header) is required with this token.", "invalid_dpop_proof")
    try:
        checked = dpop.proof_verify(
            proof, method=str(request.method), url=request.build_absolute_uri(), access_token=token
        )
    except dpop.DPoPError as exc:
        _refuse(request, exc.description, exc.error)
    if not hmac.compare_digest(checked.jkt, binding):  # RFC 9449 §4.3 step 12, second half
        _refuse(
            request,
            "The DPoP proof is not signed by the key this token is bound to.",
            "invalid_dpop_proof",
        )
    return caller


def _caller(request: Request, claims: dict[str, Any], *, bearer_challenge: bool) -> Principal:
    try:
        return token_principal(claims)
    except InvalidToken as exc:
        _refuse(request, str(exc), bearer_challenge=bearer_challenge)


def _refuse(
    request: Request, description: str, error: str = "invalid_token", *, bearer_challenge: bool = False
) -> NoReturn:
    """A 401 whose challenge is Bearer's own (RFC 6750 §3), as every Bearer refusal has
    always had, or else the DPoP scheme's naming the error and why (RFC 9449 §7.1)."""
    if not bearer_challenge:
        setattr(request, REFUSAL_CHALLENGE, dpop.challenge(error, description))
    raise exceptions.AuthenticationFailed(description)
