from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import ScopedRateThrottle

from api.schema import ERROR_RESPONSES
from users.models import User
from users.selectors import request_user
from users.serializers import PasswordChangeSerializer, UserSerializer
from users.services import user_create, user_password_change


class SignupOpenOrStaff(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.SIGNUP_OPEN or (request.user and request.user.is_staff))


@extend_schema_view(
    list=extend_schema(
        summary="Users: staff see everyone, others only themselves",
        responses={200: UserSerializer(many=True), **ERROR_RESPONSES(400, 401)},
    ),
    create=extend_schema(
        summary="Sign up", auth=[], responses={201: UserSerializer, **ERROR_RESPONSES(400, 403, 429)}
    ),
    retrieve=extend_schema(responses={200: UserSerializer, **ERROR_RESPONSES(401, 404)}),
    update=extend_schema(responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 404)}),
    partial_update=extend_schema(responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 404)}),
    destroy=extend_schema(responses={204: None, **ERROR_RESPONSES(401, 404)}),
)
class UserViewSet(viewsets.ModelViewSet):
    queryset = User.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = UserSerializer
    filter_backends: list[Any] = []
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[User]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        users = User.objects.order_by("id")
        caller = request_user(self.request)
        if caller.is_staff:
            return users
        return users.filter(pk=caller.pk)  # anyone else is a 404, not a 403

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [SignupOpenOrStaff()]
        return super().get_permissions()

    def get_throttles(self) -> list[Any]:
        if self.action == "create":
            self.throttle_scope = "signup"
            return [ScopedRateThrottle()]
        return super().get_throttles()

    def perform_create(self, serializer: BaseSerializer[User]) -> None:
        data = serializer.validated_data
        serializer.instance = user_create(
            username=data["username"],
            password=data["password"],
            email=data.get("email", ""),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            is_staff=data.get("is_staff", False),
            is_superuser=data.get("is_superuser", False),
            is_active=data.get("is_active", True),
        )

    @extend_schema(summary="The caller", responses={200: UserSerializer, **ERROR_RESPONSES(401)})
    @action(detail=False, methods=["get"])
    def me(self, request: Request) -> Response:
        return Response(self.get_serializer(request.user).data)

    @extend_schema(
        summary="Change the caller's password (the old one is required)",
        request=PasswordChangeSerializer,
        responses={204: None, **ERROR_RESPONSES(400, 401)},
    )
    @action(detail=False, methods=["post"], url_path="me/password", serializer_class=PasswordChangeSerializer)
    def password(self, request: Request) -> Response:
        body = PasswordChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user_password_change(user=request_user(request), **body.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
