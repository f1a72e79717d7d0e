"""Who may see, change and assign which task: the one rule book of tasks.

Every path to a task goes through here: the list and the detail (prepared or not), the
writes (TaskAccess, through DRF's get_object()), the project and person a task may be given
(TaskSerializer's fields), the admin, the feeds and the exports.

The rule: a task is visible to the members of its project (projects/permissions.py); its
owner and editors change it, viewers only read it; staff see and change every task.
``task_scope`` is that rule written once, as a condition the database applies
(``task_page_by_project`` the same rule for one page of the list on PostgreSQL);
``may_see_task`` and ``may_change_task`` are the same rule for one task already read with
the caller's role in its project (tests/tasks/test_permissions.py holds them equal to the
scope for every persona and role).
"""

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from django.db import connection
from django.db.models import Expression, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.relations import HyperlinkedRelatedField
from rest_framework.request import Request
from rest_framework.views import APIView

from api.prepared import Statement
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


# The alias of the caller's projects in task_page_by_project(), which each project's page names.
_MINE = '"mine"'


def task_page_by_project(
    *,
    caller_id: Any,
    page: Callable[[QuerySet[Task]], QuerySet[Task]],
    order: Sequence[str],
    size: int,
    columns: Sequence[str | Expression],
) -> Statement:
    """One page of task_scope() of a caller who is not staff, on PostgreSQL: ``columns`` of
    each task (names and expressions, as values_list() takes them).

    ``page`` takes a page of a queryset of tasks (PageQuery.apply()): in ``order`` (such as
    ``["due_to", "id"]``; ``-`` descending), from its start, ``size`` of them. Each of the
    caller's projects gives the page of its own tasks, read in order from its (project,
    due_to, id) index (a LATERAL join: the ORM writes the project's page, and the members
    query, and this puts them together); the first ``size`` of those, in ``order``, are the
    page of task_scope() (tests/tasks/test_reads.py walks them).

    ``project_id IN (the caller's projects)`` has the planner read every task of those
    projects and sort them all, for every page (a member of 102,070 tasks: 270 ms a page).
    Here a page costs about the same at any depth, in a table of any size, and each project
    of the caller's adds up to ``size`` rows to sort (BENCHMARKS.md). Each row is read once,
    from its project's index: 0.35 ms for a page of 100 of 1,000 tasks, against 0.5-0.75 for
    ids merged from the projects' pages and then read by primary key.
    """
    named: dict[str, Any] = {f"c{i}": F(c) if isinstance(c, str) else c for i, c in enumerate(columns)}
    keys = {f"k{i}": F(term.removeprefix("-")) for i, term in enumerate(order)}
    mine = Task.objects.filter(project_id=RawSQL(f"{_MINE}.project_id", ()))  # noqa: S611  a constant column
    firsts = page(mine.annotate(**named, **keys)).values_list(*named, *keys)
    members = member_project_ids(caller_id).order_by()  # in FROM, Membership's order would join projects
    members_sql, members_params = members.query.get_compiler(connection=connection).as_sql()
    firsts_sql, firsts_params = firsts.query.get_compiler(connection=connection).as_sql()
    selected = ", ".join(f'"page"."{name}"' for name in named)
    ordered = ", ".join(
        f'"page"."{name}" {"DESC" if term.startswith("-") else "ASC"}'
        for name, term in zip(keys, order, strict=True)
    )
    # Only constant names and the ORM's SQL go into the text; every value is a parameter.
    return Statement(
        f'SELECT {selected} FROM ({members_sql}) {_MINE} CROSS JOIN LATERAL ({firsts_sql}) "page" '  # noqa: S608
        f"ORDER BY {ordered} LIMIT {int(size)}",
        (*members_params, *firsts_params),
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
