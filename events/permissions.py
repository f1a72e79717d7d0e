"""Who may see and manage which webhook: its creator only (anyone else gets 404, staff
included: a webhook carries a signing secret's deliveries, not a project's data)."""

from django.db.models import QuerySet

from events.models import Delivery, Webhook
from users.models import User
from users.principal import Caller


def webhooks_of(caller: Caller) -> QuerySet[Webhook]:
    return Webhook.objects.filter(owner_id=caller.pk)


def deliveries_of(webhook: Webhook) -> QuerySet[Delivery]:
    return Delivery.objects.filter(webhook=webhook).select_related("event")


def owns_project(caller: Caller, project_id: int) -> bool:
    """Whether the caller owns the project: only an owner may have its events sent out.
    (Through the account's relation: events sits below projects and imports nothing of theirs.)"""
    return User.objects.filter(pk=caller.pk, owned_projects__id=project_id).exists()
