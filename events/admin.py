from django.contrib import admin

from events.models import Delivery, Event, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["id", "url", "owner", "project", "active", "disabled_at"]
    list_filter = ["active"]
    raw_id_fields = ["owner", "project"]
    exclude = ["secret"]  # shown once, at creation through the API
    readonly_fields = ["disabled_at", "created", "updated"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "project_id", "occurred"]
    list_filter = ["type"]

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "webhook", "event", "attempt", "succeeded", "status_code", "attempted"]
    list_filter = ["succeeded"]
    raw_id_fields = ["webhook", "event"]

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
