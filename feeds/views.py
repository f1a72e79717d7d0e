from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.renderers import ORJSONRenderer
from api.schema import ERROR_RESPONSES
from feeds.models import Feed
from feeds.permissions import FeedPermission, feeds_visible_to
from feeds.selectors import TOKEN_SHAPE, feed_for_token, feed_tasks
from feeds.serializers import FeedCreatedSerializer, FeedCreateSerializer, FeedSerializer
from feeds.services import FEEDS_PER_USER, feed_create, feed_revoke, feed_used
from tasks.calendar import MEDIA_TYPE, calendar_chunks
from tasks.reads import TaskLinks
from users.principal import caller_of

MAX_ID = 2**63 - 1  # the largest id a BigAutoField can hold
# The secret URL must stay out of every shared cache, and a revoked feed must be a 404 on
# the very next request: nothing may keep a copy, the calendar app's own cache included.
NO_STORE = "no-store"
FEED_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The feed's id.")


def _feed_id(pk: str) -> int:
    feed_id = int(pk)
    if feed_id > MAX_ID:
        raise exceptions.NotFound("No such feed.")  # past any id: no query to make
    return feed_id


class FeedViewSet(viewsets.GenericViewSet):
    """The caller's calendar feeds: secret URLs that serve their tasks to calendar apps."""

    queryset = Feed.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = FeedSerializer
    permission_classes = [IsAuthenticated, FeedPermission]
    filter_backends: list[Any] = []
    pagination_class = None

    def get_queryset(self) -> QuerySet[Feed]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return feeds_visible_to(caller_of(self.request))

    def get_object(self) -> Feed:
        _feed_id(self.kwargs[self.lookup_field])
        try:
            feed: Feed = super().get_object()
        except Http404 as exc:
            raise exceptions.NotFound("No such feed.") from exc
        return feed

    @extend_schema(
        summary="The caller's calendar feeds (never their secrets)",
        responses={200: FeedSerializer(many=True), **ERROR_RESPONSES(401)},
    )
    def list(self, request: Request) -> Response:
        return Response(FeedSerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        summary="Create a calendar feed; its secret URL is answered this once",
        description="`feed_url` is the address to give a calendar app: it serves the caller's "
        "tasks, read-only, to anyone who has it, until the feed is revoked, or the caller logs "
        "out everywhere, changes their password or is deactivated. Only a digest of its "
        f"secret is kept, so it cannot be shown again. A user has at most {FEEDS_PER_USER} feeds "
        "(400 beyond).",
        request=FeedCreateSerializer,
        responses={201: FeedCreatedSerializer, **ERROR_RESPONSES(400, 401, 413, 415)},
    )
    def create(self, request: Request) -> Response:
        body = FeedCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = feed_create(user_id=caller_of(request).id, name=body.validated_data["name"])
        feed_url = request.build_absolute_uri(reverse("feed-calendar", kwargs={"token": created.token}))
        answer = FeedCreatedSerializer(created.feed, context={"feed_url": feed_url})
        location = request.build_absolute_uri(reverse("feed-detail", kwargs={"pk": created.feed.pk}))
        return Response(
            answer.data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": NO_STORE, "Location": location},
        )

    @extend_schema(
        summary="One of the caller's calendar feeds",
        parameters=[FEED_ID],
        responses={200: FeedSerializer, **ERROR_RESPONSES(401, 404)},
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(FeedSerializer(self.get_object()).data)

    @extend_schema(
        summary="Revoke a calendar feed: its URL stops working at once",
        parameters=[FEED_ID],
        responses={204: None, **ERROR_RESPONSES(401, 404)},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        feed_revoke(feed=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class FirstRenderer(BaseContentNegotiation):
    """The feed has one representation, whatever a calendar app's Accept says (a 406 would
    break the subscription); its errors are JSON like every other error of the API."""

    def select_parser(self, request: Request, parsers: Iterable[Any]) -> None:
        return None  # GET and HEAD only: there is no body to parse

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, first.media_type


class FeedCalendarView(APIView):
    """A calendar feed: the secret in the URL is the credential, and the only one read."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [ORJSONRenderer]
    content_negotiation_class = FirstRenderer
    http_method_names = ["get", "head"]

    @extend_schema(
        operation_id="tasks_feed_calendar",
        summary="A calendar feed: the owner's tasks as RFC 5545 VTODOs, read-only",
        description="For calendar apps, which cannot send a Bearer token: the secret in the URL "
        "(answered once by POST /tasks/feeds/) is the credential. Every task bound to the feed's "
        "owner, streamed. 404 for an unknown, malformed or revoked secret, and for a user who "
        "is deactivated or deleted, logged out everywhere or changed their password since.",
        parameters=[
            OpenApiParameter(
                "token",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="The feed's secret.",
                pattern=f"^{TOKEN_SHAPE.pattern}$",
            )
        ],
        responses={
            (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="An iCalendar stream."),
            **{(code, "application/json"): answer for code, answer in ERROR_RESPONSES(404).items()},
        },
        auth=[],
    )
    def get(self, request: Request, token: str) -> StreamingHttpResponse:
        return self.calendar(request, token, body=True)

    def head(self, request: Request, token: str) -> StreamingHttpResponse:
        return self.calendar(request, token, body=False)  # the checks and headers, no task read

    def calendar(self, request: Request, token: str, *, body: bool) -> StreamingHttpResponse:
        access = feed_for_token(token=token)
        if access is None:
            raise exceptions.NotFound()  # one answer for every kind of bad secret
        feed_used(access=access, now=timezone.now())
        content: Iterable[bytes] = ()
        if body:
            links = TaskLinks(request)
            # Rows are read as the response is sent, not before: see feeds.selectors.CHUNK_ROWS.
            tasks = (links.task(row) for row in feed_tasks(user_id=access.user_id))
            content = calendar_chunks(tasks, name=access.calendar_name)
        response = StreamingHttpResponse(content, content_type=f"{MEDIA_TYPE}; charset=utf-8")
        # A secret URL pasted somewhere public must not reach a search index either.
        response["X-Robots-Tag"] = "noindex, nofollow"
        response["Cache-Control"] = NO_STORE
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # Errors too: a 404 kept by a cache would outlive the user's reactivation.
        response["Cache-Control"] = NO_STORE
        return response
