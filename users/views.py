from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from api.schema import ERROR_RESPONSES
from users.activation import InvalidActivationToken
from users.models import User
from users.permissions import SignupOpenOrStaff, UserPermission, creates_accounts_as_sent, users_visible_to
from users.principal import caller_of
from users.serializers import (
    ActivationSerializer,
    PasswordChangeSerializer,
    UserChangeSerializer,
    UserSerializer,
)
from users.services import user_activate, user_create, user_password_change, user_signup
from users.throttling import SignupThrottle, client_address

# OpenAPI security requirements (drf-spectacular types them as names): anyone, or staff
# with their token. Credentials are optional, and checked when they are sent.
OPTIONAL_CREDENTIALS: Any = [{"bearerAuth": []}, {"cookieAuth": []}, {}]


@extend_schema_view(
    list=extend_schema(
        summary="Users: staff see everyone, others only themselves",
        responses={200: UserSerializer(many=True), **ERROR_RESPONSES(400, 401)},
    ),
    create=extend_schema(
        summary="Sign up",
        description="With SIGNUP_REQUIRE_ACTIVATION, `email` is required and the account starts "
        "inactive: it is activated by POSTing the emailed token to /auth/activate/. "
        "Accounts created by staff are as staff send them, and get no email: staff send "
        "their token, so credentials are read here as everywhere, and a dead token is a 401 "
        "(leave the header out to sign up). 403 for a privilege the caller may not grant.",
        auth=OPTIONAL_CREDENTIALS,
        responses={201: UserSerializer, **ERROR_RESPONSES(400, 401, 403, 429)},
    ),
    retrieve=extend_schema(responses={200: UserSerializer, **ERROR_RESPONSES(401, 404)}),
    update=extend_schema(
        request=UserChangeSerializer,
        responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
    ),
    partial_update=extend_schema(
        request=UserChangeSerializer,
        responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
    ),
    destroy=extend_schema(responses={204: None, **ERROR_RESPONSES(401, 403, 404)}),
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
        return users_visible_to(caller_of(self.request))

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [SignupOpenOrStaff()]
        return [*super().get_permissions(), UserPermission()]

    def get_caller_object(self) -> User:
        """The caller's own account, through get_object (their row, and the object checks)."""
        self.kwargs[self.lookup_url_kwarg or self.lookup_field] = caller_of(self.request).pk
        return self.get_object()

    def get_throttles(self) -> list[Any]:
        if self.action == "create":
            return [SignupThrottle()]
        return super().get_throttles()

    def perform_create(self, serializer: BaseSerializer[User]) -> None:
        data = serializer.validated_data
        if not creates_accounts_as_sent(self.request.user):
            serializer.instance = user_signup(
                username=data["username"],
                password=data["password"],
                email=data.get("email", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                activation_url=self.request.build_absolute_uri(reverse("activate")),
            )
            return
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
        # request.user is the lean principal a token check builds: read the whole row.
        return Response(self.get_serializer(self.get_caller_object()).data)

    @extend_schema(
        summary="Change the caller's password (the old one is required)",
        request=PasswordChangeSerializer,
        responses={204: None, **ERROR_RESPONSES(400, 401, 429)},
    )
    @action(detail=False, methods=["post"], url_path="me/password", serializer_class=PasswordChangeSerializer)
    def password(self, request: Request) -> Response:
        body = PasswordChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user_password_change(
            user=self.get_caller_object(),
            address=client_address(request),
            **body.validated_data,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActivateView(APIView):
    """Redeem the token emailed at sign-up. The token is the credential: no other is read."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [SignupThrottle]

    def get_authenticate_header(self, request: Request) -> str:
        # Without a challenge DRF turns a 401 into a 403; a bad token is a 401. The challenge is
        # the one of the service's authentication (RFC 6750's Bearer), though this view reads none.
        challenge = APIView.authentication_classes[0]().authenticate_header(request)
        assert challenge is not None  # noqa: S101  DEFAULT_AUTHENTICATION_CLASSES starts with Bearer
        return challenge

    @extend_schema(
        request=ActivationSerializer,
        responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 429)},
        auth=[],
        summary="Activate an account with the token emailed at sign-up",
        description="200 with the now active user. 401 for a token that is invalid, expired, "
        "already used, or not an activation token (access and refresh tokens are not).",
    )
    def post(self, request: Request) -> Response:
        body = ActivationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = user_activate(token=body.validated_data["token"])
        except InvalidActivationToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return Response(UserSerializer(user, context={"request": request}).data)
