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

Two more things, each optional in its own way:

- Introspection (examples/verifier/introspection.py), when this service has a confidential
  client of the task service (VERIFIER_CLIENT_ID, VERIFIER_CLIENT_SECRET): a token the
  local checks accept is also asked about, so a logout is refused here within a second.
- DPoP (RFC 9449, examples/verifier/dpop.py), always: a token bound to a key (``cnf.jkt``)
  is accepted only as ``Authorization: DPoP <token>`` with a proof of the key for this
  request, and refused as a Bearer token with a DPoP challenge (§7.1): whoever stole it
  does not hold the key. An unbound token is a Bearer token, as before.
- Security events (RFC 8935, examples/verifier/events.py), when this service has a client id
  at the task service (VERIFIER_CLIENT_ID): ``POST /events`` (VERIFIER_EVENTS_PATH) takes the
  SETs the task service pushes when a session ends, and from then on that session's tokens
  (or a user's older ones) are refused here at once.
"""

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from examples.verifier.dpop import ProofChecker, ProofRefused, ProofsUnavailable
from examples.verifier.events import (
    MAX_SET_BYTES,
    MEDIA_TYPE,
    EndedAccess,
    EventReceiver,
    EventRefused,
    EventsUnavailable,
    EventVerifier,
)
from examples.verifier.introspection import IntrospectionUnavailable, Introspector
from examples.verifier.jwks import JwksCache, KeysUnavailable
from examples.verifier.remote import url_problem
from examples.verifier.tokens import AccessToken, AccessTokenVerifier, TokenRefused

REALM = "tasks-verifier"
SCHEMES = {"bearer": "Bearer", "dpop": "DPoP"}  # RFC 7235 §2.1: a scheme is case-insensitive
# RFC 6750 §2.1 and RFC 9449 §7.1: b64token, the characters an access token may hold.
CREDENTIALS = re.compile(r"(?:Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
# RFC 3986 §3.3: the characters a path segment holds unencoded, besides the unreserved ones.
PATH_CHARACTERS = "/!$&'()*+,;=:@"


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
    # This service's confidential client of the task service: with them, tokens are introspected.
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    introspection_url: str = ""  # by default the one the issuer's RFC 8414 metadata names
    introspection_timeout: float = 2.0
    # Where clients reach this service: the URL their DPoP proofs name (htu). Not taken from
    # the request's Host header, which the sender of a proof made for another service chooses.
    verifier_url: str = "http://127.0.0.1:8001"
    dpop_max_age: float = 60.0
    # Where the task service pushes security events (RFC 8935), and how long each is kept:
    # longer than the access tokens it ends live (the task service's JWT_ACCESS_TTL).
    events_path: str = "/events"
    events_retain: float = 3600.0

    def __post_init__(self) -> None:
        problem = url_problem(self.issuer_url)
        if problem is not None:
            raise ValueError(f"TASKS_ISSUER_URL {self.issuer_url!r} {problem}")
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
        if bool(self.client_id) != bool(self.client_secret):
            raise ValueError("VERIFIER_CLIENT_ID and VERIFIER_CLIENT_SECRET are set together, or neither")
        if self.introspection_url:
            if not self.client_id:
                raise ValueError(
                    "TASKS_INTROSPECTION_URL needs VERIFIER_CLIENT_ID and VERIFIER_CLIENT_SECRET"
                )
            problem = url_problem(self.introspection_url)
            if problem is not None:
                raise ValueError(f"TASKS_INTROSPECTION_URL {self.introspection_url!r} {problem}")
        if self.introspection_timeout <= 0:
            raise ValueError("TASKS_INTROSPECTION_TIMEOUT must be positive")
        own = urlsplit(self.verifier_url)
        if own.scheme not in ("http", "https") or not own.hostname or own.query or own.fragment:
            raise ValueError(f"VERIFIER_URL {self.verifier_url!r} is not an http(s) URL without query")
        if not 1 <= self.dpop_max_age <= 600:
            raise ValueError("TASKS_DPOP_MAX_AGE must be between 1 and 600 seconds")
        path = self.events_path
        if (
            not path.startswith("/")
            or any(c in path for c in "?#")
            or not path.isascii()
            or not path.isprintable()
        ):
            raise ValueError(f"VERIFIER_EVENTS_PATH {path!r} is not a path starting with '/'")
        if not 60 <= self.events_retain <= 7 * 86400:
            raise ValueError("TASKS_EVENTS_RETAIN must be between 60 seconds and 7 days")

    @property
    def jwks_url(self) -> str:
        return self.issuer_url.rstrip("/") + "/.well-known/jwks.json"

    @property
    def introspects(self) -> bool:
        return bool(self.client_id)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """The settings from TASKS_* and VERIFIER_* variables; a malformed value fails loudly, at start."""
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
            client_id=environ.get("VERIFIER_CLIENT_ID", ""),
            client_secret=environ.get("VERIFIER_CLIENT_SECRET", ""),
            introspection_url=environ.get("TASKS_INTROSPECTION_URL", ""),
            introspection_timeout=number("TASKS_INTROSPECTION_TIMEOUT", defaults.introspection_timeout),
            verifier_url=environ.get("VERIFIER_URL") or defaults.verifier_url,
            dpop_max_age=number("TASKS_DPOP_MAX_AGE", defaults.dpop_max_age),
            events_path=environ.get("VERIFIER_EVENTS_PATH") or defaults.events_path,
            events_retain=number("TASKS_EVENTS_RETAIN", defaults.events_retain),
        )


class Challenge(Exception):
    """A refusal of the request's credentials, answered as RFC 6750 §3 (and RFC 9449 §7.1) say."""

    def __init__(self, status: int, detail: str, error: str | None = None, *, scheme: str = "Bearer") -> None:
        super().__init__(detail)
        self.status, self.detail, self.error, self.scheme = status, detail, error, scheme


def create_app(
    settings: Settings | None = None,
    *,
    keys: JwksCache | None = None,
    introspector: Introspector | None = None,
    proofs: ProofChecker | None = None,
    events: EventReceiver | None = None,
) -> Flask:
    """The verifier app; without ``settings``, they come from the environment (TASKS_*, VERIFIER_*).

    ``keys``, ``introspector``, ``proofs`` and ``events`` replace what the settings describe
    (tests give ones with a fake transport or clock); an ``introspector`` introspects, and
    ``events`` receives security events, whatever the settings.
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
    if introspector is None and config.introspects:
        introspector = Introspector(
            issuer_url=config.issuer_url,
            issuer=config.issuer,
            client_id=config.client_id,
            client_secret=config.client_secret,
            endpoint=config.introspection_url or None,
            timeout=config.introspection_timeout,
        )
    if proofs is None:
        proofs = ProofChecker(max_age=config.dpop_max_age)
    if events is None and config.client_id:
        events = EventReceiver(
            verifier=EventVerifier(
                keys=keys, issuer=config.issuer, audience=config.client_id, leeway=config.leeway
            ),
            ended=EndedAccess(retain=config.events_retain),
        )
    app = Flask(__name__)
    app.extensions["access_tokens"] = AccessTokenVerifier(
        keys=keys, issuer=config.issuer, audience=config.audience, leeway=config.leeway
    )
    app.extensions["introspection"] = introspector
    app.extensions["dpop"] = proofs
    app.extensions["events"] = events
    app.extensions["verifier_url"] = config.verifier_url.rstrip("/")

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

    if events is not None:
        receiver: EventReceiver = events

        @app.post(config.events_path)
        def receive_event() -> tuple[Response | str, int]:
            """RFC 8935 §2: a SET pushed by the task service; 202, or 400 with an ``err`` (§2.3)."""
            if request.mimetype != MEDIA_TYPE:
                return set_refused(EventRefused("invalid_request", f"The body must be {MEDIA_TYPE}."))
            body = request.stream.read(MAX_SET_BYTES + 1)
            try:
                token = body.decode("ascii").strip()
                event = receiver.verifier.verify(token)
            except UnicodeDecodeError:
                return set_refused(EventRefused("invalid_request", "The body is not a SET."))
            except EventRefused as exc:
                return set_refused(exc)
            receiver.ended.record(event)
            return "", 202

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.errorhandler(Challenge)
    def challenge(exc: Challenge) -> Response:
        params = [f'realm="{REALM}"']
        if exc.error is not None:
            params += [f'error="{exc.error}"', f'error_description="{quotable(exc.detail)}"']
        # RFC 9449 §7.1: a DPoP challenge says which algorithms a proof may use.
        algs = f'algs="{" ".join(proofs.algorithms)}"'
        if exc.error is None:
            # No credentials: both schemes are offered (RFC 9449 §7.2).
            challenges = ["Bearer " + ", ".join(params), "DPoP " + ", ".join([*params, algs])]
        elif exc.scheme == "DPoP":
            challenges = ["DPoP " + ", ".join([*params, algs])]
        else:
            challenges = ["Bearer " + ", ".join(params)]
        response = jsonify(detail=exc.detail)
        response.status_code = exc.status
        for value in challenges:
            response.headers.add("WWW-Authenticate", value)
        return response

    @app.errorhandler(KeysUnavailable)
    def keys_unavailable(exc: KeysUnavailable) -> tuple[Response, int, dict[str, str]]:
        detail = "The issuer's keys cannot be fetched now, so no token can be verified. Try again later."
        return unavailable(detail, keys.min_interval)

    @app.errorhandler(IntrospectionUnavailable)
    def introspection_unavailable(exc: IntrospectionUnavailable) -> tuple[Response, int, dict[str, str]]:
        detail = "The issuer cannot be asked now whether the token is still active. Try again later."
        return unavailable(detail, introspector.retry_interval if introspector is not None else 1.0)

    @app.errorhandler(EventsUnavailable)
    def events_unavailable(exc: EventsUnavailable) -> tuple[Response, int, dict[str, str]]:
        return unavailable("Too many security events held to remember another. Try again later.", 60.0)

    @app.errorhandler(ProofsUnavailable)
    def proofs_unavailable(exc: ProofsUnavailable) -> tuple[Response, int, dict[str, str]]:
        detail = "Too many DPoP proofs to tell a new one from a replay. Try again later."
        return unavailable(detail, 1.0)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> WerkzeugResponse:
        # JSON errors, like the task service's, for 404, 405 and the like.
        response = exc.get_response()
        response.data = jsonify(detail=exc.description).get_data()
        response.content_type = "application/json"
        return response

    return app


def set_refused(exc: EventRefused) -> tuple[Response, int]:
    """RFC 8935 §2.3: a SET not accepted is a 400 with its ``err`` code and a description."""
    return jsonify(err=exc.err, description=exc.description), 400


def unavailable(detail: str, retry_after: float) -> tuple[Response, int, dict[str, str]]:
    """A 503: the token may be perfectly good, and its client should try again, not log in again."""
    return jsonify(detail=detail), 503, {"Retry-After": str(max(1, math.ceil(retry_after)))}


def authenticate() -> AccessToken:
    """The request's verified access token, or Challenge (or a *Unavailable: a 503)."""
    header = request.headers.get("Authorization", "")
    scheme = SCHEMES.get(header.split(" ", 1)[0].lower())
    if scheme is None:
        # No credentials of ours at all: a bare challenge, no error code (RFC 6750 §3.1).
        raise Challenge(401, "Authentication credentials were not provided.")
    match = CREDENTIALS.fullmatch(header)
    if match is None:
        raise Challenge(400, "The Authorization header is malformed.", error="invalid_request", scheme=scheme)
    token = match[1]
    verifier: AccessTokenVerifier = current_app.extensions["access_tokens"]
    try:
        access = verifier.verify(token)
    except TokenRefused as exc:
        raise Challenge(401, str(exc), error="invalid_token", scheme=scheme) from exc
    if scheme == "Bearer" and access.binding is not None:
        # RFC 9449 §7.2: a bound token sent as a bearer one may be a stolen one.
        detail = "This token is bound to a key: send it as 'DPoP <token>' with a DPoP proof."
        raise Challenge(401, detail, error="invalid_token", scheme="DPoP")
    if scheme == "DPoP":
        check_proof(token, access)
    events: EventReceiver | None = current_app.extensions["events"]
    if events is not None and events.ended.refuses(access.claims):
        # A security event said so: a revoked session, or a user's tokens before a credential change.
        raise Challenge(401, "The token's session has ended.", error="invalid_token", scheme=scheme)
    # Last, as it may cost a round trip to the issuer: only for tokens good in every other way.
    introspector: Introspector | None = current_app.extensions["introspection"]
    if introspector is not None and not introspector.active(token, expires=access.claims["exp"]):
        raise Challenge(401, "The token is no longer active.", error="invalid_token", scheme=scheme)
    return access


def check_proof(token: str, access: AccessToken) -> None:
    """The request's DPoP proof of the key ``access`` is bound to (RFC 9449 §7.1), or Challenge."""
    if access.binding is None:
        # The DPoP scheme promises a binding this token does not have.
        detail = "This token is not bound to a key: send it as 'Bearer <token>'."
        raise Challenge(401, detail, error="invalid_token", scheme="DPoP")
    # A server joins repeated header fields with commas, which a JWS never holds.
    proofs = ",".join(request.headers.getlist("DPoP")).split(",") if "DPoP" in request.headers else []
    if len(proofs) != 1:  # §4.3 step 1: one proof, not two to choose from
        detail = "One DPoP proof (the DPoP header) is required with this token."
        raise Challenge(401, detail, error="invalid_dpop_proof", scheme="DPoP")
    checker: ProofChecker = current_app.extensions["dpop"]
    # The URL as this service is reached (VERIFIER_URL), whatever the Host header says.
    url = current_app.extensions["verifier_url"] + quote(request.path, safe=PATH_CHARACTERS)
    try:
        checker.check(
            proofs[0], method=request.method, url=url, access_token=token, thumbprint=access.binding
        )
    except ProofRefused as exc:
        raise Challenge(401, str(exc), error="invalid_dpop_proof", scheme="DPoP") from exc


def quotable(text: str) -> str:
    """``text`` with only the characters RFC 6750 §3 allows in error_description."""
    return "".join(c if (" " <= c <= "~" and c not in '"\\') else "?" for c in text)
