from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import ERROR_RESPONSES
from tokens import serializers
from tokens.authentication import CHALLENGE
from tokens.codec import InvalidToken
from tokens.keys import key_ring
from tokens.models import Session
from tokens.permissions import SessionPermission, sessions_revocable_by, sessions_visible_to
from tokens.services import (
    logout,
    refresh_rotate,
    session_revoke,
    session_start,
    token_verify,
    user_tokens_revoke,
)
from users.principal import caller_of
from users.throttling import client_address

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class TokenView(APIView):
    """Endpoints that take credentials in the body, never from a session or a header."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class TokenObtainView(TokenView):
    # No throttle_classes: authenticate() counts the attempt, per address and per account,
    # and its PasswordAttemptsExceeded is DRF's 429 with Retry-After (users.passwords).

    @extend_schema(
        request=serializers.LoginSerializer,
        responses={200: serializers.TokenPairSerializer, **ERROR_RESPONSES(400, 401, 429)},
        auth=[],
        summary="Log in: trade a username and password for an access and a refresh token",
    )
    def post(self, request: Request) -> Response:
        login = serializers.LoginSerializer(data=request.data)
        login.is_valid(raise_exception=True)
        user = authenticate(request, **login.validated_data)
        if user is None:
            # One answer for an unknown user, a wrong password and an inactive account.
            raise exceptions.AuthenticationFailed("No active account found with the given credentials.")
        pair = session_start(
            user=user, user_agent=request.headers.get("User-Agent", ""), ip=client_address(request)
        )
        return Response(pair, headers=NO_STORE)


class TokenRefreshView(TokenView):
    @extend_schema(
        request=serializers.RefreshSerializer,
        responses={200: serializers.TokenPairSerializer, **ERROR_RESPONSES(400, 401)},
        auth=[],
        summary="Trade a refresh token for a new pair (the refresh token rotates)",
    )
    def post(self, request: Request) -> Response:
        body = serializers.RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            pair = refresh_rotate(
                refresh=body.validated_data["refresh"],
                user_agent=request.headers.get("User-Agent", ""),
                ip=client_address(request),
            )
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return Response(pair, headers=NO_STORE)


class TokenVerifyView(TokenView):
    @extend_schema(
        request=serializers.VerifySerializer,
        responses={200: serializers.VerifiedSerializer, **ERROR_RESPONSES(400, 401)},
        auth=[],
        summary="Check a token: 200 when it is valid, 401 otherwise",
    )
    def post(self, request: Request) -> Response:
        body = serializers.VerifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            claims = token_verify(token=body.validated_data["token"])
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return Response({k: claims[k] for k in ("token_use", "sub", "exp")}, headers=NO_STORE)


class JwksView(TokenView):
    @extend_schema(
        responses={200: serializers.JwksSerializer},
        auth=[],
        summary="The public keys that verify our tokens (RFC 7517)",
    )
    def get(self, request: Request) -> Response:
        return Response(key_ring().public_jwks(), headers={"Cache-Control": "public, max-age=60"})


class LogoutView(TokenView):
    @extend_schema(
        request=serializers.RefreshSerializer,
        responses={204: None, **ERROR_RESPONSES(400, 401)},
        auth=[],
        summary="Log out: end the session of this refresh token, and every token of it",
    )
    def post(self, request: Request) -> Response:
        body = serializers.RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            logout(refresh=body.validated_data["refresh"])
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **ERROR_RESPONSES(401)},
        summary="Log out everywhere: end every session and every token of the caller",
    )
    def post(self, request: Request) -> Response:
        user_tokens_revoke(user_id=caller_of(request).id, reason=Session.Reason.LOGOUT_ALL)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionViewSet(viewsets.GenericViewSet):
    """The caller's sessions: one per login, until it is logged out, revoked or expires."""

    queryset = Session.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9a-f-]{36}"
    serializer_class = serializers.SessionSerializer
    permission_classes = [IsAuthenticated, SessionPermission]
    filter_backends: list[Any] = []
    pagination_class = None

    def get_queryset(self) -> QuerySet[Session]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        caller = caller_of(self.request)
        if self.action == "destroy":
            return sessions_revocable_by(caller)
        return sessions_visible_to(caller)

    def get_object(self) -> Session:
        try:
            session: Session = super().get_object()
        except Http404 as exc:
            raise exceptions.NotFound("No such session.") from exc
        return session

    @extend_schema(responses={200: serializers.SessionSerializer(many=True), **ERROR_RESPONSES(401)})
    def list(self, request: Request) -> Response:
        current = request.auth.get("sid") if isinstance(request.auth, dict) else None
        sessions = [
            {**vars(session), "id": session.id, "current": str(session.id) == current}
            for session in self.get_queryset()
        ]
        return Response(serializers.SessionSerializer(sessions, many=True).data, headers=NO_STORE)

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={204: None, **ERROR_RESPONSES(401, 404)},
        summary="Revoke one of the caller's sessions",
    )
    def destroy(self, request: Request, pk: str) -> Response:
        session_revoke(session=self.get_object(), reason=Session.Reason.REVOKED)
        return Response(status=status.HTTP_204_NO_CONTENT)
