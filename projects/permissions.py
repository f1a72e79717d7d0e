"""Who may see and manage which project: the rule book of projects, and the membership
rule every task rule is written in (tasks/permissions.py).

A project is visible to its members (404 for anyone else); the owner manages it and its
members (403 for the other members); a member may leave. Staff see and manage every project.
"""

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from projects.models import WRITERS, Membership, Project
from users.models import User
from users.principal import Caller

# The project actions any member may take (the others are the owner's, and staff's).
MEMBER_ACTIONS = frozenset({"leave"})


def member_project_ids(user_id: Any) -> QuerySet[Membership, Any]:
    """The ids of the projects ``user_id`` is a member of, as a subquery.

    ``user_id`` may be a prepared query's slot (api/prepared.py) as well as an id.
    """
    return Membership.objects.filter(user_id=user_id).values("project_id")


def role_in(user_id: Any, project: Any = None) -> Subquery:
    """``user_id``'s role in the project of the outer row (``project``: the outer column,
    ``project_id`` by default), or NULL: an expression to annotate a queryset with."""
    ref = OuterRef(project or "project_id")
    # One membership per user and project: no order to choose by (Membership's would join projects).
    return Subquery(Membership.objects.filter(project_id=ref, user_id=user_id).order_by().values("role")[:1])


def may_write_in(caller: Caller, role: str | None) -> bool:
    """Whether a caller with ``role`` in a project may create, change and delete its tasks."""
    return caller.is_staff or role in WRITERS


def role_of(caller: Caller, project_id: int) -> str | None:
    """The caller's role in a project (None: not a member). One query."""
    return (
        Membership.objects.filter(project_id=project_id, user_id=caller.pk)
        .values_list("role", flat=True)
        .first()
    )


def projects_visible_to(caller: Caller) -> QuerySet[Project]:
    """The projects a caller sees, each annotated with ``caller_role``."""
    projects = Project.objects.annotate(caller_role=role_in(caller.pk, "pk"))
    if caller.is_staff:
        return projects
    return projects.filter(pk__in=member_project_ids(caller.pk))


def may_manage_project(caller: Caller, project: Project) -> bool:
    """Rename, delete, hand over, and add, change or remove members: the owner, and staff."""
    return caller.is_staff or project.owner_id == caller.pk


def may_delete_project(caller: Caller, project: Project) -> bool:
    """may_manage_project(), for a project that is not anyone's personal one (those go only
    with their account)."""
    return not project.personal and may_manage_project(caller, project)


def is_member(*, project_id: int, user_id: int) -> bool:
    """Whether ``user_id`` is a member of ``project_id``: a task's person must be."""
    return Membership.objects.filter(project_id=project_id, user_id=user_id).exists()


def users_addable() -> QuerySet[User]:
    """Who may be made a member of a project: any active account."""
    return User.objects.filter(is_active=True)


def members_visible_to(caller: Caller, project: Project) -> QuerySet[Membership]:
    """The members of a project the caller sees (the caller sees the project: a member or staff)."""
    return Membership.objects.filter(project=project).select_related("user").order_by("id")


def users_sharing_a_project(caller: Caller) -> QuerySet[User]:
    """The users who are members of a project the caller is a member of (staff: everyone):
    the persons a caller may name, and the ones the browsable API's forms offer."""
    if caller.is_staff:
        return User.objects.all()
    return User.objects.filter(
        pk__in=Membership.objects.filter(project__in=member_project_ids(caller.pk)).values("user_id")
    )


def shares_a_project(caller: Caller, user_id: int) -> bool:
    """Whether ``user_id`` is a member of a project the caller is a member of (staff: anyone)."""
    if caller.is_staff:
        return True
    return Membership.objects.filter(user_id=user_id, project__in=member_project_ids(caller.pk)).exists()


class ProjectAccess(BasePermission):
    """DRF's object check for projects: members read and leave, the owner (and staff) change,
    hand over and delete."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS or getattr(view, "action", None) in MEMBER_ACTIONS:
            return True  # found through projects_visible_to(): a member, or staff
        return may_manage_project(request.user, obj)


class MemberAccess(BasePermission):
    """A project's members: listed by any member; added, changed and removed by the owner,
    and a member may remove themselves (leave)."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        if request.method == "DELETE" and isinstance(obj, Membership) and obj.user_id == request.user.pk:
            return True
        project = obj.project if isinstance(obj, Membership) else obj
        return may_manage_project(request.user, project)
