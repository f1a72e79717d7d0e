"""A second service, on Flask, that accepts the task service's access tokens.

It shares no secret and no database with the task service: it fetches the public keys the
task service publishes at ``/.well-known/jwks.json`` (examples/verifier/jwks.py) and checks
each token against them (examples/verifier/tokens.py). ``GET /whoami`` answers who the
bearer is. How to run it beside ``make run`` is in README.md.

Answers follow RFC 6750 §3: no credentials is a 401 with a bare ``Bearer`` challenge; a
malformed Authorization header a 400 ``invalid_request``; a token we refuse a 401
``invalid_token`` with the reason. When no key set can be had (the issuer unreachable,
redirecting, or answering garbage, and no earlier set recent enough to fall back on) the
answer is a 503 with ``Retry-After``: the token may be perfectly good, and a client that
got a 401 would throw it away and make its user log in again for nothing.
"""

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from examples.verifier.jwks import JwksCache, KeysUnavailable
from examples.verifier.tokens import AccessToken, AccessTokenVerifier, TokenRefused

REALM = "tasks-verifier"
# RFC 6750 §2.1: b64token, the characters a bearer token may hold.
BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


@dataclass(frozen=True)
class Settings:
    issuer_url: str = "http://127.0.0.1:8000"  # where the task service runs; `make run` by default
    issuer: str = "taskservice"  # its JWT_ISSUER
    audience: str = "taskservice-api"  # its JWT_AUDIENCE
    leeway: float = 30.0
    jwks_ttl: float = 60.0  # the task service's JWKS says Cache-Control: max-age=60
    jwks_timeout: float = 2.0
    jwks_min_interval: float = 1.0
    jwks_max_stale: float = 3600.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"TASKS_ISSUER_URL {self.issuer_url!r} is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            # Keys fetched in the clear could be swapped on the way, and with them every identity.
            raise ValueError(f"TASKS_ISSUER_URL {self.issuer_url!r}: plain http is for this machine only")
        if not self.issuer or not self.audience:
            raise ValueError("TASKS_JWT_ISSUER and TASKS_JWT_AUDIENCE must not be empty")
        if not 0 <= self.leeway <= 300:
            raise ValueError("TASKS_JWT_LEEWAY must be between 0 and 300 seconds")
        if self.jwks_timeout <= 0:
            raise ValueError("TASKS_JWKS_TIMEOUT must be positive")
        if not 0 < self.jwks_min_interval <= self.jwks_ttl <= self.jwks_max_stale:
            raise ValueError(
                "these must hold: 0 < TASKS_JWKS_MIN_INTERVAL <= TASKS_JWKS_TTL <= TASKS_JWKS_MAX_STALE"
            )

    @property
    def jwks_url(self) -> str:
        return self.issuer_url.rstrip("/") + "/.well-known/jwks.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """The settings from TASKS_* variables; a malformed value fails loudly, at start."""
        defaults = cls()

        def number(name: str, default: float) -> float:
            raw = environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={raw!r} must be a finite number of seconds, not negative")
            return value

        return cls(
            issuer_url=environ.get("TASKS_ISSUER_URL") or defaults.issuer_url,
            issuer=environ.get("TASKS_JWT_ISSUER") or defaults.issuer,
            audience=environ.get("TASKS_JWT_AUDIENCE") or defaults.audience,
            leeway=number("TASKS_JWT_LEEWAY", defaults.leeway),
            jwks_ttl=number("TASKS_JWKS_TTL", defaults.jwks_ttl),
            jwks_timeout=number("TASKS_JWKS_TIMEOUT", defaults.jwks_timeout),
            jwks_min_interval=number("TASKS_JWKS_MIN_INTERVAL", defaults.jwks_min_interval),
            jwks_max_stale=number("TASKS_JWKS_MAX_STALE", defaults.jwks_max_stale),
        )


def is_loopback(hostname: str) -> bool:
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


class Challenge(Exception):
    """A refusal of the request's credentials, answered as RFC 6750 §3 says."""

    def __init__(self, status: int, detail: str, error: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.error = status, detail, error


def create_app(settings: Settings | None = None, *, keys: JwksCache | None = None) -> Flask:
    """The verifier app; without ``settings``, they come from the environment (TASKS_*).

    ``keys`` replaces the JWKS cache the settings describe (tests give one with a fake transport).
    """
    config = settings or Settings.from_env()
    if keys is None:
        keys = JwksCache(
            config.jwks_url,
            ttl=config.jwks_ttl,
            timeout=config.jwks_timeout,
            min_interval=config.jwks_min_interval,
            max_stale=config.jwks_max_stale,
        )
    app = Flask(__name__)
    app.extensions["access_tokens"] = AccessTokenVerifier(
        keys=keys, issuer=config.issuer, audience=config.audience, leeway=config.leeway
    )

    @app.get("/whoami")
    def whoami() -> Response:
        token = authenticate()
        claims = token.claims
        return jsonify(
            sub=token.subject,
            kid=token.key_id,
            iss=claims["iss"],
            aud=claims["aud"],
            iat=claims["iat"],
            exp=claims["exp"],
            jti=claims["jti"],
        )

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.errorhandler(Challenge)
    def challenge(exc: Challenge) -> tuple[Response, int, dict[str, str]]:
        params = [f'realm="{REALM}"']
        if exc.error is not None:
            params += [f'error="{exc.error}"', f'error_description="{quotable(exc.detail)}"']
        return jsonify(detail=exc.detail), exc.status, {"WWW-Authenticate": "Bearer " + ", ".join(params)}

    @app.errorhandler(KeysUnavailable)
    def keys_unavailable(exc: KeysUnavailable) -> tuple[Response, int, dict[str, str]]:
        retry = str(max(1, math.ceil(keys.min_interval)))
        detail = "The issuer's keys cannot be fetched now, so no token can be verified. Try again later."
        return jsonify(detail=detail), 503, {"Retry-After": retry}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> WerkzeugResponse:
        # JSON errors, like the task service's, for 404, 405 and the like.
        response = exc.get_response()
        response.data = jsonify(detail=exc.description).get_data()
        response.content_type = "application/json"
        return response

    return app


def authenticate() -> AccessToken:
    """The request's verified access token, or Challenge."""
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0]
    if scheme.lower() != "bearer":
        # No bearer credentials at all: a bare challenge, no error code (RFC 6750 §3.1).
        raise Challenge(401, "Authentication credentials were not provided.")
    match = BEARER.fullmatch(header)
    if match is None:
        raise Challenge(400, "The Authorization header is malformed.", error="invalid_request")
    verifier: AccessTokenVerifier = current_app.extensions["access_tokens"]
    try:
        return verifier.verify(match[1])
    except TokenRefused as exc:
        raise Challenge(401, str(exc), error="invalid_token") from exc


def quotable(text: str) -> str:
    """``text`` with only the characters RFC 6750 §3 allows in error_description."""
    return "".join(c if (" " <= c <= "~" and c not in '"\\') else "?" for c in text)
