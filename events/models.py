"""Webhooks, the events they receive, and each attempt to deliver one.

An Event is the outbox: the row a change writes in its own transaction (a task's by the
database's trigger, tasks/migrations/0004_task_events.py; others by
events.services.event_record), relayed to its webhooks by a background task afterwards
(events.tasks.relay), and kept as what every delivery of it sends.
"""

import uuid

from django.conf import settings
from django.db import models


class EventType(models.TextChoices):
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    TASK_DELETED = "task.deleted"
    MEMBER_ADDED = "member.added"
    MEMBER_CHANGED = "member.changed"
    MEMBER_REMOVED = "member.removed"


class Webhook(models.Model):
    """A URL that receives events: its creator's own (no project), or one project's."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    # The signing secret as shown once at creation (whsec_ + base64). Stored as is: an HMAC
    # key must be recoverable to sign, and encrypting it with a key kept beside the database
    # (SECRET_KEY) would protect only a copy of the database without the settings, at the
    # cost of a key rotation story; the admin and the API never show it after creation.
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """What happened, as every webhook that receives it is sent it.

    ``relayed`` is the outbox's state: false from the change's transaction until a relay
    has enqueued its deliveries. ``key`` makes the Standard Webhooks ``webhook-id``, the
    same in every attempt and redelivery (random, so two databases never send one id)."""

    key = models.UUIDField(default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    # No foreign keys: a deletion's event outlives what it names.
    project_id = models.BigIntegerField(null=True)
    person_id = models.BigIntegerField(null=True)
    occurred = models.DateTimeField()
    data = models.JSONField()
    relayed = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        # The relay's one question, "which events wait?", answered from an index that holds
        # only those: it stays as small as the backlog, however many events are kept.
        indexes = [models.Index(fields=["id"], condition=models.Q(relayed=False), name="events_waiting")]

    def __str__(self) -> str:
        return f"{self.type} {self.webhook_id}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.key.hex}"


class Delivery(models.Model):
    """One attempt to deliver an event to a webhook: the delivery log."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveIntegerField()  # 1 for the first; a redelivery starts again at 1
    redelivery = models.BooleanField(default=False)
    attempted = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True)
    latency_ms = models.FloatField(null=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    next_attempt = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["webhook", "-id"], name="events_delivery_log")]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.webhook_id} #{self.attempt}"
