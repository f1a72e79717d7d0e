"""Asking the issuer whether a token is still active (RFC 7662), to see a logout within a second.

A token's signature and claims say nothing of its session: checked with the keys alone, a
logged-out session's token is accepted until it expires. With a confidential client of the
task service (``manage.py create_client NAME --confidential``), this service asks the
issuer's introspection endpoint instead, for each token its local checks accept, and
remembers each answer for at most ``ttl`` seconds (one by default, never past the token's
own ``exp``): a logout is seen within that, at the price of one round trip per distinct
token per ``ttl``.

The endpoint is the one the issuer's RFC 8414 metadata names, unless configured; the
metadata counts only if it names the issuer our tokens name (RFC 8414 §3.3), and the
endpoint, which is sent our client secret, only if it is https (or plain http to this
machine). An issuer that cannot be asked is IntrospectionUnavailable (a 503): never an
answer we guess. After a failure, no new request is made for ``retry_interval`` seconds,
so that a hanging issuer costs one timeout per interval, not one per request.
"""

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import quote_plus

import httpx

from examples.verifier.remote import RemoteError, issuer_client, request_json, url_problem

logger = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-authorization-server"  # RFC 8414 §3
MAX_METADATA_BYTES = 64 * 1024
MAX_ANSWER_BYTES = 64 * 1024
MAX_TTL = 1.0


class IntrospectionUnavailable(Exception):
    """Whether a token is active cannot be learnt now: the issuer is unreachable, or answers garbage."""


def discover_endpoint(client: httpx.Client, issuer_url: str, *, issuer: str, timeout: float) -> str:
    """The introspection endpoint the issuer's metadata (RFC 8414) names; RemoteError."""
    url = issuer_url.rstrip("/") + METADATA_PATH
    metadata = request_json(client, "GET", url, timeout=timeout, max_bytes=MAX_METADATA_BYTES)
    if not isinstance(metadata, dict):
        raise RemoteError(f"{url}: the metadata is not a JSON object")
    if metadata.get("issuer") != issuer:
        raise RemoteError(f"{url}: the metadata names issuer {metadata.get('issuer')!r}, not {issuer!r}")
    endpoint = metadata.get("introspection_endpoint")
    if not isinstance(endpoint, str):
        raise RemoteError(f"{url}: the metadata names no introspection_endpoint")
    problem = url_problem(endpoint)
    if problem is not None:
        raise RemoteError(f"{url}: introspection_endpoint {endpoint!r} {problem}")
    return endpoint


class Introspector:
    """Whether each token is active, asked of the issuer and remembered for at most ``ttl`` seconds.

    Thread-safe. Answers are kept by the token's SHA-256, the ``max_entries`` most recent;
    two threads asking about the same token at once may each make the request.
    """

    def __init__(
        self,
        *,
        issuer_url: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        endpoint: str | None = None,
        ttl: float = MAX_TTL,
        timeout: float = 2.0,
        retry_interval: float = 1.0,
        max_entries: int = 10_000,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= ttl <= MAX_TTL:
            raise ValueError(f"an introspection answer is kept for at most {MAX_TTL} s")
        if timeout <= 0 or retry_interval <= 0 or max_entries < 1:
            raise ValueError("the introspection timeout, retry interval and size must be positive")
        self.issuer_url, self.issuer, self.endpoint = issuer_url, issuer, endpoint
        self.ttl, self.timeout, self.retry_interval = ttl, timeout, retry_interval
        self.max_entries = max_entries
        # RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined for Basic.
        self._auth = httpx.BasicAuth(quote_plus(client_id), quote_plus(client_secret))
        self._client = issuer_client(timeout=timeout, transport=transport)
        self._clock, self._wall_clock = clock, wall_clock
        self._lock = threading.Lock()
        self._answers: OrderedDict[bytes, tuple[float, bool]] = OrderedDict()  # until, active
        self._retry_at = float("-inf")

    def active(self, token: str, *, expires: float) -> bool:
        """Whether the issuer holds ``token`` (whose ``exp`` is ``expires``) active; IntrospectionUnavailable."""
        key = hashlib.sha256(token.encode()).digest()
        asked = self._clock()
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None and asked < answer[0]:
                return answer[1]
            if asked < self._retry_at:
                raise IntrospectionUnavailable("the issuer failed a moment ago")
        try:
            endpoint = self._endpoint()
            active = self._ask(endpoint, token)
        except RemoteError as exc:
            logger.warning("could not introspect a token: %s", exc)
            with self._lock:
                self._retry_at = self._clock() + self.retry_interval
            raise IntrospectionUnavailable(str(exc)) from exc
        # Counted from when we asked: the answer may be as old as that.
        lifetime = min(self.ttl, expires - self._wall_clock())
        if lifetime > 0:
            with self._lock:
                self._answers[key] = (asked + lifetime, active)
                self._answers.move_to_end(key)
                while len(self._answers) > self.max_entries:
                    self._answers.popitem(last=False)
        return active

    def _endpoint(self) -> str:
        if self.endpoint is None:
            # Found once: the metadata does not change while the issuer runs.
            self.endpoint = discover_endpoint(
                self._client, self.issuer_url, issuer=self.issuer, timeout=self.timeout
            )
        return self.endpoint

    def _ask(self, endpoint: str, token: str) -> bool:
        answer = request_json(
            self._client,
            "POST",
            endpoint,
            timeout=self.timeout,
            max_bytes=MAX_ANSWER_BYTES,
            data={"token": token, "token_type_hint": "access_token"},
            auth=self._auth,
        )
        # RFC 7662 §2.2: "active" is the one member every answer has, and it is a boolean.
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise RemoteError(f"{endpoint}: the answer is not an introspection response")
        return bool(answer["active"])

    def close(self) -> None:
        self._client.close()
