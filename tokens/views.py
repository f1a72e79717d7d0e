from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import ERROR_RESPONSES
from tokens import serializers
from tokens.authentication import CHALLENGE
from tokens.codec import InvalidToken
from tokens.keys import key_ring
from tokens.models import Session
from tokens.services import (
    logout,
    refresh_rotate,
    session_revoke,
    session_start,
    sessions_of,
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


class SessionViewSet(viewsets.ViewSet):
    """The caller's sessions: one per login, until it is logged out, revoked or expires."""

    lookup_value_regex = "[0-9a-f-]{36}"
    serializer_class = serializers.SessionSerializer

    @extend_schema(responses={200: serializers.SessionSerializer(many=True), **ERROR_RESPONSES(401)})
    def list(self, request: Request) -> Response:
        current = request.auth.get("sid") if isinstance(request.auth, dict) else None
        sessions = [
            {**vars(session), "id": session.id, "current": str(session.id) == current}
            for session in sessions_of(user_id=caller_of(request).id)
        ]
        return Response(serializers.SessionSerializer(sessions, many=True).data, headers=NO_STORE)

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={204: None, **ERROR_RESPONSES(401, 404)},
        summary="Revoke one of the caller's sessions",
    )
    def destroy(self, request: Request, pk: str) -> Response:
        if not session_revoke(session_id=pk, reason=Session.Reason.REVOKED, user_id=caller_of(request).id):
            raise exceptions.NotFound("No such session.")
        return Response(status=status.HTTP_204_NO_CONTENT)
