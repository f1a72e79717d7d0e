from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from api.schema import ERROR_RESPONSES
from tokens import serializers
from tokens.authentication import CHALLENGE
from tokens.codec import InvalidToken
from tokens.keys import key_ring
from tokens.services import refresh_rotate, token_pair_issue, token_verify

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class TokenView(APIView):
    """Endpoints that take credentials in the body, never from a session or a header."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class TokenObtainView(TokenView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

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
        return Response(token_pair_issue(user=user), headers=NO_STORE)


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
            pair = refresh_rotate(refresh=body.validated_data["refresh"])
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
        return Response(key_ring().public_jwks(), headers={"Cache-Control": "public, max-age=300"})
