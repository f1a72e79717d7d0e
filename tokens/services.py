"""Sessions and their tokens: log in, rotate, verify, revoke."""

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tokens import codec
from tokens.codec import InvalidToken
from tokens.models import Session
from tokens.revocation import forget_session, token_principal
from users.models import User
from users.signals import access_ended


def _digest(jti: str) -> str:
    return hashlib.sha256(jti.encode()).hexdigest()


def _pair(*, user_id: int, generation: int, session_id: str, refresh: codec.IssuedToken) -> dict[str, Any]:
    claims = {"sid": session_id, "gen": generation}
    access = codec.encode(user_id=user_id, token_use="access", ttl=settings.JWT_ACCESS_TTL, extra=claims)
    return {
        "access": access.token,
        "refresh": refresh.token,
        "token_type": "Bearer",
        "expires_in": settings.JWT_ACCESS_TTL,
    }


def session_start(*, user: User, user_agent: str = "", ip: str | None = None) -> dict[str, Any]:
    """Log in: a new session, and the first token pair of its family."""
    now = timezone.now()
    session_id = str(uuid.uuid4())
    claims = {"sid": session_id, "gen": user.token_generation}
    refresh = codec.encode(user_id=user.pk, token_use="refresh", ttl=settings.JWT_REFRESH_TTL, extra=claims)
    with transaction.atomic():
        # Passive pruning: a login clears the user's sessions that can no longer be used.
        Session.objects.filter(user=user, expires__lt=now).delete()
        Session.objects.create(
            id=session_id,
            user=user,
            last_used=now,
            expires=now + timedelta(seconds=settings.JWT_REFRESH_TTL),
            user_agent=user_agent[:256],
            ip=ip,
            refresh_digest=_digest(refresh.claims["jti"]),
        )
    return _pair(user_id=user.pk, generation=user.token_generation, session_id=session_id, refresh=refresh)


def token_pair_issue(*, user: User) -> dict[str, Any]:
    """A fresh session for ``user`` without a password: for tests and trusted tooling."""
    return session_start(user=user)


def refresh_rotate(*, refresh: str, user_agent: str = "", ip: str | None = None) -> dict[str, Any]:
    """Trade a refresh token for a new pair; the presented token is spent.

    A refresh token that was already rotated and is presented again has leaked (or been
    replayed): the whole session is revoked, the current holder's tokens included
    (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
    """
    claims = codec.decode(refresh, token_use="refresh")
    caller = token_principal(claims)  # the generation is current: checked there
    session_id, generation = claims["sid"], claims["gen"]
    now = timezone.now()
    new_refresh = codec.encode(
        user_id=caller.id,
        token_use="refresh",
        ttl=settings.JWT_REFRESH_TTL,
        extra={"sid": session_id, "gen": generation},
    )
    changes: dict[str, Any] = {
        "refresh_digest": _digest(new_refresh.claims["jti"]),
        "last_used": now,
        "expires": now + timedelta(seconds=settings.JWT_REFRESH_TTL),
    }
    if user_agent:
        changes["user_agent"] = user_agent[:256]
    if ip:
        changes["ip"] = ip
    # Compare-and-swap in one statement: of two refreshes racing with one token, the
    # database lets exactly one match the old digest.
    swapped = Session.objects.filter(
        pk=session_id, refresh_digest=_digest(claims["jti"]), revoked__isnull=True, expires__gt=now
    ).update(**changes)
    if not swapped:
        _session_end(session_id=session_id, reason=Session.Reason.REUSE)
        raise InvalidToken("This refresh token was already used; its session is revoked.")
    return _pair(user_id=caller.id, generation=generation, session_id=session_id, refresh=new_refresh)


def token_verify(*, token: str) -> dict[str, Any]:
    """Claims of a live access or refresh token, or InvalidToken."""
    try:
        claims = codec.decode(token, token_use="access")
    except InvalidToken:
        claims = codec.decode(token, token_use="refresh")
    token_principal(claims)
    return claims


def _session_end(*, session_id: str, reason: str) -> None:
    """End a session and every token of its family, unless it has already ended."""
    Session.objects.filter(pk=session_id, revoked__isnull=True).update(
        revoked=timezone.now(), revoked_reason=reason
    )
    forget_session(session_id)


def session_revoke(*, session: Session, reason: str) -> None:
    """End ``session``, one the caller may revoke (tokens.permissions), and every token of its family."""
    _session_end(session_id=str(session.pk), reason=reason)


def logout(*, refresh: str) -> None:
    """End the session a refresh token belongs to (any token of the family will do)."""
    claims = codec.decode(refresh, token_use="refresh")
    _session_end(session_id=claims["sid"], reason=Session.Reason.LOGOUT)


@transaction.atomic
def user_tokens_revoke(*, user_id: int, reason: str) -> None:
    """End every credential of user ``user_id``: logout everywhere, a new password.

    The new generation ends every token and browser session; the access_ended receivers
    revoke the sessions, with ``reason`` (tokens.signals), and delete the calendar feeds
    (feeds.signals).
    """
    locked = User.objects.select_for_update().get(pk=user_id)
    locked.token_generation += 1
    locked.save(update_fields=["token_generation"])  # its post_save handler updates the cache
    access_ended.send(sender=User, user=locked, reason=reason)


def sessions_end(*, user: User, reason: str) -> None:
    """Revoke every live session of ``user``, and tell every worker."""
    live = [
        str(pk) for pk in Session.objects.filter(user=user, revoked__isnull=True).values_list("id", flat=True)
    ]
    Session.objects.filter(id__in=live).update(revoked=timezone.now(), revoked_reason=reason)
    for session_id in live:
        forget_session(session_id)
