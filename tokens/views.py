from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import ERROR_RESPONSES
from tokens import dpop, serializers
from tokens.authentication import CHALLENGE
from tokens.clients import CallingClient, InvalidClient, client_authenticate, client_get
from tokens.codec import InvalidToken
from tokens.keys import key_ring
from tokens.models import Session
from tokens.permissions import SessionPermission, sessions_revocable_by, sessions_visible_to
from tokens.services import (
    logout,
    refresh_rotate,
    session_revoke,
    session_start,
    token_introspect,
    token_revoke,
    token_verify,
    user_tokens_revoke,
)
from users.principal import caller_of
from users.throttling import ResilientRateThrottle, client_address

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
GRANT_TYPES = ("password", "refresh_token")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer (also RFC 7009's, RFC 7662's and RFC 9449's)."""

    def __init__(self, error: str, description: str, *, status_code: int = 400, challenge: str = "") -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.challenge = challenge

    def response(self) -> Response:
        headers = dict(NO_STORE)
        if self.challenge:
            headers["WWW-Authenticate"] = self.challenge
        return Response(
            {"error": self.error, "error_description": self.description},
            status=self.status_code,
            headers=headers,
        )


def _form_value(request: Request, name: str) -> str | None:
    """One form parameter: sent at most once (RFC 6749 §3.2), text, or an OAuthError."""
    data: Any = request.data
    if hasattr(data, "getlist"):  # a form: a parameter may be repeated
        values = data.getlist(name)
    elif isinstance(data, Mapping):  # a JSON or XML object
        values = [data[name]] if name in data else []
    else:  # a JSON or XML list, string or number: no parameters at all
        raise OAuthError("invalid_request", "The request body is not a set of parameters.")
    if len(values) > 1:
        raise OAuthError("invalid_request", f"The {name!r} parameter was sent more than once.")
    if not values:
        return None
    if not isinstance(values[0], str) or not values[0]:
        raise OAuthError("invalid_request", f"The {name!r} parameter is malformed.")
    return values[0]


def _required(request: Request, name: str) -> str:
    value = _form_value(request, name)
    if value is None:
        raise OAuthError("invalid_request", f"The {name!r} parameter is required.")
    return value


def _calling_client(request: Request, *, default: bool) -> CallingClient:
    """The client of an OAuth request (RFC 6749 §2.3), or a 401 ``invalid_client``."""
    try:
        return client_authenticate(
            authorization=request.META.get("HTTP_AUTHORIZATION", ""),
            form_client_id=_form_value(request, "client_id"),
            form_secret=_form_value(request, "client_secret"),
            default=default,
        )
    except InvalidClient as exc:
        # §5.2: a client that tried HTTP Basic gets 401 and a Basic challenge.
        raise OAuthError(
            "invalid_client", str(exc), status_code=401, challenge='Basic realm="api"' if exc.basic else ""
        ) from exc


def _first_party_client() -> None:
    """The JSON endpoints speak for the first-party client: it must exist and be live."""
    if client_get(settings.DEFAULT_CLIENT_ID) is None:
        raise exceptions.AuthenticationFailed(
            "The first-party client is revoked: no tokens are issued to it."
        )


def _proof_binding(request: Request) -> str:
    """The thumbprint of the key of the request's DPoP proof (RFC 9449 §5), or "" without one."""
    proof = request.META.get("HTTP_DPOP")
    if proof is None:
        if settings.DPOP_REQUIRED:
            raise OAuthError(
                "invalid_dpop_proof", "This service only issues DPoP-bound tokens: send a DPoP proof."
            )
        return ""
    try:
        return dpop.proof_verify(proof, method=request.method or "POST", url=request.build_absolute_uri()).jkt
    except dpop.DPoPError as exc:
        raise OAuthError(exc.error, exc.description) from exc


def _oauth_answer(pair: dict[str, Any]) -> Response:
    """A token pair as RFC 6749 §5.1 names it."""
    return Response(
        {
            "access_token": pair["access"],
            "token_type": pair["token_type"],
            "expires_in": pair["expires_in"],
            "refresh_token": pair["refresh"],
        },
        headers=NO_STORE,
    )


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
        request={
            "application/json": serializers.LoginSerializer,
            "application/x-www-form-urlencoded": serializers.GrantRequestSerializer,
        },
        responses={
            200: PolymorphicProxySerializer(
                "TokenAnswer",
                [serializers.TokenPairSerializer, serializers.GrantAnswerSerializer],
                resource_type_field_name=None,
            ),
            **ERROR_RESPONSES(400, 401, 429),
        },
        auth=[],
        summary="Log in: a username and password (JSON), or an OAuth 2.0 grant (form), for an access and a refresh token",
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.data, Mapping) and "grant_type" in request.data:
            try:
                return self.grant(request)
            except OAuthError as exc:
                return exc.response()
        login = serializers.LoginSerializer(data=request.data)
        login.is_valid(raise_exception=True)
        _first_party_client()
        try:
            binding = _proof_binding(request)
        except OAuthError as exc:
            return exc.response()
        user = authenticate(request, **login.validated_data)
        if user is None:
            # One answer for an unknown user, a wrong password and an inactive account.
            raise exceptions.AuthenticationFailed("No active account found with the given credentials.")
        pair = session_start(
            user=user,
            binding=binding,
            user_agent=request.headers.get("User-Agent", ""),
            ip=client_address(request),
        )
        return Response(pair, headers=NO_STORE)

    def grant(self, request: Request) -> Response:
        """RFC 6749's form-encoded grants: §4.3 (password) and §6 (refresh_token)."""
        grant_type = _required(request, "grant_type")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", f"Supported grant types: {', '.join(GRANT_TYPES)}.")
        client = _calling_client(request, default=True)
        binding = _proof_binding(request)
        user_agent, ip = request.headers.get("User-Agent", ""), client_address(request)
        if grant_type == "refresh_token":
            try:
                pair = refresh_rotate(
                    refresh=_required(request, "refresh_token"),
                    client_id=client.client.id,
                    binding=binding,
                    user_agent=user_agent,
                    ip=ip,
                )
            except InvalidToken as exc:
                raise OAuthError("invalid_grant", str(exc)) from exc
            return _oauth_answer(pair)
        username, password = _required(request, "username"), _required(request, "password")
        login = serializers.LoginSerializer(data={"username": username, "password": password})
        if not login.is_valid():
            raise OAuthError("invalid_request", "The username or password is malformed.")
        user = authenticate(request, **login.validated_data)  # counted and throttled as every login is
        if user is None:
            raise OAuthError("invalid_grant", "No active account found with the given credentials.")
        pair = session_start(
            user=user, client_id=client.client.id, binding=binding, user_agent=user_agent, ip=ip
        )
        return _oauth_answer(pair)


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
        _first_party_client()
        try:
            binding = _proof_binding(request)
        except OAuthError as exc:
            return exc.response()
        try:
            pair = refresh_rotate(
                refresh=body.validated_data["refresh"],
                binding=binding,
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


class IntrospectionThrottle(ResilientRateThrottle):
    """INTROSPECTION_RATE per confidential client, counted in the shared cache."""

    scope = "introspection"
    duration: int  # seconds, from the rate (SimpleRateThrottle.__init__)

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        super().__init__()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.client_id}


class IntrospectionView(TokenView):
    """RFC 7662: a confidential client (a resource server) asks whether a token is usable."""

    parser_classes = [FormParser]

    @extend_schema(
        request={"application/x-www-form-urlencoded": serializers.IntrospectionRequestSerializer},
        responses={200: serializers.IntrospectionSerializer, **ERROR_RESPONSES(400, 401, 429)},
        auth=[],
        summary="Introspect a token (RFC 7662): confidential clients only, with HTTP Basic or client_secret_post",
    )
    def post(self, request: Request) -> Response:
        try:
            client = _calling_client(request, default=False)
            if not client.client.confidential:
                raise OAuthError(
                    "invalid_client", "Only confidential clients may introspect.", status_code=401
                )
            throttle = IntrospectionThrottle(client.client.id)
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait() or throttle.duration)
            token = _required(request, "token")
            hint = _form_value(request, "token_type_hint")
        except OAuthError as exc:
            return exc.response()
        return Response(token_introspect(token=token, hint=hint), headers=NO_STORE)


class RevocationView(TokenView):
    """RFC 7009: a client ends the session of one of its tokens."""

    parser_classes = [FormParser]

    @extend_schema(
        request={"application/x-www-form-urlencoded": serializers.RevocationRequestSerializer},
        responses={200: None, **ERROR_RESPONSES(400, 401)},
        auth=[],
        summary="Revoke a refresh or access token (RFC 7009): its session ends; 200 whatever the token",
    )
    def post(self, request: Request) -> Response:
        try:
            client = _calling_client(request, default=True)
            token = _required(request, "token")
            _form_value(request, "token_type_hint")  # §2.1: a hint only; both kinds are tried
        except OAuthError as exc:
            return exc.response()
        token_revoke(token=token, client_id=client.client.id)
        return Response(status=status.HTTP_200_OK, headers=NO_STORE)


class AuthorizationServerMetadataView(TokenView):
    """RFC 8414: what a standard OAuth client library needs to configure itself."""

    @extend_schema(
        responses={200: serializers.AuthorizationServerMetadataSerializer},
        auth=[],
        summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    )
    def get(self, request: Request) -> Response:
        return Response(server_metadata(request), headers={"Cache-Control": "public, max-age=3600"})


def server_metadata(request: Request) -> dict[str, Any]:
    # RFC 8414 §3: the issuer is the URL the metadata is found from. When JWT_ISSUER is a
    # URL, every endpoint is under it; otherwise under the address the request came to.
    issuer = settings.JWT_ISSUER
    base = (
        issuer.rstrip("/")
        if issuer.startswith(("https://", "http://"))
        else request.build_absolute_uri("/")[:-1]
    )
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}{reverse('jwks')}",
        "token_endpoint": f"{base}{reverse('token-obtain')}",
        "introspection_endpoint": f"{base}{reverse('introspect')}",
        "revocation_endpoint": f"{base}{reverse('revoke')}",
        "service_documentation": f"{base}{reverse('docs')}",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": [],  # no authorization endpoint: tokens come from grants only
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "dpop_signing_alg_values_supported": list(settings.DPOP_ALGORITHMS),
    }
