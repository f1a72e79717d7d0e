"""Who may see, change and assign which task: the one rule book of tasks.

Every path to a task goes through here: the list and the detail (prepared or not), the
writes (TaskAccess, through DRF's get_object()), the project and person a task may be given
(TaskSerializer's fields), the admin, the feeds and the exports.

The rule: a task is visible to the members of its project (projects/permissions.py); its
owner and editors change it, viewers only read it; staff see and change every task.
``task_scope`` is that rule written once, as a condition the database applies
(``task_scope_by_project`` the same rule for one page of the list on PostgreSQL);
``may_see_task`` and ``may_change_task`` are the same rule for one task already read with
the caller's role in its project (tests/tasks/test_permissions.py holds them equal to the
scope for every persona and role).
"""

from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, F, Field, Func, OuterRef, Q, QuerySet
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.relations import HyperlinkedRelatedField
from rest_framework.request import Request
from rest_framework.views import APIView

from projects.models import Project
from projects.permissions import is_member, may_write_in, member_project_ids, role_in, shares_a_project
from projects.services import personal_project_create, personal_project_id
from tasks.models import Task
from users.models import User
from users.principal import Caller


class TaskInHand(Protocol):
    """What the rules read of a task: a ``Task`` read through ``tasks_visible_to``, or a
    read path's light value; ``caller_role`` is the caller's role in its project."""

    @property
    def caller_role(self) -> str | None: ...


def task_scope(*, caller_id: Any, is_staff: bool) -> Q:
    """The tasks a caller sees: staff every task, anyone else those of their projects.

    ``caller_id`` may be a prepared query's slot (api/prepared.py) as well as an id.
    """
    if is_staff:
        return Q()
    return Q(project_id__in=member_project_ids(caller_id))


def task_scope_by_project(
    *, caller_id: Any, page: Callable[[QuerySet[Task]], QuerySet[Task]], order: Sequence[str], size: int
) -> Q:
    """task_scope() for one page of tasks of a caller who is not staff, on PostgreSQL (ARRAY
    and unnest).

    ``page`` takes a page of a queryset of tasks (PageQuery.apply()): in ``order`` (such as
    ``["due_to", "id"]``; ``-`` descending), from its start, ``size`` of them. The scope is
    the first ``size``, in ``order``, of the pages of each of the caller's projects; the
    page of those is the page of task_scope() (tests/tasks/test_reads.py walks them).

    ``project_id IN (the caller's projects)`` has the planner read every task of those
    projects and sort them all, for every page (a member of 102,070 tasks: 270 ms a page).
    Here each project's page is read from its (project, due_to, id) index in order, with
    the sort keys along with the ids, and only the page's own rows are then read from the
    table: a page costs about the same at any depth, in a table of any size, and each
    project of the caller's adds up to ``size`` index entries to sort (BENCHMARKS.md).
    """
    firsts = page(Task.objects.filter(project_id=OuterRef("project_id")))

    def column(name: str) -> Func:
        # One column of each project's page, a row each: PostgreSQL runs the set-returning
        # functions of one SELECT in step, so a row holds one task's id and sort keys.
        field = cast("Field[Any, Any]", Task._meta.get_field(name))  # a column of tasks, not a relation
        return Func(ArraySubquery(firsts.values(name)), function="unnest", output_field=field)

    names = [term.removeprefix("-") for term in order]
    candidates = (
        member_project_ids(caller_id)
        .annotate(task_id=column("id"))
        .alias(**{f"task_{name}": column(name) for name in names if name != "id"})
        .order_by(*(f"-task_{term[1:]}" if term.startswith("-") else f"task_{term}" for term in order))
    )
    # = ANY(ARRAY(...)), not IN (...): the planner runs the candidates once and reads the
    # page's rows by primary key. Given IN, it guessed ten candidates and hashed them against
    # a scan of the whole table whenever that was small (0.45 ms a page of 1,000 tasks).
    page_ids = ArraySubquery(candidates.values("task_id")[:size])
    return Q(
        Func(
            F("id"), page_ids, template="%(expressions)s)", arg_joiner=" = ANY(", output_field=BooleanField()
        )
    )


def with_caller_role(tasks: QuerySet[Task], caller_id: Any) -> QuerySet[Task]:
    """``tasks`` annotated with ``caller_role``, the caller's role in each one's project."""
    return tasks.annotate(caller_role=role_in(caller_id))


def tasks_visible_to(caller: Caller) -> QuerySet[Task]:
    """The tasks the caller sees, each with ``caller_role`` (for may_change_task)."""
    scope = task_scope(caller_id=caller.pk, is_staff=caller.is_staff)
    tasks = with_caller_role(Task.objects.all(), caller.pk)
    return tasks.filter(scope) if scope else tasks


def may_see_task(caller: Caller, task: TaskInHand) -> bool:
    """task_scope() for one task in hand."""
    return caller.is_staff or task.caller_role is not None


def may_change_task(caller: Caller, task: TaskInHand) -> bool:
    """Change or delete: the project's owner and editors, and staff."""
    return may_write_in(caller, task.caller_role)


def task_placement(
    caller: Caller, *, project: Project | None, person: User | None, task: Task | None = None
) -> tuple[int, int]:
    """The project and the person of a task ``caller`` creates (``task`` None) or changes:
    ``project`` as TaskSerializer's field found it (with ``caller_role``), None for the
    caller's personal project on a create and the task's own on a change; ``person`` None
    for the caller on a create and the task's own on a change.

    The caller must be an owner or an editor of the project (else 403); the person must be
    a member of it (else 400, worded as for a user URL that names no one unless the person
    shares a project with the caller, so the answer does not reveal who exists).
    """
    if project is not None:
        role = getattr(project, "caller_role", None)  # VisibleProjectField's annotation
        if not may_write_in(caller, role):
            raise PermissionDenied("A viewer of a project cannot add tasks to it or move tasks into it.")
        project_id, caller_is_member = project.pk, role is not None
    elif task is not None:
        project_id, caller_is_member = task.project_id, getattr(task, "caller_role", None) is not None
    else:
        project_id = personal_project_id(caller.pk) or personal_project_create(user_id=caller.pk).pk
        caller_is_member = True
    person_id = person.pk if person is not None else task.person_id if task is not None else caller.pk
    moved = task is None or project_id != task.project_id or person_id != task.person_id
    if (
        moved
        and not (person_id == caller.pk and caller_is_member)
        and not is_member(project_id=project_id, user_id=person_id)
    ):
        if shares_a_project(caller, person_id):
            message = "Not a member of the task's project: the project's owner adds members."
        else:
            message = str(HyperlinkedRelatedField.default_error_messages["does_not_exist"])
        raise ValidationError({"person": [message]})
    return project_id, person_id


def member_tasks(user_id: int) -> QuerySet[Task]:
    """The tasks of the projects a user is a member of, whoever they are: what their feeds
    and exports serve.

    Not what they may see: a staff member's feed or export is their projects' tasks, never
    everyone's behind one secret URL or in one archive.
    """
    return Task.objects.filter(project_id__in=member_project_ids(user_id))


class TaskAccess(BasePermission):
    """DRF's object check for tasks: reads need may_see_task, writes may_change_task (a
    viewer's write is a 403; a task outside the caller's projects never gets here: 404).

    The object is a ``Task`` read through tasks_visible_to() (get_object() on writes) or the
    detail's light value (tasks.reads.Found), both with ``caller_role``.
    """

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        caller: Caller = request.user
        if request.method in SAFE_METHODS:
            return may_see_task(caller, obj)
        return may_change_task(caller, obj)
