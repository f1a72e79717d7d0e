from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import BaseSerializer

from api.schema import ERROR_RESPONSES
from projects.models import Project, Role
from projects.permissions import ProjectAccess, projects_visible_to
from projects.serializers import ProjectSerializer
from projects.services import ProjectRuleError, project_create, project_rename
from users.principal import caller_of


class Conflict(APIException):
    """409: the request is understood, but the project's state forbids it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The project's state forbids this change."
    default_code = "conflict"


@extend_schema_view(
    list=extend_schema(
        summary="The caller's projects (staff: every project)",
        responses={200: ProjectSerializer(many=True), **ERROR_RESPONSES(400, 401)},
    ),
    create=extend_schema(
        summary="Create a project, owned by the caller",
        responses={201: ProjectSerializer, **ERROR_RESPONSES(400, 401, 413, 415)},
    ),
    retrieve=extend_schema(responses={200: ProjectSerializer, **ERROR_RESPONSES(401, 404)}),
    update=extend_schema(responses={200: ProjectSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 413, 415)}),
    partial_update=extend_schema(
        responses={200: ProjectSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 413, 415)}
    ),
)
class ProjectViewSet(viewsets.ModelViewSet):
    queryset = Project.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = ProjectSerializer
    permission_classes = [IsAuthenticated, ProjectAccess]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    pagination_class = None

    def get_queryset(self) -> QuerySet[Project]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return projects_visible_to(caller_of(self.request)).order_by("id")

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        try:
            project = project_create(
                owner_id=caller_of(self.request).id, name=serializer.validated_data["name"]
            )
        except ProjectRuleError as exc:
            raise Conflict(str(exc)) from exc
        project.caller_role = Role.OWNER  # type: ignore[attr-defined]
        serializer.instance = project

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        project = serializer.instance
        assert isinstance(project, Project)  # noqa: S101
        project_rename(project=project, name=serializer.validated_data.get("name", project.name))
