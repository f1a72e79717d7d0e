from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.schema import ERROR_RESPONSES
from events.models import Webhook
from events.permissions import deliveries_of, webhooks_of
from events.serializers import CreatedWebhookSerializer, DeliverySerializer, WebhookSerializer
from events.services import delivery_redeliver, webhook_create, webhook_update
from users.principal import caller_of


@extend_schema_view(
    list=extend_schema(
        summary="The caller's webhooks",
        responses={200: WebhookSerializer(many=True), **ERROR_RESPONSES(400, 401)},
    ),
    create=extend_schema(
        summary="Create a webhook",
        description="The answer carries the signing secret, once: it is never shown again.",
        responses={201: CreatedWebhookSerializer, **ERROR_RESPONSES(400, 401, 413, 415)},
    ),
    retrieve=extend_schema(responses={200: WebhookSerializer, **ERROR_RESPONSES(401, 404)}),
    update=extend_schema(responses={200: WebhookSerializer, **ERROR_RESPONSES(400, 401, 404, 413, 415)}),
    partial_update=extend_schema(
        description="`active: true` enables a webhook disabled after failing deliveries.",
        responses={200: WebhookSerializer, **ERROR_RESPONSES(400, 401, 404, 413, 415)},
    ),
    destroy=extend_schema(responses={204: None, **ERROR_RESPONSES(401, 404)}),
)
class WebhookViewSet(viewsets.ModelViewSet):
    """Webhooks: each its creator's alone (404 for anyone else)."""

    queryset = Webhook.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = WebhookSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Webhook]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return webhooks_of(caller_of(self.request)).order_by("id")

    def get_object(self) -> Webhook:
        try:
            webhook: Webhook = super().get_object()
        except (Http404, ValueError) as exc:
            raise NotFound("No such webhook.") from exc
        return webhook

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        webhook = webhook_create(
            owner_id=caller_of(request).pk,
            url=data["url"],
            events=data["events"],
            project_id=data.get("project_id"),
            active=data.get("active", True),
        )
        answer = CreatedWebhookSerializer(webhook, context=self.get_serializer_context())
        return Response(
            answer.data, status=status.HTTP_201_CREATED, headers={"Location": answer.data["self"]}
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        webhook = serializer.instance
        assert isinstance(webhook, Webhook)  # noqa: S101
        serializer.instance = webhook_update(webhook=webhook, changes=dict(serializer.validated_data))

    @extend_schema(
        summary="A webhook's delivery log: every attempt, the latest first",
        responses={200: DeliverySerializer(many=True), **ERROR_RESPONSES(400, 401, 404)},
    )
    @action(detail=True, url_path="deliveries", url_name="deliveries", serializer_class=DeliverySerializer)
    def deliveries(self, request: Request, pk: str) -> Response:
        deliveries = deliveries_of(self.get_object()).order_by("-id")
        page = self.paginate_queryset(deliveries)
        assert page is not None  # noqa: S101  the viewset is paginated
        return self.get_paginated_response(
            DeliverySerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        summary="Send a delivery's event again, with the same webhook-id",
        request=None,
        responses={202: OpenApiResponse(description="Queued."), **ERROR_RESPONSES(401, 404)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="deliveries/(?P<delivery_id>[0-9]+)/redeliver",
        url_name="redeliver",
    )
    def redeliver(self, request: Request, pk: str, delivery_id: str) -> Response:
        delivery = deliveries_of(self.get_object()).filter(pk=int(delivery_id)).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        delivery_redeliver(delivery=delivery)
        return Response({"event_id": delivery.event.webhook_id}, status=status.HTTP_202_ACCEPTED)
