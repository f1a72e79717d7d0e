"""Login throttling, per client address and per account, shared through the cache.

The counters live in the default cache (Redis when REDIS_URL is set), so every worker and
every instance counts together. If the cache is unreachable the counters fall back to
this process's memory: throttling then still holds per worker, instead of failing open
or turning every login into a 500.

Every check of a password takes one attempt from both counters, whatever the door
(users.passwords routes each one through ``password_attempt``).
"""

import hashlib
import logging
import unicodedata
from typing import Any, cast

from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from rest_framework.exceptions import APIException, Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)

_local_counters = LocMemCache("login-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})


def client_address(request: Request | HttpRequest) -> str:
    """REMOTE_ADDR, or X-Forwarded-For only through TRUSTED_PROXY_COUNT proxies (DRF's rule)."""
    # get_ident reads only META and the headers, which a Django request has as DRF's does.
    return BaseThrottle().get_ident(cast(Request, request))


class ResilientRateThrottle(SimpleRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except APIException:
            raise  # the request's own fault (a body that does not parse), not the cache's
        except Exception:
            logger.warning("throttle cache unavailable; counting in this process", exc_info=True)
            self.cache = _local_counters
            return super().allow_request(request, view)


class SignupThrottle(ResilientRateThrottle):
    scope = "signup"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class PasswordAttemptsExceeded(Throttled):
    """Too many password checks from one address or for one account: a 429 in DRF views."""

    default_detail = "Too many login attempts."
    wait: int  # seconds, always given


class _AttemptCounter(ResilientRateThrottle):
    """DRF's rate history under ``scope`` for one identity, rather than for one request."""

    duration: int  # seconds, from the rate (SimpleRateThrottle.__init__)

    def __init__(self, *, scope: str, ident: str) -> None:
        self.scope = scope
        self.ident = ident
        super().__init__()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def account_key(username: str) -> str:
    """One key for every spelling that can reach one account.

    The serializers and Django's forms strip surrounding whitespace, the forms then apply
    NFKC (as AbstractBaseUser.normalize_username does to the stored name), so " alice\\n"
    and "alice" in fullwidth letters (U+FF41...) log in as alice. Case is folded too:
    usernames are case-sensitive, so a name that differs only in case reaches another
    account or none, but counting them together costs at most holding up a look-alike.
    Hashed: usernames are not written into the cache's key space as they are.
    """
    normalized = unicodedata.normalize("NFKC", username.strip()).casefold()
    return hashlib.sha256(normalized.encode()).hexdigest()


def password_attempt(*, address: str | None, username: str) -> None:
    """Take one attempt from the address's and the account's counters, or raise
    PasswordAttemptsExceeded with the longer wait if either is spent.

    Every attempt counts, right or wrong, as POST /auth/token/ always has. ``address`` is
    None when no request is behind the check (a management command): the account's
    counter still applies.
    """
    counters = [_AttemptCounter(scope="login_username", ident=account_key(username))]
    if address is not None:
        counters.append(_AttemptCounter(scope="login", ident=address))
    # Each counter is asked, as DRF asks every throttle of a view: an allowed attempt is
    # recorded even when the other counter refuses it.
    refused = [counter for counter in counters if not counter.allow_request(None, None)]
    if refused:
        raise PasswordAttemptsExceeded(wait=max(counter.wait() or counter.duration for counter in refused))
