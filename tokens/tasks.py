"""Pushing Security Event Tokens (tokens.secevents) to the clients that registered an events
URL, as django-tasks tasks run by the worker (``manage.py db_worker``, or events_worker
beside ``manage.py serve``).

security_event_record: the one call a change makes (a logout, a revocation, a password
change...), in the change's own transaction: one task row, one INSERT, rolled back with
the change; the request finds no receivers, signs nothing and sends nothing.
security_event_fan_out: that task. It finds the receiving clients and enqueues one delivery
per SET and client, in one transaction. Each SET's ``jti`` is derived from the change's
``txn`` and the client, so a fan-out run twice (a worker killed after its commit) enqueues
the same SETs again, never different ones, and their attempts are logged once.
security_event_deliver: one attempt (RFC 8935 §2), logged in SecurityEventDelivery; an
answer worth another try (tokens.secevents.push_answer_retryable) enqueues the next attempt
with ``run_after``, on the webhooks' schedule (events.delivery.retry_delay); an accepted
SET or a definitive refusal (RFC 8935 §2.3) ends it.
"""

import uuid
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from events import delivery, sender
from tokens.models import Client, SecurityEventDelivery
from tokens.secevents import (
    EVENT_TYPES,
    REASONS,
    EventKind,
    event_receivers,
    push_answer_ok,
    push_answer_retryable,
    push_error,
    security_event,
    set_push_request,
)

# The namespace of the SETs' ids (uuid5 of the change's txn, the event and the client).
JTI_NAMESPACE = uuid.UUID("5c1b0f1e-8f7e-4b8e-9a57-3c7f3e0a2d41")


def security_event_record(*, kind: EventKind, user_id: int, session_id: str | None, reason: str) -> None:
    """Record, in the caller's transaction, that ``kind`` happened to session ``session_id``
    of user ``user_id`` (every session of the user when None) for ``reason``: its SETs are
    made and pushed by the worker. A credential-change also ends every session
    (tokens.secevents: its receivers are told both, with one ``txn``).

    Raises ValueError for an unknown kind or reason, here rather than in the worker.
    """
    if kind not in EVENT_TYPES or reason not in REASONS:
        raise ValueError(f"unknown security event {kind!r} for {reason!r}")
    security_event_fan_out.enqueue(
        kind=kind,
        user_id=user_id,
        session_id=session_id,
        reason=str(reason),  # a Session.Reason's value, as JSON keeps it
        txn=uuid.uuid4().hex,  # RFC 8417 §2.2: the change every SET of it comes from
        occurred=timezone.now().isoformat(),
    )


def events_of(kind: EventKind, session_id: str | None) -> list[tuple[EventKind, str | None]]:
    """The SETs one change makes, as (kind, session id): a password change is a
    credential-change and, as it ends them all, a session-revoked of every session."""
    if kind == "credential-change":
        return [("credential-change", None), ("session-revoked", None)]
    return [(kind, session_id)]


def set_id(*, txn: str, kind: str, client_id: str) -> str:
    """The ``jti`` of the SET of change ``txn`` telling client ``client_id`` of ``kind``:
    the same whenever it is made, so every attempt and every rerun sends one SET."""
    return uuid.uuid5(JTI_NAMESPACE, f"{txn} {kind} {client_id}").hex


@task()
def security_event_fan_out(
    *, kind: EventKind, user_id: int, session_id: str | None, reason: str, txn: str, occurred: str
) -> int:
    """One delivery task per SET and receiving client; how many were enqueued."""
    receivers = event_receivers()
    enqueued = 0
    with transaction.atomic():
        for client_id, _url in receivers:
            for event_kind, event_session in events_of(kind, session_id):
                security_event_deliver.enqueue(
                    jti=set_id(txn=txn, kind=event_kind, client_id=client_id),
                    client_id=client_id,
                    kind=event_kind,
                    user_id=user_id,
                    session_id=event_session,
                    reason=reason,
                    txn=txn,
                    occurred=occurred,
                    attempt=1,
                )
                enqueued += 1
    return enqueued


@task()
def security_event_deliver(
    *,
    jti: str,
    client_id: str,
    kind: EventKind,
    user_id: int,
    session_id: str | None,
    reason: str,
    txn: str,
    occurred: str,
    attempt: int,
) -> bool:
    """One attempt to push the SET ``jti`` to client ``client_id``; True when it was accepted."""
    client = (
        Client.objects.filter(pk=client_id, confidential=True, revoked__isnull=True)
        .exclude(events_url="")
        .first()
    )
    if client is None:
        return False  # revoked, or its events URL removed, meanwhile: it receives nothing more
    done = SecurityEventDelivery.objects.filter(client=client, jti=jti).filter(
        Q(succeeded=True) | Q(attempt__gte=attempt)
    )
    if done.exists():
        return False  # a second run of this attempt (a fan-out or a task run twice)
    token = security_event(
        kind=kind,
        user_id=user_id,
        session_id=session_id,
        reason=reason,
        audience=client_id,
        event_timestamp=int(datetime.fromisoformat(occurred).timestamp()),
        txn=txn,
        jti=jti,
    )
    body, headers = set_push_request(token)
    now = timezone.now()
    log = SecurityEventDelivery(
        client=client,
        jti=jti,
        kind=kind,
        reason=reason,
        user_id=user_id,
        session_id=session_id or "",
        attempt=attempt,
        attempted=now,
    )
    retryable = True
    try:
        sender.target_check(client.events_url)  # again at each attempt: against DNS rebinding
        response = sender.post(client.events_url, body=body, headers=headers)
    except sender.TargetRefused as refused:
        log.error = f"Target refused: {refused}"
    except Exception as exc:  # post() reports network failures itself: this is a bug, retried too
        log.error = f"{type(exc).__name__}: {exc}"
    else:
        log.status_code, log.latency_ms = response.status, response.latency_ms
        log.response_excerpt, log.error = response.excerpt, response.error or ""
        if response.status is not None:
            answer = response.excerpt.encode()
            log.succeeded = push_answer_ok(response.status, answer)
            retryable = push_answer_retryable(response.status, answer)
            err = push_error(response.status, answer)
            if err and not log.error:
                log.error = f"Refused: {err}"
    wait = delivery.retry_delay(attempt) if retryable and not log.succeeded else None
    try:
        with transaction.atomic():
            if wait is not None:
                log.next_attempt = now + wait
                security_event_deliver.using(run_after=log.next_attempt).enqueue(
                    jti=jti,
                    client_id=client_id,
                    kind=kind,
                    user_id=user_id,
                    session_id=session_id,
                    reason=reason,
                    txn=txn,
                    occurred=occurred,
                    attempt=attempt + 1,
                )
            log.save()
    except IntegrityError:
        return False  # the same attempt, run at once elsewhere, logged (and scheduled) first
    return log.succeeded
