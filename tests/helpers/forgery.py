"""Access tokens forged with our real signing key, each with only the asked-for thing wrong,
and what a refusal of one looks like (RFC 6750 §3.1)."""

import base64
import json
import time
import uuid
from typing import Any

import jwt
from django.conf import settings
from django.http import HttpResponse
from rest_framework.test import APIClient

from tokens.keys import SigningKey, jws_algorithm, key_ring
from tokens.services import session_start
from users.models import User

MISSING = object()  # a claim or header set to this is left out of the token
SLACK = 5  # seconds either side of the leeway, so the clock moving during a test changes nothing


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def live_session(user: User) -> str:
    """The id of a real session of ``user``: forged tokens differ from issued ones only as asked."""
    access = session_start(user=user)["access"]
    return jwt.decode(access, options={"verify_signature": False})["sid"]


def claims_for(user: User, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sid": live_session(user),
        "gen": user.token_generation,
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user.pk),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "token_use": "access",
        "client_id": settings.DEFAULT_CLIENT_ID,
        **overrides,
    }
    return {name: value for name, value in claims.items() if value is not MISSING}


def forge(user: User, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    """An access token for ``user`` signed with our signing key by PyJWT, with the changes asked for.

    PyJWT's JWS layer signs the claims as given: its JWT layer would refuse some we want to send.
    """
    key = key_ring().signing
    return jwt.api_jws.encode(
        json.dumps(claims_for(user, **claims)).encode(),
        key.private,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": "at+jwt", **(headers or {})},
    )


def sign_by_hand(header: dict[str, Any], payload: Any, key: SigningKey | None = None) -> str:
    """A token with exactly this header, signed with ``key`` (ours by default).

    For headers PyJWT refuses to write (a non-string kid, an unknown ``crit``, an odd ``alg``).
    """
    key = key or key_ring().signing
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(payload))}"
    algorithm = jws_algorithm(key.algorithm)
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key.private))
    return f"{signing_input}.{b64(signature)}"


def our_header(**changes: Any) -> dict[str, Any]:
    key = key_ring().signing
    header = {"alg": key.algorithm, "kid": key.kid, "typ": "at+jwt", **changes}
    return {name: value for name, value in header.items() if value is not MISSING}


def get_tasks(authorization: str) -> HttpResponse:
    return APIClient().get("/tasks/", HTTP_AUTHORIZATION=authorization)


def assert_invalid_token(response: HttpResponse) -> None:
    """RFC 6750 §3 and §3.1: a 401 with a Bearer challenge naming ``invalid_token``."""
    assert response.status_code == 401, response.content
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
