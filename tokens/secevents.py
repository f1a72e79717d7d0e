"""Security Event Tokens (RFC 8417) telling our confidential clients that access has ended.

A client that registered an events URL (``Client.events_url``) is pushed a SET (RFC 8935)
whenever a session ends here, so that a resource server holding our access tokens can refuse
them at once instead of when they expire. The events are two of the OpenID Continuous Access
Evaluation Profile 1.0 (CAEP): session-revoked (§3.1) and credential-change (§3.3). Each SET
is signed with the token signing key (the JWKS every client already fetches) and is made for
one receiving client, its ``aud``.

Which change makes which SET (tokens.tasks records and pushes them; ``reason`` is
the Session.Reason the change records, or "deleted"; every SET goes to every client of
``event_receivers()``, since any resource server may hold any session's access tokens):

============================================  ===========================================
change (where it happens)                     SETs, one per receiving client
============================================  ===========================================
logout (services.logout)                      session-revoked, that session; "logout"
RFC 7009 revocation (services.token_revoke)   session-revoked, that session; "revoked"
a session revoked (services.session_revoke)   session-revoked, that session; "revoked"
refresh token reuse (services.refresh_rotate) session-revoked, that session; "reuse"
client revoked (clients.client_revoke)        session-revoked, each session it ended;
                                              "client_revoked"
logout everywhere (user_tokens_revoke)        session-revoked, session_id None; "logout_all"
password change (user_tokens_revoke)          credential-change, "password"; then
                                              session-revoked, session_id None, "password",
                                              both with one ``txn``
deactivation (users.services)                 session-revoked, session_id None; "deactivated"
deletion (users.services, before the delete)  session-revoked, session_id None; "deleted"
============================================  ===========================================

Why so:

- A password change is a credential-change (CAEP §3.3 names "password change/reset"), but
  that event only informs: CAEP attaches no required action to it, and a receiver may well
  keep its sessions. Ours ends every session, so a session-revoked says so too; both carry
  the same ``txn`` (RFC 8417 §2.2), as one change made them.
- When every session of a user ends at once (logout everywhere, password, deactivation,
  deletion) one session-revoked names the user alone: CAEP §3.1 lets the subject identify
  the applicable sessions by their properties rather than by a session id, and the user is
  one. It covers every session at once, those this receiver never saw included, and is one
  SET instead of one per session. ``event_timestamp`` bounds it: tokens issued after it, of
  a later login, are not affected.
- Deactivation and deletion are not credential-change with change_type "revoke": that
  event is about one credential, and a deactivated user's password is unchanged. What ends
  is access, which is what session-revoked says. (RISC's account-disabled would be more
  precise, but RISC is not the profile our receivers are asked to implement.)
"""

import json
import uuid
from typing import Any, Literal

import jwt
from django.conf import settings
from django.utils import timezone

from tokens.keys import key_ring
from tokens.models import Client

EventKind = Literal["session-revoked", "credential-change"]
SET_TYPE = "secevent+jwt"  # RFC 8417 §2.3
SET_MEDIA_TYPE = "application/secevent+jwt"  # RFC 8417 §7.2, RFC 8935 §2
EVENT_TYPES: dict[str, str] = {
    "session-revoked": "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "credential-change": "https://schemas.openid.net/secevent/caep/event-type/credential-change",
}
# CAEP §2: who initiated the event ("admin", "user", "policy" or "system"), and
# reason_admin, a message for logs keyed by language tag. One entry per reason we record.
REASONS: dict[str, tuple[str, str]] = {
    "logout": ("user", "The user logged out."),
    "logout_all": ("user", "The user logged out everywhere."),
    "revoked": ("user", "The session was revoked by the user or the client."),
    "reuse": ("policy", "A rotated refresh token was presented again."),
    "client_revoked": ("admin", "The client the session was issued to was revoked."),
    "password": ("user", "The password changed."),
    "deactivated": ("admin", "The account was deactivated."),
    "deleted": ("user", "The account was deleted."),
}
# RFC 8935 §2.3 and its IANA registry (§7.1): the "err" codes a receiver answers a 400 with.
# invalid_key may be the receiver's key cache lagging behind a rotation: worth another try.
# The others refuse this very SET (or our standing with the receiver), and the same bytes
# sent again would be refused again.
RETRYABLE_ERRORS = frozenset({"invalid_key"})
PERMANENT_ERRORS = frozenset(
    {"invalid_request", "invalid_issuer", "invalid_audience", "authentication_failed", "access_denied"}
)


def security_event(
    *,
    kind: EventKind,
    user_id: int,
    session_id: str | None,
    reason: str,
    audience: str,
    event_timestamp: int | None = None,
    txn: str | None = None,
    jti: str | None = None,
) -> str:
    """A SET for the client ``audience``: ``kind`` happened to the session ``session_id`` of user
    ``user_id`` (to every session of the user when ``session_id`` is None), for ``reason``
    (a key of REASONS), at ``event_timestamp`` (now by default).

    Made when it is delivered, not when the change happens (signing is not one insert): the
    outbox keeps these arguments, with ``event_timestamp`` set to when the change happened
    and a ``jti`` of its own, so that every attempt to deliver one event is the same SET to
    its receiver (RFC 8417 §2.2: the jti identifies the SET).

    Raises ValueError for an unknown kind or reason, or a credential-change naming a session.
    """
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown security event {kind!r}")
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    if kind == "credential-change" and session_id is not None:
        raise ValueError("a credential-change is about the user, not a session")
    key = key_ring().signing
    now = int(timezone.now().timestamp())
    initiating_entity, message = REASONS[reason]
    event: dict[str, Any] = {
        "event_timestamp": now if event_timestamp is None else event_timestamp,
        "initiating_entity": initiating_entity,
        "reason_admin": {"en": message},
    }
    if kind == "credential-change":
        # CAEP §3.3: both required. Our one credential is the password; a change is an update.
        event |= {"credential_type": "password", "change_type": "update"}
    claims: dict[str, Any] = {
        "iss": settings.JWT_ISSUER,
        "aud": audience,
        "iat": now,
        "jti": jti or uuid.uuid4().hex,
        "sub_id": _subject(user_id=user_id, session_id=session_id),
        # RFC 8417 §2.2: one SET, one event; RFC 8417 §4.3: no "exp" and no "sub", so that
        # nothing that checks access tokens (or ID tokens) can take it for one.
        "events": {EVENT_TYPES[kind]: event},
    }
    if txn is not None:
        claims["txn"] = txn
    return jwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": SET_TYPE})


def event_receivers() -> list[tuple[str, str]]:
    """The clients a security event goes to, as (client id, events URL): every confidential,
    unrevoked client that registered an events URL."""
    receivers = Client.objects.filter(confidential=True, revoked__isnull=True).exclude(events_url="")
    return list(receivers.order_by("created").values_list("id", "events_url"))


def _subject(*, user_id: int, session_id: str | None) -> dict[str, Any]:
    """The subject as a Subject Identifier (RFC 9493 §3) in the SET's top-level ``sub_id``
    (Shared Signals Framework 1.0 §4.1): the user, opaque, and with a session, the complex
    form naming both (CAEP §3.1's example)."""
    user = {"format": "opaque", "id": str(user_id)}
    if session_id is None:
        return {"format": "complex", "user": user}
    return {"format": "complex", "user": user, "session": {"format": "opaque", "id": session_id}}


def set_push_request(token: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an RFC 8935 §2 push of ``token``: the SET itself, as its media type."""
    return token.encode("ascii"), {"Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"}


def push_answer_ok(status: int, body: bytes) -> bool:
    """Whether a receiver's answer says it took the SET (RFC 8935 §2.2: 202 Accepted).

    Any 2xx counts: a receiver answering 200 or 204 has the SET, and sending it again could
    only be refused as a replay or accepted twice.
    """
    return 200 <= status < 300


def push_error(status: int, body: bytes) -> str | None:
    """The RFC 8935 §2.3 ``err`` code of a refusal, None when the answer carries none."""
    if status != 400 or len(body) > 64 * 1024:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    err = answer.get("err") if isinstance(answer, dict) else None
    return err if isinstance(err, str) else None


def push_answer_retryable(status: int, body: bytes) -> bool:
    """Whether a push that was not accepted is worth sending again later.

    A 400 with a registered ``err`` (RFC 8935 §2.3) is final, but for ``invalid_key``; a 400
    without one cannot be told apart from a bad request and is final too; 401 and 403 are
    the receiver refusing us (§2.3's authentication_failed and access_denied), which a retry
    does not change until someone does. Anything else (5xx, 408, 429, an unknown answer) is
    the receiver not ready: retried.
    """
    if push_answer_ok(status, body):
        return False
    if status == 400:
        return push_error(status, body) in RETRYABLE_ERRORS
    return status not in (401, 403, 404, 405, 410, 413, 415)
