"""What the service sends out, received and recorded: webhooks and Security Event Tokens.

Two threaded HTTP servers on 127.0.0.1, each on a free port:

- WebhookReceiver: each client's webhook posts to /hook/<client>, so the receiver knows the
  secret to check the Standard Webhooks signature with (the ``standardwebhooks`` library's
  own verify). It answers 204 (401 when the signature fails) and records every request.
- SetReceiver: RFC 8935 pushes of Security Event Tokens to /set; it records the JWT and
  answers 202. Its signature is checked afterwards, against the server's JWKS
  (soak.events_ledger), not here.

Either may be told to fail the first attempt of a fraction of the events (chosen by a hash
of the webhook-id or the SET's jti, so the same events fail on every run) with a 500, to
exercise the sender's retries. The webhook receiver can also hold the next delivery
unanswered (``hold``), so that a fault can kill the sender while a delivery is in flight.
"""

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from standardwebhooks.webhooks import Webhook

from soak.server import HOST

HOOK_PREFIX = "/hook/"
SET_PATH = "/set"


@dataclass
class Arrival:
    """One request to the webhook receiver."""

    t: float  # seconds since the run started
    client: str  # whose webhook (the path's last part)
    webhook_id: str
    type: str | None
    data_id: int | None
    title: str | None
    body: bytes
    verified: bool
    status: int  # what the receiver answered; 0: held, and the sender was gone by the answer
    error: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "client": self.client,
            "webhook_id": self.webhook_id,
            "type": self.type,
            "data_id": self.data_id,
            "title": self.title,
            "verified": self.verified,
            "status": self.status,
            "error": self.error,
            "bytes": len(self.body),
        }


@dataclass
class SetArrival:
    """One request to the Security Event Token receiver."""

    t: float
    token: str
    content_type: str
    status: int
    claims: dict[str, Any] | None  # the payload, not verified; None when it does not decode
    error: str = ""

    @property
    def jti(self) -> str | None:
        return None if self.claims is None else self.claims.get("jti")

    def summary(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "content_type": self.content_type,
            "status": self.status,
            "claims": self.claims,
            "error": self.error,
        }


def fails_first(key: str, fraction: float) -> bool:
    """Whether the first attempt of ``key`` is answered 500: a stable choice of ``fraction`` of keys."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def decode_unverified(token: str) -> dict[str, Any] | None:
    """A JWT's payload, without checking its signature; None when it is not a JWT."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


class _Receiver:
    """A ThreadingHTTPServer in a thread of its own, with a lock for what it records."""

    def __init__(self, now: Callable[[], float], fail_fraction: float) -> None:
        self.now, self.fail_fraction = now, fail_fraction
        self.lock = threading.Lock()
        self.failed: set[str] = set()  # keys whose first attempt was answered 500
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.handle(self.path, headers, body)
                try:
                    self.send_response(status or 204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # a held delivery whose sender was killed meanwhile

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: everything is recorded

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=type(self).__name__, daemon=True)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        raise NotImplementedError

    def fail_now(self, key: str) -> bool:
        """True (and remembered) for the first attempt of a key chosen to fail."""
        with self.lock:
            if key in self.failed or not fails_first(key, self.fail_fraction):
                return False
            self.failed.add(key)
            return True

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Hold:
    """The next delivery, held unanswered until ``release``."""

    arrived: threading.Event
    released: threading.Event
    lost: bool = False  # the answer will reach no one: the sender was killed
    webhook_id: str = ""

    def release(self, *, lost: bool) -> None:
        self.lost = lost
        self.released.set()


class WebhookReceiver(_Receiver):
    def __init__(self, now: Callable[[], float], fail_fraction: float = 0.0) -> None:
        super().__init__(now, fail_fraction)
        self.secrets: dict[str, str] = {}  # client -> its webhook's secret
        self.arrivals: list[Arrival] = []
        self._hold: Hold | None = None

    def hold(self) -> Hold:
        """Hold the next (verified) delivery unanswered; ``arrived`` is set when one is held."""
        hold = Hold(threading.Event(), threading.Event())
        with self.lock:
            self._hold = hold
        return hold

    def unhold(self) -> None:
        """Hold nothing after all (no delivery came to be held)."""
        self._take_hold()

    def _take_hold(self) -> Hold | None:
        with self.lock:
            hold, self._hold = self._hold, None
            return hold

    def url_for(self, client: str) -> str:
        return self.url(HOOK_PREFIX + client)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        t = self.now()
        client = path.removeprefix(HOOK_PREFIX) if path.startswith(HOOK_PREFIX) else ""
        webhook_id = headers.get("webhook-id", "")
        secret = self.secrets.get(client)
        verified, error, payload = False, "", None
        if secret is None:
            error = f"no webhook for {path}"
        else:
            try:
                payload = Webhook(secret).verify(body, headers)
                verified = True
            except Exception as exc:  # the library's verification errors, and bad JSON
                error = f"{type(exc).__name__}: {exc}"
        if payload is None:  # say what it was about anyway
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        kind = data_id = title = None
        if isinstance(payload, dict):
            kind = payload.get("type")
            data = payload.get("data")
            if isinstance(data, dict):
                data_id = data.get("id") if isinstance(data.get("id"), int) else None
                title = data.get("title") if isinstance(data.get("title"), str) else None
        hold = self._take_hold() if verified else None
        if hold is not None:
            hold.webhook_id = webhook_id
            hold.arrived.set()
            hold.released.wait(timeout=60)
            status, error = (0, "held while its sender was killed") if hold.lost else (204, "held")
        elif not verified:
            status = 401
        elif self.fail_now(webhook_id):
            status = 500
        else:
            status = 204
        arrival = Arrival(t, client, webhook_id, kind, data_id, title, body, verified, status, error)
        with self.lock:
            self.arrivals.append(arrival)
        return status


class SetReceiver(_Receiver):
    def __init__(self, now: Callable[[], float], fail_fraction: float = 0.0) -> None:
        super().__init__(now, fail_fraction)
        self.arrivals: list[SetArrival] = []

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        t = self.now()
        token = body.decode("ascii", "replace").strip()
        claims = decode_unverified(token)
        error = ""
        if path != SET_PATH:
            status, error = 404, f"pushed to {path}"
        elif claims is None:
            status, error = 400, "not a JWT"
        elif self.fail_now(str(claims.get("jti"))):
            status = 500
        else:
            status = 202
        arrival = SetArrival(t, token, headers.get("content-type", ""), status, claims, error)
        with self.lock:
            self.arrivals.append(arrival)
        return status
