"""What can happen to webhooks, and the one call a change makes to record its event."""

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from events import tasks
from events.delivery import secret_new
from events.models import Delivery, Webhook

# Why a django-tasks task is the outbox, rather than an event table and a dispatcher of
# our own: enqueueing on the database backend is one INSERT of the task row, made on the
# caller's connection and so inside its transaction (committed or rolled back with the
# change), and a maintained worker (db_worker) claims it with row locks, runs it, and
# schedules retries (run_after). An event table would need the same insert plus a
# hand-written polling loop to do what the worker already does.


def event_record(
    *,
    type: str,
    project_id: int | None,
    person_id: int | None = None,
    data: dict[str, Any],
) -> str:
    """Record that ``type`` happened, in the caller's transaction (the caller holds one:
    a crash between the change and its event must lose neither). Returns the event's id,
    its ``webhook-id`` in every delivery."""
    event_id = f"msg_{uuid.uuid4().hex}"
    tasks.event_fan_out.enqueue(
        event_id=event_id,
        type=type,
        project_id=project_id,
        person_id=person_id,
        occurred=timezone.now().isoformat(),
        data=data,
    )
    return event_id


def webhook_create(
    *, owner_id: int, url: str, events: list[str], project_id: int | None = None, active: bool = True
) -> Webhook:
    """A new webhook with a new signing secret (``webhook.secret``: shown once, by the caller)."""
    return Webhook.objects.create(
        owner_id=owner_id, project_id=project_id, url=url, events=events, active=active, secret=secret_new()
    )


def webhook_update(*, webhook: Webhook, changes: dict[str, Any]) -> Webhook:
    """Apply ``changes``; enabling a disabled webhook clears its notice."""
    for name, value in changes.items():
        setattr(webhook, name, value)
    if changes.get("active") is True:
        webhook.disabled_reason, webhook.disabled_at = "", None
    webhook.save()
    return webhook


def delivery_redeliver(*, delivery: Delivery) -> None:
    """Send the delivery's event again, with the same id: one attempt, enabled or not."""
    with transaction.atomic():
        tasks.deliver.enqueue(
            event_id=delivery.event_id, webhook_id=delivery.webhook_id, attempt=1, redelivery=True
        )
