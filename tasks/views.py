from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.serializers import BaseSerializer

from api.schema import ERROR_RESPONSES
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.selectors import task_visible_to
from tasks.serializers import TaskSerializer
from tasks.services import task_create, task_delete, task_update
from users.selectors import request_user


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
