"""What a delivery sends (Standard Webhooks) and when a failed one is tried again."""

import base64
import random
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook as Signer

from events.models import Event

# The delays before each retry after a failed attempt: 27.7 hours in all ("about a day"),
# then the webhook is disabled. Each is stretched or shrunk by up to JITTER, so the
# retries of many events failing together (a receiver's outage) do not arrive together.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.2
SECRET_BYTES = 32  # Standard Webhooks: a secret of 24 to 64 random bytes


def secret_new() -> str:
    """A signing secret as Standard Webhooks writes one: ``whsec_`` and base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# How the data of an event is rendered when its row holds something else: the app whose
# database triggers write its events registers, once at start-up, how its rows become JSON
# (tasks.apps: a task's columns become the task as the API answers it).
data_renderers: dict[str, Callable[[Any], Any]] = {}


def body_of(event: Event) -> bytes:
    """The JSON body of every delivery of ``event``: the same bytes in each attempt."""
    render = data_renderers.get(event.type)
    return orjson.dumps(
        {
            "type": event.type,
            "timestamp": event.occurred.isoformat().replace("+00:00", "Z"),
            "data": event.data if render is None else render(event.data),
        }
    )


def headers_of(*, event_id: str, secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: ``webhook-signature`` is v1, HMAC-SHA256 of
    ``id.timestamp.body`` under the secret, made by the specification's own library."""
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(event_id, at, body.decode()),
    }


def retry_delay(attempt: int) -> timedelta | None:
    """How long to wait after failed ``attempt`` (1, 2...), jittered; None: the last has failed."""
    if attempt > len(RETRY_DELAYS):
        return None
    # Jitter is not a secret: the standard generator is the right tool.
    return RETRY_DELAYS[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
