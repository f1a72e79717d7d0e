import builtins
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api import prepared
from api.pagination import KeysetPagination, PageQuery
from api.schema import ERROR_RESPONSES
from tasks import reads
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.reads import TaskLinks
from tasks.selectors import task_visible_to
from tasks.serializers import TaskSerializer
from tasks.services import task_create, task_delete, task_update
from users.models import User
from users.selectors import request_user

PLAIN_LIST_PARAMS = {"page_size", "cursor", "ordering"}


def visible_tasks(caller: User, slots: prepared.Slots) -> QuerySet[Task]:
    """task_visible_to() for a prepared query: the caller's id is the slot ``person``."""
    return task_visible_to(user=User(pk=slots["person"], is_staff=caller.is_staff))


@extend_schema_view(
    list=extend_schema(
        summary="The caller's tasks (staff: everyone's)",
        responses={200: TaskSerializer(many=True), **ERROR_RESPONSES(400, 401)},
    ),
    create=extend_schema(
        summary="Create a task", responses={201: TaskSerializer, **ERROR_RESPONSES(400, 401, 413, 415)}
    ),
    retrieve=extend_schema(responses={200: TaskSerializer, **ERROR_RESPONSES(401, 404)}),
    update=extend_schema(responses={200: TaskSerializer, **ERROR_RESPONSES(400, 401, 404, 413, 415)}),
    partial_update=extend_schema(responses={200: TaskSerializer, **ERROR_RESPONSES(400, 401, 404, 413, 415)}),
    destroy=extend_schema(responses={204: None, **ERROR_RESPONSES(401, 404)}),
)
class TaskViewSet(viewsets.ModelViewSet):
    queryset = Task.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ["title"]
    ordering_fields = ["due_to", "title", "created", "id"]

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return task_visible_to(user=request_user(self.request))

    # Reads: rows straight from the database into JSON (see TaskLinks), and for the plain
    # list and the detail, SQL compiled once per shape (see api/prepared.py).

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        links = TaskLinks(request)
        if request.query_params.keys() <= PLAIN_LIST_PARAMS:
            rows = self.plain_list_page(request, links)
        else:
            queryset = self.filter_queryset(self.get_queryset()).values(*reads.COLUMNS)
            rows = [links.task(row) for row in self.paginate_queryset(queryset) or []]
        return self.get_paginated_response(rows)

    # builtins.list: in this class, list is the list action.
    def plain_list_page(self, request: Request, links: TaskLinks) -> builtins.list[dict[str, Any]]:
        """A page of the caller's tasks in one of the allowed orders, with no filter."""
        caller = request_user(request)
        chosen = (
            OrderingFilter().get_ordering(request, Task.objects.none(), self) or Task._meta.ordering or ()
        )
        paginator = self.paginator
        assert isinstance(paginator, KeysetPagination)  # noqa: S101

        columns, iso = reads.select()

        def fetch(page: PageQuery) -> builtins.list[dict[str, Any]]:
            def build(slots: prepared.Slots) -> QuerySet[Any]:
                return page.apply(visible_tasks(caller, slots), slots).values_list(*columns)

            shape = ("task-list", caller.is_staff, page.shape)
            found = prepared.rows(shape, build, person=caller.pk, **page.slots)
            return [links.task_from_cells(cells, iso) for cells in found]

        return paginator.paginate(request, [str(name) for name in chosen], Task, fetch)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        caller = request_user(request)
        task_id = int(kwargs["pk"])

        columns, iso = reads.select()

        def build(slots: prepared.Slots) -> QuerySet[Any]:
            return visible_tasks(caller, slots).filter(pk=slots["id"]).values_list(*columns)[:1]

        found = prepared.rows(("task-detail", caller.is_staff), build, person=caller.pk, id=task_id)
        if not found:
            raise NotFound("No Task matches the given query.")
        return Response(TaskLinks(request).task_from_cells(found[0], iso))

    def perform_create(self, serializer: BaseSerializer[Task]) -> None:
        data = serializer.validated_data
        serializer.instance = task_create(
            person=data.get("person") or request_user(self.request),
            title=data["title"],
            due_to=data["due_to"],
            completed=data.get("completed", False),
        )

    def perform_update(self, serializer: BaseSerializer[Task]) -> None:
        assert serializer.instance is not None  # noqa: S101
        serializer.instance = task_update(task=serializer.instance, changes=dict(serializer.validated_data))

    def perform_destroy(self, instance: Task) -> None:
        task_delete(task=instance)
