"""Receiving the task service's security events (RFC 8935 push, RFC 8417 SETs, CAEP 1.0).

When a session ends at the task service (a logout, a revocation, a password change...), it
pushes each confidential client that registered an events URL a Security Event Token:
``POST <VERIFIER_EVENTS_PATH>`` with ``Content-Type: application/secevent+jwt`` and the SET
as the body. This module checks the SET with the same keys as the access tokens
(examples/verifier/jwks.py) and remembers what it says, so that the app refuses the
session's access tokens at once, without asking the task service about every token.

A SET is accepted only if its header says ``typ: secevent+jwt`` (RFC 8417 §2.3), names a
published key with that key's own algorithm (never ``none`` or HMAC), the signature
verifies, ``iss`` is the task service, ``aud`` is this service's client id, ``iat`` and
``jti`` are there, and ``events`` holds exactly one event of a type we know: CAEP's
session-revoked (§3.1) or credential-change (§3.3), whose subject (``sub_id``, RFC 9493) names
the user and, for a session, the session. Refusals are RFC 8935 §2.3's ``err`` codes.

What is remembered, and for how long: a revoked session (every token carrying its ``sid`` is
refused), and a user's cut-off time (every token of the user issued at or before the event
is refused: a credential change, or a session-revoked naming the user alone). Each entry is
kept ``retain`` seconds past its event, which must outlast the access tokens it refuses.
Recording an event twice changes nothing, so a replayed SET (at-least-once delivery sends
some twice) is simply accepted again.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from examples.verifier.jwks import ALGORITHM_KEYS, JwksCache
from examples.verifier.tokens import FORBIDDEN_HEADERS, is_canonical_jws

SET_TYPES = frozenset(
    {"secevent+jwt", "application/secevent+jwt"}
)  # RFC 7515 §4.1.9: "application/" may be left out
MEDIA_TYPE = "application/secevent+jwt"
EVENT_KINDS = {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": "session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change": "credential-change",
}
REQUIRED_CLAIMS = ["iss", "aud", "iat", "jti", "events"]  # RFC 8417 §2.2
MAX_SET_BYTES = 16 * 1024
MAX_ID_LENGTH = 256


class EventRefused(Exception):
    """The SET is not accepted: ``err`` is an RFC 8935 §2.3 code, the message its description."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err, self.description = err, description


class EventsUnavailable(Exception):
    """Too many live entries to remember another: the transmitter should try again later."""


@dataclass(frozen=True)
class SecurityEvent:
    jti: str
    kind: str  # "session-revoked" or "credential-change"
    user: str  # the user's id, as the access tokens' ``sub``
    session: str | None  # the session's id, as the access tokens' ``sid``; None: every session
    timestamp: float  # when it happened (CAEP §2 event_timestamp, else the SET's iat)


@dataclass(frozen=True)
class EventVerifier:
    keys: JwksCache
    issuer: str
    audience: str  # this service's client id at the task service
    leeway: float = 30.0

    def verify(self, token: str) -> SecurityEvent:
        """The event of a SET, or EventRefused (KeysUnavailable if no keys can be had)."""
        if len(token) > MAX_SET_BYTES or not is_canonical_jws(token):
            raise EventRefused("invalid_request", "The body is not a SET.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise EventRefused("invalid_request", "The body is not a SET.") from exc
        if header.get("typ") not in SET_TYPES:
            # RFC 8417 §2.3: explicit typing, so an access or ID token is never taken for a SET.
            raise EventRefused("invalid_request", "This is not a SET (typ secevent+jwt).")
        if FORBIDDEN_HEADERS & header.keys() or "crit" in header:
            raise EventRefused("invalid_request", "The SET names its own key or has critical extensions.")
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHM_KEYS or not isinstance(kid, str) or not kid:
            raise EventRefused("invalid_key", "The SET is not signed with a published key's algorithm.")
        key = self.keys.key(kid)
        if key is None:
            raise EventRefused("invalid_key", "The SET was not signed by any key the issuer publishes.")
        if header["alg"] != key.algorithm:
            raise EventRefused("invalid_key", "The SET's algorithm does not match its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "strict_aud": False},
            )
        except jwt.InvalidAudienceError as exc:
            raise EventRefused("invalid_audience", "The SET is not meant for this service.") from exc
        except jwt.InvalidIssuerError as exc:
            raise EventRefused("invalid_issuer", "The SET was issued by someone else.") from exc
        except jwt.InvalidSignatureError as exc:
            # The signature is what authenticates the transmitter of a push (RFC 8935 §4.1).
            raise EventRefused("authentication_failed", "The SET's signature is invalid.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise EventRefused("invalid_request", f"The SET lacks the {exc.claim!r} claim.") from exc
        except jwt.PyJWTError as exc:
            raise EventRefused("invalid_request", "The SET's claims are malformed.") from exc
        except Exception as exc:  # hostile input must end in a refusal, whatever parser corner it reaches
            raise EventRefused("invalid_request", "The body is not a SET.") from exc
        return event_of(claims)


def event_of(claims: Mapping[str, Any]) -> SecurityEvent:
    """The one event of a SET's verified claims, or EventRefused (``invalid_request``)."""
    jti, iat, events = claims["jti"], claims["iat"], claims["events"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_ID_LENGTH:
        raise EventRefused("invalid_request", "The SET's jti is malformed.")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise EventRefused("invalid_request", "The SET's iat is not a number.")
    if not isinstance(events, dict) or len(events) != 1:
        raise EventRefused("invalid_request", "A SET holds exactly one event.")
    [(uri, payload)] = events.items()
    kind = EVENT_KINDS.get(uri)
    if kind is None:
        raise EventRefused("invalid_request", "The event type is not one this service knows.")
    if not isinstance(payload, dict):
        raise EventRefused("invalid_request", "The event is not a JSON object.")
    timestamp = payload.get("event_timestamp", iat)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise EventRefused("invalid_request", "The event's event_timestamp is not a number.")
    subject = claims.get("sub_id")
    if not isinstance(subject, dict) or subject.get("format") != "complex":
        raise EventRefused("invalid_request", "The SET's sub_id is not a complex subject (RFC 9493 §3.3).")
    user = opaque_id(subject.get("user"))
    session = opaque_id(subject["session"]) if "session" in subject else None
    if user is None or ("session" in subject and session is None):
        raise EventRefused("invalid_request", "The SET's sub_id does not name a user (and a session).")
    if kind == "credential-change" and session is not None:
        raise EventRefused("invalid_request", "A credential change is about a user, not a session.")
    return SecurityEvent(jti=jti, kind=kind, user=user, session=session, timestamp=float(timestamp))


def opaque_id(identifier: object) -> str | None:
    """The id of an RFC 9493 §3.2.4 opaque identifier, None if ``identifier`` is not one."""
    if not isinstance(identifier, dict) or identifier.get("format") != "opaque":
        return None
    value = identifier.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH else None


class EndedAccess:
    """What the security events received have ended: sessions, and users' tokens up to a time.

    In this process's memory, bounded: ``max_entries`` live entries at most, each forgotten
    ``retain`` seconds after its event (by then every access token it refuses has expired).
    When full of live entries, a new event is refused (EventsUnavailable, a 503 the
    transmitter retries) rather than an old one forgotten, which would make its tokens good
    again. Behind several processes, each would need every event: a real service keeps them
    in a store all its processes share.
    """

    def __init__(
        self, *, retain: float = 3600.0, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        if retain <= 0 or max_entries < 1:
            raise ValueError("the events' retention and size must be positive")
        self.retain, self.max_entries, self.clock = retain, max_entries, clock
        self._lock = threading.Lock()
        self._sessions: dict[str, float] = {}  # sid -> when to forget it
        self._users: dict[str, tuple[float, float]] = {}  # sub -> (cut-off, when to forget it)

    def record(self, event: SecurityEvent) -> None:
        """Remember ``event``; recording one twice is the same as once."""
        now = self.clock()
        forget = max(now, event.timestamp) + self.retain
        with self._lock:
            known = (
                event.session in self._sessions if event.session is not None else event.user in self._users
            )
            if not known:
                self._make_room(now)
            if event.session is not None:
                self._sessions[event.session] = max(forget, self._sessions.get(event.session, 0.0))
                return
            cutoff, until = self._users.get(event.user, (float("-inf"), 0.0))
            self._users[event.user] = (max(cutoff, event.timestamp), max(until, forget))

    def refuses(self, claims: Mapping[str, Any]) -> bool:
        """Whether an access token with ``claims`` (already verified) belongs to ended access."""
        now = self.clock()
        with self._lock:
            sid = claims.get("sid")
            if isinstance(sid, str) and self._sessions.get(sid, 0.0) > now:
                return True
            cutoff, until = self._users.get(str(claims.get("sub")), (float("-inf"), 0.0))
            return until > now and claims["iat"] <= cutoff

    def __len__(self) -> int:
        return len(self._sessions) + len(self._users)

    def _make_room(self, now: float) -> None:
        if len(self) < self.max_entries:
            return
        self._sessions = {sid: until for sid, until in self._sessions.items() if until > now}
        self._users = {sub: entry for sub, entry in self._users.items() if entry[1] > now}
        if len(self) >= self.max_entries:
            raise EventsUnavailable


@dataclass(frozen=True)
class EventReceiver:
    """The verifier and the memory of events, as the app uses them."""

    verifier: EventVerifier
    ended: EndedAccess
