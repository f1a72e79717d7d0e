"""OAuth 2.0 clients: registering them, and telling who is calling (RFC 6749 §2.3).

A request names its client in one of three ways, as RFC 6749 §2.3.1 allows: HTTP Basic
with the id and secret (``client_secret_basic``), both in the form body
(``client_secret_post``), or only ``client_id`` for a public client (``none``). A login
that names no client is the first-party public client's, ``DEFAULT_CLIENT_ID``.

Clients are read once a second per process at most (``client_get``): introspection and
every token request look one up, and a revoked client must stop working everywhere
within that second, as a revoked session does.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.caches import BoundedCache
from tokens.models import Client, Session
from tokens.revocation import forget_session
from tokens.tasks import security_event_record

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
CLIENT_ID_BYTES = 16
SECRET_BYTES = 32
LOOKUP_TTL = 1.0  # seconds a process trusts what it read of a client


class InvalidClient(Exception):
    """Client authentication failed (RFC 6749 §5.2 ``invalid_client``). Safe to show."""

    def __init__(self, description: str, *, basic: bool = False) -> None:
        super().__init__(description)
        self.basic = basic  # the client tried HTTP Basic: the 401 challenges it (§5.2)


@dataclass(frozen=True)
class ClientInfo:
    """A registered, unrevoked client, as a request sees it."""

    id: str
    name: str
    confidential: bool
    secret_digest: str


@dataclass(frozen=True)
class CallingClient:
    """The client a request authenticated as, and how."""

    client: ClientInfo
    method: AuthMethod


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str | None  # only for confidential clients, and only now


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_clients: BoundedCache[str, tuple[float, ClientInfo | None]] = BoundedCache("clients.lookup", 1024)


def client_get(client_id: str) -> ClientInfo | None:
    """The live client ``client_id``, or None; the default client is made on first use."""
    entry = _clients.get(client_id)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    row = Client.objects.filter(pk=client_id, revoked__isnull=True).first()
    if row is None and client_id == settings.DEFAULT_CLIENT_ID:
        row = _default_client()
    found = None if row is None else ClientInfo(row.id, row.name, row.confidential, row.secret_digest)
    _clients.put(client_id, (time.monotonic() + LOOKUP_TTL, found))
    return found


def _default_client() -> Client | None:
    try:
        with transaction.atomic():
            return Client.objects.get_or_create(
                id=settings.DEFAULT_CLIENT_ID, defaults={"name": "First-party clients", "confidential": False}
            )[0]
    except IntegrityError:  # made by another worker meanwhile
        return Client.objects.filter(pk=settings.DEFAULT_CLIENT_ID).first()


def client_create(*, name: str, confidential: bool) -> RegisteredClient:
    """Register a client; a confidential one's secret is returned here and never again."""
    secret = secrets.token_urlsafe(SECRET_BYTES) if confidential else None
    client = Client.objects.create(
        id=secrets.token_hex(
            CLIENT_ID_BYTES
        ),  # hex: never starts with "-", which a command line would take for an option
        name=name,
        confidential=confidential,
        secret_digest=_digest(secret) if secret else "",
    )
    return RegisteredClient(client_id=client.id, client_secret=secret)


@transaction.atomic
def client_revoke(*, client_id: str) -> int:
    """Revoke a client and end every session of its tokens; the number of sessions ended."""
    now = timezone.now()
    if not Client.objects.filter(pk=client_id, revoked__isnull=True).update(revoked=now):
        raise Client.DoesNotExist(f"No live client {client_id!r}.")
    _clients.pop(client_id)
    live = {
        str(pk): user_id
        for pk, user_id in Session.objects.filter(client_id=client_id, revoked__isnull=True).values_list(
            "pk", "user_id"
        )
    }
    Session.objects.filter(pk__in=live).update(revoked=now, revoked_reason=Session.Reason.CLIENT_REVOKED)
    for session_id, user_id in live.items():
        # One event per session it ended, as its receivers know sessions, not our clients.
        security_event_record(
            kind="session-revoked",
            user_id=user_id,
            session_id=session_id,
            reason=Session.Reason.CLIENT_REVOKED,
        )
        forget_session(session_id)
    return len(live)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(client id, secret) from ``Authorization: Basic ...``, each form-decoded (RFC 6749 §2.3.1)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("The Basic credentials are malformed.", basic=True) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient("The Basic credentials are malformed.", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)


def client_authenticate(
    *, authorization: str, form_client_id: str | None, form_secret: str | None, default: bool
) -> CallingClient:
    """Who is calling, from the Authorization header and the form's client fields.

    ``default``: a request that names no client at all is the first-party client's (a
    login or a revocation); where a client must identify itself (introspection), it is not.
    """
    basic = _basic_credentials(authorization) if authorization else None
    # RFC 6749 §2.3: a client uses one authentication method per request (naming its own
    # id in the form beside Basic is not a second one).
    if basic is not None and (form_secret is not None or form_client_id not in (None, basic[0])):
        raise InvalidClient("Use one client authentication method, not two.", basic=True)
    if basic is not None:
        client_id, secret, method = basic[0], basic[1], "client_secret_basic"
    elif form_secret is not None:
        client_id, secret, method = form_client_id or "", form_secret, "client_secret_post"
    else:
        if form_client_id is None and not default:
            raise InvalidClient("Client authentication is required.")
        client_id, secret, method = form_client_id or settings.DEFAULT_CLIENT_ID, None, "none"
    client = client_get(client_id) if 0 < len(client_id) <= 64 else None
    if client is None:
        raise InvalidClient("Unknown or revoked client.", basic=method == "client_secret_basic")
    if client.confidential:
        if secret is None:
            raise InvalidClient("This client must authenticate with its secret.")
        if not hmac.compare_digest(_digest(secret), client.secret_digest):
            raise InvalidClient("Unknown client or wrong secret.", basic=method == "client_secret_basic")
    elif secret is not None:
        raise InvalidClient(
            "This is a public client: it has no secret to send.", basic=method == "client_secret_basic"
        )
    return CallingClient(client=client, method=method)  # type: ignore[arg-type]
