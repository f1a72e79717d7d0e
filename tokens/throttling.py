"""Login throttling, per client address and per account, shared through the cache.

The counters live in the default cache (Redis when REDIS_URL is set), so every worker and
every instance counts together. If the cache is unreachable the counters fall back to
this process's memory: throttling then still holds per worker, instead of failing open
or turning every login into a 500.
"""

import hashlib
import logging
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

_local_counters = LocMemCache("login-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})


def client_address(request: Request) -> str:
    """REMOTE_ADDR, or X-Forwarded-For only through TRUSTED_PROXY_COUNT proxies (DRF's rule)."""
    return BaseThrottle().get_ident(request)


class ResilientRateThrottle(SimpleRateThrottle):
    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except APIException:
            raise  # the request's own fault (a body that does not parse), not the cache's
        except Exception:
            logger.warning("throttle cache unavailable; counting in this process", exc_info=True)
            self.cache = _local_counters
            return super().allow_request(request, view)


class LoginAddressThrottle(ResilientRateThrottle):
    scope = "login"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class LoginUsernameThrottle(ResilientRateThrottle):
    """Slows guessing at one account from many addresses."""

    scope = "login_username"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        data: Any = request.data
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # nothing to count: the body is refused as invalid anyway
        # Hashed: usernames are not written into the cache's key space as they are.
        ident = hashlib.sha256(username.casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SignupThrottle(LoginAddressThrottle):
    scope = "signup"
