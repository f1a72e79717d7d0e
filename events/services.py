"""What can happen to webhooks, and the one call a change makes to record its event."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from api import prepared
from events import tasks
from events.delivery import secret_new
from events.models import Delivery, Event, Webhook

# The outbox is our own table (Event), delivered by django-tasks' workers. A change writes
# one row of it in its own transaction. A task's write does so by the database's trigger
# (tasks/migrations/0004_task_events.py): the write stays one statement, with no
# transaction of its own to begin and commit, which on PostgreSQL cost a create a third of
# its requests/s as a second INSERT in Python (BENCHMARKS.md, "Events out"). Other changes
# (memberships) call event_record(): one prepared INSERT (api/prepared.py). Enqueueing a
# django-tasks task per event instead (its own row is an outbox too) cost a create 74% more
# instructions, most of them the library's model and argument handling, and a worker run
# per event.
#
# The workers look at the outbox every EVENTS_RELAY_TICK (manage.py events_worker) and relay
# the waiting events in batches (events.tasks.relay_tick): a change does nothing more than
# write its event. (Asking for a relay after each commit, once per tick and process, cost
# the workers a django-tasks task per ask, more than the relay itself: BENCHMARKS.md.)


def event_record(
    *,
    type: str,
    project_id: int | None,
    person_id: int | None = None,
    data: dict[str, Any],
) -> Event:
    """Record that ``type`` happened, in the caller's transaction (the caller holds one: a
    crash between the change and its event must lose neither). ``data`` is what the
    deliveries send, as JSON types."""
    event = Event(type=type, project_id=project_id, person_id=person_id, occurred=timezone.now(), data=data)
    prepared.insert(event)
    return event


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
