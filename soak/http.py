"""A small JSON-over-HTTP client on the standard library, one keep-alive connection each.

It never retries: a request either gets an answer (a Reply, whatever its status) or raises
NoAnswer, which a ledger records as "unknown" (the server may or may not have acted).
"""

import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class NoAnswer(Exception):
    """No HTTP answer: refused or dropped connection, or a timeout."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    @property
    def is_json(self) -> bool:
        if not self.headers.get("content-type", "").startswith("application/json"):
            return False
        try:
            json.loads(self.body or b"null")
        except ValueError:
            return False
        return True

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def path_of(url: str) -> str:
    """The path and query of an absolute URL (a ``next`` link), to request on our own host."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Http:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 15.0,
        source_address: str | None = None,
        keep_alive: bool = True,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.source = (source_address, 0) if source_address else None
        self.keep_alive = keep_alive
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Reply:
        headers = {"Accept": "application/json", "User-Agent": "soak"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if not self.keep_alive:
            headers["Connection"] = "close"
        if self._conn is None:
            self._conn = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout, source_address=self.source
            )
        try:
            self._conn.request(method, path, body=data, headers=headers)
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:  # timeouts are OSErrors too
            self.close()
            raise NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
        if not self.keep_alive or response.will_close:
            self.close()
        return reply

    def get(self, path: str, *, token: str | None = None) -> Reply:
        return self.request("GET", path, token=token)

    def post(self, path: str, body: Any = None, *, token: str | None = None) -> Reply:
        return self.request("POST", path, body, token=token)
