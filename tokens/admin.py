from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tokens.clients import client_revoke
from tokens.models import Client, SecurityEventDelivery


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    """Clients are listed and revoked here; they are made with ``manage.py create_client``,
    which shows a confidential client's secret once (here it would land in a page's history)."""

    list_display = ["name", "id", "confidential", "created", "revoked"]
    list_filter = ["confidential", ("revoked", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "name"]
    fields = ["id", "name", "confidential", "events_url", "created", "revoked"]
    readonly_fields = ["id", "name", "confidential", "events_url", "created", "revoked"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, never deleted: its sessions and the record of it stay

    @admin.action(description="Revoke the selected clients and end their sessions")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        ended = 0
        for client in queryset.filter(revoked__isnull=True):
            ended += client_revoke(client_id=client.id)
        messages.success(request, f"Revoked; {ended} session(s) ended.")


@admin.register(SecurityEventDelivery)
class SecurityEventDeliveryAdmin(admin.ModelAdmin):
    """The log of security events pushed to clients (tokens.tasks), read-only: the worker writes it."""

    list_display = ["attempted", "client", "kind", "reason", "user_id", "attempt", "succeeded", "status_code"]
    list_filter = ["succeeded", "kind", "reason"]
    search_fields = ["=jti", "=client__id", "=session_id", "=user_id"]
    list_select_related = ["client"]
    date_hierarchy = "attempted"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
