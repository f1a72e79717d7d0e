"""The django-tasks tasks the workers run (``manage.py db_worker``, ``events_worker``).

relay_waiting(): the events waiting in the outbox (Event.relayed false, written by the
changes' own transactions, events.services) become one delivery task per webhook that
receives each, and are marked relayed, a batch of RELAY_BATCH per transaction: a worker killed
halfway commits none of its batch, and the next look does it all. The workers look every
EVENTS_RELAY_TICK (manage.py events_worker); ``relay`` is the same as a task, for a worker
that does not look (db_worker) and for the relays queued before the workers looked.
deliver: one attempt, logged; a failure enqueues the next attempt with ``run_after``, and
after the last the webhook is disabled.
"""

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from events import delivery, sender
from events.models import Delivery, Event, Webhook

RELAY_BATCH = 500


class Routed(Protocol):
    """What receivers() reads of an event: an Event, or the row relay_batch() selects."""

    id: Any
    type: str
    project_id: int | None
    person_id: int | None


def receivers(events: Iterable[Routed]) -> dict[int, list[Webhook]]:
    """The active webhooks that receive each event, by event id: the project's, and the
    webhooks without a project of the project's owner and of the task's person (their own
    tasks and projects). Three queries, however many events."""
    events = list(events)
    project_ids = {event.project_id for event in events if event.project_id is not None}
    person_ids = {event.person_id for event in events if event.person_id is not None}
    active = Webhook.objects.filter(active=True)
    of_project: dict[int, set[Webhook]] = defaultdict(set)
    for webhook in active.filter(project_id__in=project_ids):
        of_project[webhook.project_id].add(webhook)  # type: ignore[index]  # filtered: not None
    # The owner is reached through the webhook's own relations: events sits below projects
    # (projects' services record events), so it imports nothing of theirs.
    owned = (
        active.filter(project__isnull=True)
        .annotate(owned_project_id=F("owner__owned_projects__id"))
        .filter(owned_project_id__in=project_ids)
    )
    for webhook in owned:
        of_project[webhook.owned_project_id].add(webhook)
    of_person: dict[int, set[Webhook]] = defaultdict(set)
    for webhook in active.filter(project__isnull=True, owner_id__in=person_ids):
        of_person[webhook.owner_id].add(webhook)
    chosen = {}
    for event in events:
        found = of_project.get(event.project_id, set()) | of_person.get(event.person_id, set())  # type: ignore[arg-type]
        # The type is checked here: a JSON containment lookup is not SQLite's.
        chosen[event.id] = sorted((webhook for webhook in found if event.type in webhook.events), key=_pk)
    return chosen


def _pk(webhook: Webhook) -> int:
    return webhook.pk


def relay_batch() -> int:
    """Enqueue the deliveries of up to RELAY_BATCH waiting events, in one transaction; the
    number relayed."""
    with transaction.atomic():
        # SKIP LOCKED: two workers at once take different events. On SQLite, where the
        # transaction is IMMEDIATE (config/settings.py), they run one after another. Only
        # what routing reads: the data, and a model per row, would cost the worker more
        # than the rest of the relay (BENCHMARKS.md).
        waiting = list(
            Event.objects.filter(relayed=False)
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", "type", "project_id", "person_id", named=True)[:RELAY_BATCH]
        )
        if not waiting:
            return 0
        for event_id, webhooks in receivers(waiting).items():
            for webhook in webhooks:
                deliver.enqueue(event_id=event_id, webhook_id=webhook.pk, attempt=1)
        Event.objects.filter(pk__in=[event.id for event in waiting]).update(relayed=True)
    return len(waiting)


def relay_waiting() -> int:
    """relay_batch() until no full batch is left; the number relayed."""
    relayed = 0
    while True:
        count = relay_batch()
        relayed += count
        if count < RELAY_BATCH:
            return relayed


def relay_tick() -> int:
    """One look at the outbox, as the workers take every EVENTS_RELAY_TICK: the events waiting
    relayed, or one query when none is (no transaction: on SQLite, no write lock); the
    number relayed."""
    if not Event.objects.filter(relayed=False).exists():  # the partial index events_waiting
        return 0
    return relay_waiting()


@task()
def relay() -> int:
    """relay_waiting() as a task."""
    return relay_waiting()


@task()
def deliver(*, event_id: int, webhook_id: int, attempt: int, redelivery: bool = False) -> bool:
    """One attempt; True when the receiver answered 2xx."""
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    event = Event.objects.filter(pk=event_id).first()
    if webhook is None or event is None or not (webhook.active or redelivery):
        return False  # deleted, or disabled meanwhile: it receives nothing more
    body = delivery.body_of(event)
    now = timezone.now()
    log = Delivery(webhook=webhook, event=event, attempt=attempt, redelivery=redelivery)
    try:
        sender.target_check(webhook.url)  # again at each attempt: against DNS rebinding
    except sender.TargetRefused as refused:
        log.error = f"Target refused: {refused}"
    else:
        headers = delivery.headers_of(event_id=event.webhook_id, secret=webhook.secret, body=body, at=now)
        try:
            response = sender.post(webhook.url, body=body, headers=headers)
        except Exception as exc:  # post() reports network failures itself: this is a bug, retried too
            log.error = f"{type(exc).__name__}: {exc}"
        else:
            log.status_code, log.latency_ms = response.status, response.latency_ms
            log.response_excerpt, log.error = response.excerpt, response.error or ""
            log.succeeded = response.status is not None and 200 <= response.status < 300
    # A manual redelivery is one attempt: it neither retries nor disables.
    wait = None if log.succeeded or redelivery else delivery.retry_delay(attempt)
    with transaction.atomic():
        if wait is not None:
            log.next_attempt = now + wait
            deliver.using(run_after=log.next_attempt).enqueue(
                event_id=event.pk, webhook_id=webhook.pk, attempt=attempt + 1
            )
        elif not log.succeeded and not redelivery:
            Webhook.objects.filter(pk=webhook.pk).update(
                active=False,
                disabled_at=now,
                disabled_reason=f"Disabled after {attempt} failed attempts to deliver {event.webhook_id} "
                f"({log.error or f'status {log.status_code}'}): PATCH active: true to enable it again.",
            )
        log.save()
    return log.succeeded
