"""The django-tasks tasks the workers run (``manage.py db_worker``).

event_fan_out: the outbox record a change enqueued in its own transaction (events.services)
becomes the event and one delivery task per webhook that receives it, in one transaction:
run again after a crash, it finds the event made and enqueues nothing twice.
deliver: one attempt, logged; a failure enqueues the next attempt with ``run_after``, and
after the last the webhook is disabled.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from events import delivery, sender
from events.models import Delivery, Event, Webhook


def receivers(*, type: str, project_id: int | None, person_id: int | None) -> list[Webhook]:
    """The active webhooks that receive an event: the project's, and the webhooks without a
    project of its owner and of the task's person (their own tasks and projects)."""
    # The owner is reached through the webhook's own relations: events sits below projects
    # (projects' services record events), so it imports nothing of theirs.
    chosen = Q(pk__in=[])
    if project_id is not None:
        chosen |= Q(project_id=project_id) | Q(project__isnull=True, owner__owned_projects__id=project_id)
    if person_id is not None:
        chosen |= Q(project__isnull=True, owner_id=person_id)
    found = Webhook.objects.filter(chosen, active=True)
    # The type is checked here: a JSON containment lookup is not SQLite's.
    return [webhook for webhook in found.distinct() if type in webhook.events]


@task()
def event_fan_out(
    *, event_id: str, type: str, project_id: int | None, person_id: int | None, occurred: str, data: dict
) -> int:
    with transaction.atomic():
        event, made = Event.objects.get_or_create(
            id=event_id,
            defaults={
                "type": type,
                "project_id": project_id,
                "occurred": datetime.fromisoformat(occurred),
                "data": data,
            },
        )
        if not made:
            return 0  # a second run of this record after a crash: its deliveries were enqueued
        webhooks = receivers(type=type, project_id=project_id, person_id=person_id)
        for webhook in webhooks:
            deliver.enqueue(event_id=event.id, webhook_id=webhook.pk, attempt=1)
    return len(webhooks)


@task()
def deliver(*, event_id: str, webhook_id: int, attempt: int, redelivery: bool = False) -> bool:
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
        headers = delivery.headers_of(event_id=event.id, secret=webhook.secret, body=body, at=now)
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
                event_id=event.id, webhook_id=webhook.pk, attempt=attempt + 1
            )
        elif not log.succeeded and not redelivery:
            Webhook.objects.filter(pk=webhook.pk).update(
                active=False,
                disabled_at=now,
                disabled_reason=f"Disabled after {attempt} failed attempts to deliver {event.id} "
                f"({log.error or f'status {log.status_code}'}): PATCH active: true to enable it again.",
            )
        log.save()
    return log.succeeded
