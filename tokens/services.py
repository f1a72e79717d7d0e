"""Sessions and their tokens: log in, rotate, verify, revoke."""

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Concat, Length
from django.db.models.lookups import LessThan
from django.utils import timezone

from tokens import codec
from tokens.codec import InvalidToken
from tokens.models import REFRESH_RETRIES, RETRY_DIGEST_LENGTH, Session
from tokens.revocation import forget_session, token_principal
from tokens.tasks import security_event_record
from users.models import User
from users.signals import access_ended


def _digest(jti: str) -> str:
    return hashlib.sha256(jti.encode()).hexdigest()


def _pair(
    *,
    user_id: int,
    generation: int,
    session_id: str,
    refresh: codec.IssuedToken,
    client_id: str,
    binding: str,
) -> dict[str, Any]:
    access = codec.encode(
        user_id=user_id,
        token_use="access",
        ttl=settings.JWT_ACCESS_TTL,
        extra=_family_claims(
            session_id=session_id, generation=generation, client_id=client_id, binding=binding
        ),
    )
    return {
        "access": access.token,
        "refresh": refresh.token,
        # RFC 9449 §5: a bound token is a DPoP token, and must be sent as one.
        "token_type": "DPoP" if binding else "Bearer",
        "expires_in": settings.JWT_ACCESS_TTL,
    }


def _family_claims(*, session_id: str, generation: int, client_id: str, binding: str) -> dict[str, Any]:
    """What every token of a session carries: the session, the user's token generation, the
    client it was issued to (RFC 9068 §2.2) and, when DPoP-bound, the key (RFC 9449 §6.1)."""
    claims: dict[str, Any] = {"sid": session_id, "gen": generation, "client_id": client_id}
    if binding:
        claims["cnf"] = {"jkt": binding}
    return claims


def session_start(
    *,
    user: User,
    client_id: str | None = None,
    binding: str = "",
    user_agent: str = "",
    ip: str | None = None,
) -> dict[str, Any]:
    """Log in: a new session, and the first token pair of its family.

    ``client_id``: the client the tokens are issued to (the first-party one by default);
    ``binding``: the thumbprint of the DPoP key the tokens are bound to, if any.
    """
    now = timezone.now()
    session_id = str(uuid.uuid4())
    client_id = client_id or settings.DEFAULT_CLIENT_ID
    claims = _family_claims(
        session_id=session_id, generation=user.token_generation, client_id=client_id, binding=binding
    )
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
            client_id=client_id,
            binding=binding,
        )
    return _pair(
        user_id=user.pk,
        generation=user.token_generation,
        session_id=session_id,
        refresh=refresh,
        client_id=client_id,
        binding=binding,
    )


def token_pair_issue(*, user: User) -> dict[str, Any]:
    """A fresh session for ``user`` without a password: for tests and trusted tooling."""
    return session_start(user=user)


def refresh_rotate(
    *,
    refresh: str,
    client_id: str | None = None,
    binding: str = "",
    user_agent: str = "",
    ip: str | None = None,
) -> dict[str, Any]:
    """Trade a refresh token for a new pair; the presented token is spent.

    ``client_id`` is the client asking (the first-party one by default): a refresh token
    is only good for the client it was issued to (RFC 6749 §6). ``binding`` is the
    thumbprint of the DPoP proof that came with the request, if any: a bound refresh token
    needs a proof of its own key (RFC 9449 §5), and the new pair is bound to the proof's key.

    A refresh token that was already rotated and is presented again has leaked (or been
    replayed): the whole session is revoked, the current holder's tokens included
    (OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Except a retry: for
    JWT_REFRESH_RETRY_SECONDS after the rotation that spent it, the spent token gets a new
    pair again, so a client whose response was lost, or two tabs refreshing at once, keep
    their session (FAPI 2.0 Security Profile §5.3.2.1 allows rotation only if such a retry
    succeeds). Every pair so issued works until one of them is rotated; then the others are
    reuse, as the spent token is once the window has passed.
    """
    claims = codec.decode(refresh, token_use="refresh")
    caller = token_principal(claims)  # the generation is current: checked there
    session_id, generation = claims["sid"], claims["gen"]
    issued_to = claims.get("client_id") or settings.DEFAULT_CLIENT_ID
    if issued_to != (client_id or settings.DEFAULT_CLIENT_ID):
        raise InvalidToken("This refresh token was issued to another client.")
    if caller.binding and caller.binding != binding:
        raise InvalidToken("This refresh token is bound to a DPoP key: send a proof made with that key.")
    presented = _digest(claims["jti"])
    now = timezone.now()
    new_refresh = codec.encode(
        user_id=caller.id,
        token_use="refresh",
        ttl=settings.JWT_REFRESH_TTL,
        extra=_family_claims(
            session_id=session_id, generation=generation, client_id=issued_to, binding=binding
        ),
    )
    issued = _digest(new_refresh.claims["jti"])
    changes: dict[str, Any] = {
        "last_used": now,
        "expires": now + timedelta(seconds=settings.JWT_REFRESH_TTL),
        "binding": binding,
    }
    if user_agent:
        changes["user_agent"] = user_agent[:256]
    if ip:
        changes["ip"] = ip
    live = Session.objects.filter(pk=session_id, revoked__isnull=True, expires__gt=now)
    # Compare-and-swap in one statement: of two refreshes racing with one token, the
    # database lets exactly one match the current digest and spend it; the other is a retry.
    swapped = live.filter(Q(refresh_digest=presented) | Q(retry_digests__contains=presented)).update(
        refresh_digest=issued, spent_digest=presented, rotated=now, retry_digests="", **changes
    )
    if not swapped and not _retry(live, spent=presented, issued=issued, now=now, changes=changes):
        _session_end(session_id=session_id, user_id=caller.id, reason=Session.Reason.REUSE)
        raise InvalidToken("This refresh token was already used; its session is revoked.")
    return _pair(
        user_id=caller.id,
        generation=generation,
        session_id=session_id,
        refresh=new_refresh,
        client_id=issued_to,
        binding=binding,
    )


def _retry(
    live: QuerySet[Session], *, spent: str, issued: str, now: datetime, changes: dict[str, Any]
) -> bool:
    """Whether the token ``spent`` may be retried, as it was spent within the window: then
    ``issued`` joins the family's current tokens.

    One statement again: the window, the count and the append are checked and made under
    the row's write lock, so racing retries neither lose one another's token nor pass the
    count. The window runs from the rotation, and a retry does not extend it.
    """
    window = settings.JWT_REFRESH_RETRY_SECONDS
    if not window:
        return False
    # A third presentation within the window is allowed, and a few more: a retried request
    # can lose its response too, and two tabs can each retry. A client presenting one token
    # more often than that within seconds is looping, or is not the only one holding it: the
    # cap (REFRESH_RETRIES) keeps the family's current tokens few, and past it reuse ends it.
    retried = live.filter(
        LessThan(Length("retry_digests"), REFRESH_RETRIES * RETRY_DIGEST_LENGTH),
        spent_digest=spent,
        rotated__gt=now - timedelta(seconds=window),
    ).update(retry_digests=Concat(F("retry_digests"), Value(f"{issued} ")), **changes)
    return bool(retried)


def token_verify(*, token: str) -> dict[str, Any]:
    """Claims of a live access or refresh token, or InvalidToken."""
    try:
        claims = codec.decode(token, token_use="access")
    except InvalidToken:
        claims = codec.decode(token, token_use="refresh")
    token_principal(claims)
    return claims


def token_introspect(*, token: str, hint: str | None = None) -> dict[str, Any]:
    """RFC 7662 §2.2: what a token is, if it is usable now, or ``{"active": False}``.

    Usable means what the API itself accepts: a valid signature and claims for this issuer
    and audience, a live session, an active user at the token's generation, checked
    through the same revocation state (tokens.revocation, no database query when warm;
    with Redis, one Redis read rather than the process's memo).
    """
    uses: tuple[codec.TokenUse, ...] = (
        ("refresh", "access") if hint == "refresh_token" else ("access", "refresh")
    )
    for token_use in uses:
        try:
            claims = codec.decode(token, token_use=token_use)
            # Where Redis holds the revocation state, ask it past this process's memo: a
            # logout on any worker is then reported at once, and the resource server's own
            # cache of the answer is the only delay.
            caller = token_principal(claims, fresh=settings.REVOCATION_SHARED_CACHE)
        except InvalidToken:
            continue
        answer: dict[str, Any] = {
            "active": True,
            "client_id": claims.get("client_id") or settings.DEFAULT_CLIENT_ID,
            "username": caller.username,
            **{name: claims[name] for name in ("sub", "iss", "aud", "exp", "iat", "nbf", "jti", "sid")},
        }
        if token_use == "access":
            answer["token_type"] = "DPoP" if caller.binding else "Bearer"
        if caller.binding:
            answer["cnf"] = {"jkt": caller.binding}
        return answer
    return {"active": False}


def token_revoke(*, token: str, client_id: str) -> None:
    """RFC 7009: end the session of a refresh or access token issued to ``client_id``.

    Silent whatever the token: an invalid, expired or unknown token, or one of another
    client, leaves nothing to do and tells the caller nothing (§2.2).
    """
    uses: tuple[codec.TokenUse, ...] = ("refresh", "access")
    for token_use in uses:
        try:
            # Signature, issuer and audience, not liveness: revoking an ended session is a no-op.
            claims = codec.decode(token, token_use=token_use)
        except InvalidToken:
            continue
        if (claims.get("client_id") or settings.DEFAULT_CLIENT_ID) == client_id:
            _session_end(session_id=claims["sid"], user_id=int(claims["sub"]), reason=Session.Reason.REVOKED)
        return


def _session_end(*, session_id: str, user_id: int, reason: str) -> None:
    """End a session of user ``user_id`` and every token of its family, unless it has already
    ended. Its security event is recorded with it, in one transaction, when it ends now."""
    with transaction.atomic():
        ended = Session.objects.filter(pk=session_id, revoked__isnull=True).update(
            revoked=timezone.now(), revoked_reason=reason
        )
        if ended:
            security_event_record(
                kind="session-revoked", user_id=user_id, session_id=str(session_id), reason=reason
            )
    forget_session(session_id)


def session_revoke(*, session: Session, reason: str) -> None:
    """End ``session``, one the caller may revoke (tokens.permissions), and every token of its family."""
    _session_end(session_id=str(session.pk), user_id=session.user_id, reason=reason)


def logout(*, refresh: str) -> None:
    """End the session a refresh token belongs to (any token of the family will do)."""
    claims = codec.decode(refresh, token_use="refresh")
    _session_end(session_id=claims["sid"], user_id=int(claims["sub"]), reason=Session.Reason.LOGOUT)


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
