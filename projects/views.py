"""The projects API: ``/projects/`` and ``/projects/{id}/`` (with the transfer and leave
actions), and a project's members, ``/projects/{project_id}/members/[{user_id}/]``.

Who may do what is projects.permissions (ProjectAccess, MemberAccess, through get_object());
what happens is projects.services, whose refusals are 409s here.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.utils.urls import replace_query_param

from api.schema import ERROR_RESPONSES, ErrorSerializer
from projects.models import Membership, Project, Role
from projects.permissions import MemberAccess, ProjectAccess, members_visible_to, projects_visible_to
from projects.serializers import (
    DeleteConflictSerializer,
    LeaveSerializer,
    MemberAddSerializer,
    MemberChangeSerializer,
    MemberSerializer,
    ProjectSerializer,
    TransferSerializer,
)
from projects.services import (
    DeleteNotConfirmed,
    ProjectRuleError,
    member_add,
    member_remove,
    member_set_role,
    project_create,
    project_delete,
    project_leave,
    project_rename,
    project_transfer,
    tasks_text,
)
from users.principal import caller_of

MAX_ID = 2**63 - 1  # the largest id a BigAutoField can hold
MAX_CONFIRM = 10**18 - 1  # 18 digits: more tasks than a project can hold
CONFIRM_PARAM = "confirm"


class Conflict(APIException):
    """409: the request is understood, but the project's state forbids it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The project's state forbids this change."
    default_code = "conflict"


def _id(value: str, missing: str) -> int:
    number = int(value)
    if number > MAX_ID:
        raise NotFound(missing)  # past any id: no query to make
    return number


PROJECT_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The project's id.")
CONFIRM = OpenApiParameter(
    CONFIRM_PARAM,
    {"type": "integer", "minimum": 0, "maximum": MAX_CONFIRM},
    OpenApiParameter.QUERY,
    description="The number of tasks the project holds, which are deleted with it: a DELETE "
    "without it (or with another number) of a project that holds tasks is a 409 that says "
    "how many. Not needed for a project without tasks.",
)
MANAGED = "The project's owner, and staff; 403 for its other members, 404 for anyone else."


@extend_schema_view(
    list=extend_schema(
        summary="The caller's projects (staff: every project)",
        responses={200: ProjectSerializer(many=True), **ERROR_RESPONSES(400, 401)},
    ),
    create=extend_schema(
        summary="Create a project, owned by the caller",
        responses={201: ProjectSerializer, **ERROR_RESPONSES(400, 401, 413, 415)},
    ),
    retrieve=extend_schema(
        summary="A project the caller is a member of (staff: any)",
        parameters=[PROJECT_ID],
        responses={200: ProjectSerializer, **ERROR_RESPONSES(401, 404)},
    ),
    update=extend_schema(
        summary="Rename a project",
        description=MANAGED,
        parameters=[PROJECT_ID],
        responses={200: ProjectSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 413, 415)},
    ),
    partial_update=extend_schema(
        summary="Rename a project",
        description=MANAGED,
        parameters=[PROJECT_ID],
        responses={200: ProjectSerializer, **ERROR_RESPONSES(400, 401, 403, 404, 413, 415)},
    ),
    destroy=extend_schema(
        summary="Delete a project and its tasks",
        description=f"{MANAGED} A project that holds tasks is deleted only with "
        "`?confirm=<its number of tasks>`; without it, or with another number, the answer is a "
        "409 that says how many and where to confirm, and nothing is deleted. A personal "
        "project cannot be deleted (409).",
        parameters=[PROJECT_ID, CONFIRM],
        responses={
            204: None,
            409: OpenApiResponse(
                DeleteConflictSerializer,
                description="The project holds tasks and the DELETE did not confirm their number, "
                "or it is a personal project.",
            ),
            **ERROR_RESPONSES(400, 401, 403, 404),
        },
    ),
)
class ProjectViewSet(viewsets.ModelViewSet):
    queryset = Project.objects.none()  # for the schema; requests use get_queryset()
    lookup_value_regex = "[0-9]+"
    serializer_class = ProjectSerializer
    permission_classes = [IsAuthenticated, ProjectAccess]
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Project]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return projects_visible_to(caller_of(self.request)).order_by("id")

    def get_object(self) -> Project:
        _id(self.kwargs["pk"], "No such project.")
        try:
            project: Project = super().get_object()
        except Http404 as exc:
            raise NotFound("No such project.") from exc
        return project

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        project = project_create(owner_id=caller_of(self.request).id, name=serializer.validated_data["name"])
        project.caller_role = Role.OWNER  # type: ignore[attr-defined]
        serializer.instance = project

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        project = serializer.instance
        assert isinstance(project, Project)  # noqa: S101
        project_rename(project=project, name=serializer.validated_data.get("name", project.name))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        task_count = self.confirmed_task_count(request)
        try:
            project_delete(project=project, task_count=task_count)
        except DeleteNotConfirmed as exc:
            confirm = replace_query_param(request.build_absolute_uri(), CONFIRM_PARAM, exc.task_count)
            return Response(
                {
                    "detail": f"{exc} To delete the project with {tasks_text(exc.task_count)}, "
                    f"send DELETE {confirm}",
                    "tasks": exc.task_count,
                    "confirm": confirm,
                },
                status=status.HTTP_409_CONFLICT,
            )
        except ProjectRuleError as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def confirmed_task_count(request: Request) -> int:
        raw = request.query_params.get(CONFIRM_PARAM)
        if raw is None:
            return 0  # nothing confirmed: only a project without tasks goes
        if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_CONFIRM))):
            raise ValidationError(
                {CONFIRM_PARAM: ["The number of tasks the project holds, as a whole number."]}
            )
        return int(raw)

    @extend_schema(
        summary="Hand a project over to another of its members",
        description=f"{MANAGED} The member named becomes the owner; the old owner stays on as "
        "an editor. 409 for a user who is not a member, and for a personal project.",
        parameters=[PROJECT_ID],
        request=TransferSerializer,
        responses={
            200: ProjectSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="The user is not a member of the project, or it is a personal project.",
            ),
            **ERROR_RESPONSES(400, 401, 403, 404, 413, 415),
        },
    )
    @action(detail=True, methods=["post"], serializer_class=TransferSerializer)
    def transfer(self, request: Request, pk: str) -> Response:
        project = self.get_object()
        body = TransferSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        try:
            project_transfer(project=project, to_user_id=body.validated_data["user"].pk)
        except ProjectRuleError as exc:
            raise Conflict(str(exc)) from exc
        # Read again (the caller's role in it has changed), past the check the caller passed.
        answer = ProjectSerializer(
            self.get_queryset().get(pk=project.pk), context=self.get_serializer_context()
        )
        return Response(answer.data)

    @extend_schema(
        summary="Leave a project",
        description="Any member. The owner leaves only by naming a `successor`, a member who "
        "becomes the owner (409 without one); a personal project cannot be left (409). The "
        "tasks the leaving member was assigned in the project go to its owner.",
        parameters=[PROJECT_ID],
        request=LeaveSerializer,
        responses={
            204: None,
            409: OpenApiResponse(
                ErrorSerializer,
                description="The owner named no successor (or one who is not a member), the "
                "project is a personal one, or the caller is not a member.",
            ),
            **ERROR_RESPONSES(400, 401, 404, 413, 415),
        },
    )
    @action(detail=True, methods=["post"], serializer_class=LeaveSerializer)
    def leave(self, request: Request, pk: str) -> Response:
        project = self.get_object()
        body = LeaveSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        successor = body.validated_data.get("successor")
        try:
            project_leave(
                project=project,
                user_id=caller_of(request).id,
                successor_id=successor.pk if successor is not None else None,
            )
        except ProjectRuleError as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


PROJECT_OF_MEMBERS = OpenApiParameter(
    "project_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The project's id."
)
MEMBER_ID = OpenApiParameter(
    "user_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The member's user id."
)


WRITE_SERIALIZERS: dict[str, type[BaseSerializer[Any]]] = {
    "create": MemberAddSerializer,
    "partial_update": MemberChangeSerializer,
}


@extend_schema_view(
    list=extend_schema(
        summary="A project's members",
        description="Any member of the project, and staff; 404 for anyone else.",
        parameters=[PROJECT_OF_MEMBERS],
        responses={200: MemberSerializer(many=True), **ERROR_RESPONSES(400, 401, 404)},
    ),
    create=extend_schema(
        summary="Add a member to a project",
        description=f"{MANAGED} The user is named by URL or username; the role is editor "
        "unless viewer is asked. 409 for a user who is already a member.",
        parameters=[PROJECT_OF_MEMBERS],
        request=MemberAddSerializer,
        responses={
            201: MemberSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Already a member."),
            **ERROR_RESPONSES(400, 401, 403, 404, 413, 415),
        },
    ),
    retrieve=extend_schema(
        summary="A member of a project",
        parameters=[PROJECT_OF_MEMBERS, MEMBER_ID],
        responses={200: MemberSerializer, **ERROR_RESPONSES(401, 404)},
    ),
    partial_update=extend_schema(
        summary="Change a member's role",
        description=f"{MANAGED} Editor or viewer; the owner's role changes only by a hand-over "
        "(POST /projects/{id}/transfer/), so the owner's own membership is a 409.",
        parameters=[PROJECT_OF_MEMBERS, MEMBER_ID],
        request=MemberChangeSerializer,
        responses={
            200: MemberSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The owner's membership."),
            **ERROR_RESPONSES(400, 401, 403, 404, 413, 415),
        },
    ),
    destroy=extend_schema(
        summary="Remove a member from a project (or leave it: one's own membership)",
        description="The owner and staff remove any member but the owner; any member removes "
        "themselves (403 for another member's); 404 for anyone else. The owner leaves only "
        "with POST /projects/{id}/leave/ and a successor (409 here). The tasks the member was "
        "assigned in the project go to its owner.",
        parameters=[PROJECT_OF_MEMBERS, MEMBER_ID],
        responses={
            204: None,
            409: OpenApiResponse(ErrorSerializer, description="The owner's membership."),
            **ERROR_RESPONSES(401, 403, 404),
        },
    ),
)
class MemberViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    queryset = Membership.objects.none()  # for the schema; requests use get_queryset()
    lookup_field = "user_id"
    lookup_value_regex = "[0-9]+"
    serializer_class = MemberSerializer
    permission_classes = [IsAuthenticated, MemberAccess]
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    found_project: Project | None = None

    def project(self) -> Project:
        """The project of the URL, if the caller sees it (else 404): found once per request."""
        if self.found_project is None:
            project_id = _id(self.kwargs["project_id"], "No such project.")
            found = projects_visible_to(caller_of(self.request)).filter(pk=project_id).first()
            if found is None:
                raise NotFound("No such project.")
            self.found_project = found
        return self.found_project

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return members_visible_to(caller_of(self.request), self.project())

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        # What the browsable API's forms and OPTIONS show for each write.
        return WRITE_SERIALIZERS.get(self.action, MemberSerializer)

    def get_object(self) -> Membership:
        _id(self.kwargs["user_id"], "Not a member of this project.")
        try:
            membership: Membership = super().get_object()
        except Http404 as exc:
            raise NotFound("Not a member of this project.") from exc
        return membership

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.project()
        self.check_object_permissions(request, project)  # adding is the owner's (and staff's)
        body = MemberAddSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        user = body.validated_data["user"]
        try:
            membership = member_add(project=project, user_id=user.pk, role=body.validated_data["role"])
        except ProjectRuleError as exc:
            raise Conflict(str(exc)) from exc
        membership.user = user
        answer = MemberSerializer(membership, context=self.get_serializer_context()).data
        return Response(answer, status=status.HTTP_201_CREATED, headers={"Location": answer["url"]})

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        body = MemberChangeSerializer(
            membership, data=request.data, partial=True, context=self.get_serializer_context()
        )
        body.is_valid(raise_exception=True)
        if "role" in body.validated_data:
            try:
                membership = member_set_role(membership=membership, role=body.validated_data["role"])
            except ProjectRuleError as exc:
                raise Conflict(str(exc)) from exc
        return Response(MemberSerializer(membership, context=self.get_serializer_context()).data)

    def perform_destroy(self, instance: Membership) -> None:
        try:
            member_remove(membership=instance)
        except ProjectRuleError as exc:
            raise Conflict(str(exc)) from exc
