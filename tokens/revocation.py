"""Is a verified token still alive? Answered from the cache, with the database as the truth.

Two facts decide it: the token's session is live (not revoked, not expired), and its
user is active and still at the token generation the token was issued under. Both are
cached per session and per user (Redis when REDIS_URL is set, so every worker and every
instance agrees), so in the steady state an authenticated request asks the database
nothing. A cold entry, or a cache that is down, is answered by one database query.

Every change is written to the database first and then to the cache after commit, so a
revocation is seen by every worker at once through Redis (whose entries live
REVOCATION_CACHE_TTL seconds), and within REVOCATION_LOCAL_TTL (at most one second) by
each process's own memo of live sessions.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.caches import BoundedCache
from tokens.codec import InvalidToken
from tokens.models import Session
from users.models import User
from users.principal import Principal

logger = logging.getLogger(__name__)

DEAD = "dead"


def session_key(session_id: str) -> str:
    return f"auth:session:{session_id}"


def user_key(user_id: int) -> str:
    return f"auth:user:{user_id}"


@dataclass(frozen=True)
class UserState:
    generation: int
    is_active: bool
    is_staff: bool
    is_superuser: bool
    username: str


def _cache_get(keys: list[str]) -> dict[str, Any] | None:
    try:
        return cache.get_many(keys)
    except Exception:
        logger.warning("cache unavailable; checking tokens against the database", exc_info=True)
        return None


def _cache_set(values: dict[str, Any], *, only_if_absent: bool = False) -> None:
    try:
        if only_if_absent:
            # A reader fills a cold entry with add(), never set(): if a writer stored newer
            # state meanwhile, the writer's entry stands and the reader's is dropped.
            for key, value in values.items():
                cache.add(key, value, timeout=settings.REVOCATION_CACHE_TTL)
        else:
            cache.set_many(values, timeout=settings.REVOCATION_CACHE_TTL)
    except Exception:
        logger.warning("cache unavailable; revocation state not cached", exc_info=True)


def user_state(user: User) -> UserState:
    return UserState(user.token_generation, user.is_active, user.is_staff, user.is_superuser, user.username)


def _load(session_id: str) -> tuple[int | str, UserState | None]:
    """(the session's user id, or DEAD; the user's state) from the database."""
    row = (
        Session.objects.filter(pk=session_id)
        .values_list(
            "revoked",
            "expires",
            "user_id",
            "user__token_generation",
            "user__is_active",
            "user__is_staff",
            "user__is_superuser",
            "user__username",
        )
        .first()
    )
    if row is None:
        return DEAD, None
    revoked, expires, user_id, generation, is_active, is_staff, is_superuser, username = row
    alive = revoked is None and expires > timezone.now()
    state = UserState(generation, is_active, is_staff, is_superuser, username)
    return (user_id if alive else DEAD), state


class LocalMemo:
    """This process's memory of live sessions: {(sid, user id): (good until, the user's state)}.

    Read on every authenticated request. A revocation made in this process clears the
    memo at once, one made elsewhere is seen when the entry runs out
    (REVOCATION_LOCAL_TTL, at most one second). It keeps the user's frozen state, never a
    caller: each request gets a Principal of its own.
    """

    def __init__(self, size: int = 100_000) -> None:
        self.ttl: float = settings.REVOCATION_LOCAL_TTL
        self.entries: BoundedCache[tuple[str, int], tuple[float, UserState]] = BoundedCache(
            "revocation.memo", size
        )

    def get(self, sid: str, user_id: int) -> UserState | None:
        """The user's state, if still trusted."""
        entry = self.entries.get((sid, user_id))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, sid: str, user_id: int, state: UserState) -> None:
        self.entries.put((sid, user_id), (time.monotonic() + self.ttl, state))

    def clear(self) -> None:
        self.entries.clear()


memo = LocalMemo()


def _shared_or_database(sid: str, user_id: int) -> tuple[int | str | None, UserState | str | None]:
    """(the session's owner or DEAD, the user's state) from Redis, else from the database."""
    keys = [session_key(sid), user_key(user_id)]
    found = (_cache_get(keys) or {}) if settings.REVOCATION_SHARED_CACHE else {}
    owner, state = found.get(keys[0]), found.get(keys[1])
    if owner is not None and state is not None:
        return owner, state
    try:
        owner, loaded = _load(sid)
    except (ValidationError, ValueError) as exc:  # a sid the UUID field cannot even parse
        # Only that: a database that is down must surface (a 503 to retry), not be
        # mistaken for a bad token and answered 401.
        raise InvalidToken("The token's session is malformed.") from exc
    if settings.REVOCATION_SHARED_CACHE:
        fresh: dict[str, Any] = {keys[0]: owner}
        if loaded is not None and owner == user_id:
            fresh[keys[1]] = loaded
        _cache_set(fresh, only_if_absent=True)
    return owner, loaded


def token_principal(claims: dict[str, Any], *, fresh: bool = False) -> Principal:
    """The caller a verified access or refresh token speaks for, or InvalidToken.

    ``fresh``: skip this process's memo and ask the shared state (Redis, where configured:
    still no database query when warm), so that a revocation made by another worker or
    instance is seen at once, not up to REVOCATION_LOCAL_TTL later. Introspection asks so:
    its answer is cached again by the resource server that asked.
    """
    user_id = int(claims["sub"])
    sid, generation = claims.get("sid"), claims.get("gen")
    if not isinstance(sid, str) or len(sid) != 36 or not isinstance(generation, int):
        raise InvalidToken("The token's session is malformed.")
    state = None if fresh else memo.get(sid, user_id)
    if state is None:
        owner, found = _shared_or_database(sid, user_id)
        if owner != user_id:
            raise InvalidToken("The token's session has ended.")
        if not isinstance(found, UserState) or not found.is_active:
            raise InvalidToken("The token's user is unknown or inactive.")
        state = found
        memo.put(sid, user_id, state)
    if state.generation != generation:
        raise InvalidToken("The token was revoked.")
    confirmation = claims.get("cnf")
    return Principal(
        id=user_id,
        username=state.username,
        is_staff=state.is_staff,
        is_superuser=state.is_superuser,
        is_active=state.is_active,
        session_id=sid,
        client_id=claims.get("client_id"),
        binding=confirmation.get("jkt") if isinstance(confirmation, dict) else None,
    )


def _publish(key: str, value: Any) -> None:
    """Drop ``key`` now, then store the committed ``value`` once the transaction commits.

    Dropping first means no worker keeps trusting the old state while the transaction is
    open (a reload from the database is always safe); storing after commit means a rolled
    back change is never published.
    """
    memo.clear()
    if not settings.REVOCATION_SHARED_CACHE:
        return  # every worker asks the database once its memo entry runs out
    try:
        cache.delete(key)
    except Exception:
        logger.warning("cache unavailable; %s not dropped", key, exc_info=True)
    transaction.on_commit(lambda: _cache_set({key: value}))


def forget_session(session_id: str) -> None:
    """Every worker sees the session as ended."""
    _publish(session_key(session_id), DEAD)


def remember_user(user: User, *, deleted: bool = False) -> None:
    """Every worker sees the user's new state (or that it is gone)."""
    _publish(user_key(user.pk), DEAD if deleted else user_state(user))
