import builtins
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.conditional import etag, not_modified, require_match
from api.ordering import BoundedOrderingFilter
from api.pagination import KeysetPagination
from api.renderers import ORJSONRenderer
from api.representations import XMLRenderer
from api.responses import negotiated
from api.schema import ERROR_RESPONSES, ErrorSerializer
from tasks import reads
from tasks.changes import TokenExpired, TokenRefused, changes_page, token_from_text, token_text
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.permissions import TaskAccess, task_placement, tasks_visible_to
from tasks.reads import TaskLinks
from tasks.renderers import CalendarRenderer
from tasks.serializers import TaskSerializer, plain_create_data
from tasks.services import task_create, task_delete, task_update
from users.principal import caller_of

PLAIN_LIST_PARAMS = {"page_size", "cursor", "ordering"}
# The writes: get_queryset() locks their row (SELECT ... FOR UPDATE) in the action's transaction.
LOCKING_ACTIONS = {"update", "partial_update", "destroy"}
MAX_ID = 2**63 - 1  # the largest id a BigAutoField can hold


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="The task's ETag: refuse the change (412) if it has changed.",
)
PAGE_MEDIA_TYPES = (ORJSONRenderer.media_type, XMLRenderer.media_type)
PAGE_LINKS = OpenApiParameter(
    "Link",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    description='With text/calendar: the next and previous pages (RFC 8288), `<URL>; rel="next"` '
    'and `<URL>; rel="prev"`; the JSON and XML carry them in `next` and `previous` instead.',
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="An ETag the client holds: 304 if it is current.",
)

SINCE = OpenApiParameter(
    "since",
    str,
    OpenApiParameter.QUERY,
    description="The `next` token of the caller's last page of changes. Without it: every task "
    "the caller sees, as changes, from the start.",
)
CHANGES_PAGE_SIZE = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": KeysetPagination.max_page_size},
    OpenApiParameter.QUERY,
    description=f"Changes and deletions per page, 1 to {KeysetPagination.max_page_size} "
    f"(default {KeysetPagination.page_size}).",
)
CHANGES = inline_serializer(
    name="TaskChanges",
    fields={
        "changes": TaskSerializer(
            many=True,
            help_text="Tasks created or changed, or that the caller has come to see: as they are now.",
        ),
        "deleted": serializers.ListField(
            child=serializers.IntegerField(),
            help_text="Ids of tasks the caller could see and no longer sees: deleted, moved to a "
            "project the caller is not in, or in a project the caller has left.",
        ),
        "next": serializers.CharField(
            help_text="The token for the next call: at once while `more` is true; else keep it and "
            "call again with it later."
        ),
        "more": serializers.BooleanField(help_text="More changes wait: call again at once with `next`."),
    },
)


class SyncTokenExpired(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = (
        "This sync token is older than the changes this service keeps. Sync again without `since` "
        "and replace every task you hold with the answer."
    )
    default_code = "sync_token_expired"


@extend_schema_view(
    list=extend_schema(
        summary="The tasks of the caller's projects (staff: everyone's)",
        description="Also a calendar: with `Accept: text/calendar`, the same page of tasks as "
        "RFC 5545 VTODOs, the page links in a `Link` header.",
        parameters=[PAGE_LINKS],
        # Keyed by media type: a calendar is text, and a calendar client's errors come in JSON.
        # (drf-spectacular reads the first key in string order as the main response, and
        # pages only an operation whose main response is a list: the JSON and XML one.)
        responses={
            (200, *PAGE_MEDIA_TYPES): OpenApiResponse(
                TaskSerializer(many=True), description="A page of tasks."
            ),
            (200, CalendarRenderer.media_type): OpenApiTypes.STR,
            **{(code, *PAGE_MEDIA_TYPES): response for code, response in ERROR_RESPONSES(400, 401).items()},
        },
    ),
    create=extend_schema(
        summary="Create a task", responses={201: TaskSerializer, **ERROR_RESPONSES(400, 401, 403, 413, 415)}
    ),
    retrieve=extend_schema(
        parameters=[IF_NONE_MATCH],
        responses={
            200: TaskSerializer,
            304: OpenApiResponse(description="Not modified."),
            **ERROR_RESPONSES(401, 404),
        },
    ),
    update=extend_schema(
        parameters=[IF_MATCH],
        responses={200: TaskSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 412, 413, 415)},
    ),
    partial_update=extend_schema(
        parameters=[IF_MATCH],
        responses={200: TaskSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 412, 413, 415)},
    ),
    destroy=extend_schema(
        parameters=[IF_MATCH], responses={204: None, **ERROR_RESPONSES(401, 403, 404, 412)}
    ),
)
class TaskViewSet(viewsets.ModelViewSet):
    queryset = Task.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = TaskSerializer
    # The project's default (DEFAULT_PERMISSION_CLASSES), then the task rules on each object.
    permission_classes = [IsAuthenticated, TaskAccess]
    permissions: Sequence[Any] | None = None
    filterset_class = TaskFilter
    search_fields = ["title"]
    ordering_fields = ["due_to", "title", "created", "id"]

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        tasks = tasks_visible_to(caller_of(self.request))
        if self.action in LOCKING_ACTIONS:
            # Held from the If-Match check to the write, so two clients racing on one
            # version cannot both win (the action runs in transaction.atomic()).
            tasks = tasks.select_for_update()
        return tasks

    def get_permissions(self) -> Sequence[Any]:
        # Made once per request (a view instance serves one): check_permissions() and
        # check_object_permissions() both ask.
        permissions = self.permissions
        if permissions is None:
            permissions = self.permissions = super().get_permissions()
        return permissions

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The filters, search and ordering are the list's: a write's query string filters nothing.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_renderers(self) -> builtins.list[BaseRenderer]:
        renderers = super().get_renderers()
        if self.action == "list":
            renderers.append(CalendarRenderer())  # a page of tasks is a calendar; one task is not
        return renderers

    # Reads: tasks.reads, one interface for the plain and the filtered page and the detail.

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        caller = caller_of(request)
        links = TaskLinks(request)
        # The class's empty queryset: get_ordering() reads only its model, and a fresh
        # Task.objects.none() per request would cost a query clone.
        chosen = (
            BoundedOrderingFilter().get_ordering(request, self.queryset, self) or Task._meta.ordering or ()
        )
        within = None
        if not request.query_params.keys() <= PLAIN_LIST_PARAMS:
            within = self.filter_queryset(self.get_queryset())
        paginator = self.paginator
        assert isinstance(paginator, KeysetPagination)  # noqa: S101
        rows = paginator.paginate(
            request,
            [str(name) for name in chosen],
            Task,
            lambda page: reads.task_page(caller=caller, page=page, links=links, within=within),
        )
        return negotiated(request, paginator.get_paginated_data(rows))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        task_id = int(kwargs["pk"])
        if task_id > MAX_ID:
            raise NotFound("No Task matches the given query.")  # past any id: no query to make
        found = reads.task_detail(caller=caller_of(request), task_id=task_id, links=TaskLinks(request))
        if found is None:
            raise NotFound("No Task matches the given query.")
        # What get_object() would do: TaskAccess reads the caller's role in what was found.
        self.check_object_permissions(request, found)
        task = found.task
        tag = etag(task["id"], task["updated"])
        if not_modified(request, tag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return negotiated(request, task, headers={"ETag": tag})

    # Writes: validated by TaskSerializer (a create's plain body by plain_create_data(), held
    # equal to it), carried out by tasks.services, answered by the read path's builder. A
    # change or a delete holds the row locked from the If-Match check to the write (see
    # get_queryset()).

    def create(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        data = plain_create_data(request.data)
        if data is None:
            body = self.get_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
        project_id, person_id = task_placement(
            caller_of(request), project=data.get("project"), person=data.get("person")
        )
        created = task_create(
            project_id=project_id,
            person_id=person_id,
            title=data["title"],
            due_to=data["due_to"],
            completed=data.get("completed", False),
            recurrence=data.get("recurrence") or "",
        )
        return self.answer(request, created, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        with transaction.atomic():
            task = self.matching_task()
            body = self.get_serializer(task, data=request.data, partial=kwargs.get("partial", False))
            body.is_valid(raise_exception=True)
            changes = dict(body.validated_data)
            task_placement(
                caller_of(request), project=changes.get("project"), person=changes.get("person"), task=task
            )
            task = task_update(task=task, changes=changes)
        return self.answer(request, task, status.HTTP_200_OK)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            task_delete(task=self.matching_task())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="What changed among the caller's tasks since a sync token",
        description="For clients that keep a copy: apply `deleted` and `changes` page by page, in "
        "order, then keep `next` for the next sync. A token from before what the service keeps "
        "(SYNC_RETENTION_DAYS) answers 410: sync again without `since`.",
        parameters=[SINCE, CHANGES_PAGE_SIZE],
        responses={
            200: CHANGES,
            **ERROR_RESPONSES(400, 401),
            410: OpenApiResponse(
                ErrorSerializer, description="The token is too old: sync again without since."
            ),
        },
    )
    @action(detail=False, url_path="changes", pagination_class=None, filter_backends=[])
    def changes(self, request: Request) -> HttpResponse:
        since = request.query_params.get("since")
        try:
            token = None if since is None else token_from_text(since)
        except TokenRefused as exc:
            raise ValidationError(
                {"since": ["Not a sync token of this service: sync again without since."]}
            ) from exc
        size = KeysetPagination().get_page_size(request)
        try:
            page = changes_page(caller=caller_of(request), since=token, size=size, links=TaskLinks(request))
        except TokenExpired as exc:
            raise SyncTokenExpired from exc
        body = {
            "changes": page.changes,
            "deleted": page.deleted,
            "next": token_text(page.next),
            "more": page.more,
        }
        return negotiated(request, body)

    def matching_task(self) -> Task:
        """get_object(), locked, once If-Match (when sent) names its current version."""
        task = self.get_object()
        require_match(self.request, etag(task.pk, reads.instant_text(task.updated)))
        return task

    def answer(self, request: Request, task: Task, code: int) -> HttpResponse:
        body = TaskLinks(request).task_from_model(task)
        headers = {"ETag": etag(body["id"], body["updated"])}
        if code == status.HTTP_201_CREATED:
            headers["Location"] = body["url"]
        return negotiated(request, body, headers=headers, status=code)
