from typing import Any

from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.urls import reverse
from rest_framework import serializers
from rest_framework.relations import Hyperlink

from api.serializers import StrictFieldsMixin
from events import sender
from events.models import Delivery, EventType, Webhook
from events.permissions import owns_project
from users.principal import caller_of


class OwnedProjectField(serializers.HyperlinkedRelatedField):
    """A project the caller owns, by URL, held as its id; any other project (a member's, one
    that does not exist) gets the same 400."""

    default_error_messages = {
        **serializers.HyperlinkedRelatedField.default_error_messages,
        "not_owned": "Only a project you own: a webhook of a project receives its members' changes.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(view_name="project-detail", source="project_id", allow_null=True, **kwargs)

    def get_queryset(self) -> QuerySet[Webhook]:
        return Webhook.objects.none()  # typed in, never listed: get_object() checks the one named

    def use_pk_only_optimization(self) -> bool:
        return False

    def get_object(self, view_name: str, view_args: Any, view_kwargs: Any) -> int:
        try:
            project_id = int(view_kwargs["pk"])
        except (KeyError, ValueError):
            self.fail("does_not_exist")
        if not owns_project(caller_of(self.context["request"]), project_id):
            self.fail("not_owned")
        return project_id

    def to_representation(self, value: Any) -> Hyperlink:
        path = reverse(self.view_name, kwargs={"pk": value})
        request = self.context.get("request")
        return Hyperlink(request.build_absolute_uri(path) if request is not None else path, None)


class EventTypesField(serializers.MultipleChoiceField):
    """A JSON list of event types, each once, in the order given. Its errors are one flat list
    of messages, as the API's 400 bodies are (a ListField of choices would answer a map of
    item positions)."""

    def to_internal_value(self, data: Any) -> list[str]:  # type: ignore[override]
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        chosen = super().to_internal_value(data)  # type: ignore[arg-type]  # refuses an unknown or unhashable item
        return [item for item in dict.fromkeys(data) if item in chosen]

    def to_representation(self, value: Any) -> list[str]:  # type: ignore[override]
        return list(value)


class WebhookSerializer(StrictFieldsMixin, serializers.HyperlinkedModelSerializer):
    """A webhook as its creator sees it (never its secret: that is shown once, at creation)."""

    self = serializers.HyperlinkedIdentityField(view_name="webhook-detail", help_text="This webhook.")
    url = serializers.URLField(
        max_length=2000,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where deliveries are POSTed (http or https; checked when set).",
    )
    events = EventTypesField(
        choices=EventType.choices, allow_empty=False, help_text="The event types it receives."
    )
    project = OwnedProjectField(
        required=False,
        help_text="A project you own: the webhook receives that project's events. Without: the "
        "events of your own tasks and projects.",
    )
    deliveries = serializers.HyperlinkedIdentityField(
        view_name="webhook-deliveries", help_text="The delivery log: /webhooks/{id}/deliveries/."
    )

    class Meta:
        model = Webhook
        fields = [
            "self",
            "id",
            "url",
            "events",
            "project",
            "active",
            "disabled_reason",
            "disabled_at",
            "deliveries",
            "created",
            "updated",
        ]
        read_only_fields = ["disabled_reason", "disabled_at", "created", "updated"]
        extra_kwargs = {
            "active": {
                "help_text": "Receives events. Set false by repeated failure (see "
                "disabled_reason); PATCH true to enable it again."
            },
        }

    def validate_url(self, value: str) -> str:
        try:
            sender.target_check(value)
        except sender.TargetRefused as refused:
            raise serializers.ValidationError(f"This target is refused: {refused}") from refused
        return value


class CreatedWebhookSerializer(WebhookSerializer):
    """The answer to a creation: the webhook and, this once, its signing secret."""

    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (Standard Webhooks, whsec_...): shown now and never again.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    """One attempt to deliver an event."""

    event_id = serializers.CharField(
        source="event.webhook_id", read_only=True, help_text="The event's webhook-id."
    )
    event_type = serializers.CharField(source="event.type", read_only=True)
    redeliver = serializers.SerializerMethodField(help_text="POST here to send the event again.")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "attempt",
            "redelivery",
            "attempted",
            "succeeded",
            "status_code",
            "latency_ms",
            "response_excerpt",
            "error",
            "next_attempt",
            "redeliver",
        ]
        read_only_fields = fields

    def get_redeliver(self, delivery: Delivery) -> str:
        path = reverse("webhook-redeliver", kwargs={"pk": delivery.webhook_id, "delivery_id": delivery.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path
