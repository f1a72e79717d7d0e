"""Who may see, change and assign which task: the one rule book of tasks.

Every path to a task goes through here: the list and the detail (prepared or not), the
writes (TaskAccess, through DRF's get_object()), the person a task may be bound to
(TaskSerializer's field), the admin's own-task reads, the feeds and the exports.

``task_scope`` is the rule written once, as a condition the database applies;
``may_see_task`` and ``may_change_task`` are the same rule for one task already read
(tests/tasks/test_permissions.py holds them equal to the scope for every persona).
"""

from typing import Any, Protocol

from django.db.models import Q, QuerySet
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tasks.models import Task
from users.models import User
from users.principal import Caller


class OwnedTask(Protocol):
    """What the rules read of a task: a ``Task``, or a read path's light value."""

    @property
    def person_id(self) -> int: ...


def task_scope(*, caller_id: Any, is_staff: bool) -> Q:
    """The tasks a caller sees: staff every task, anyone else the tasks bound to them.

    ``caller_id`` may be a prepared query's slot (api/prepared.py) as well as an id.
    """
    if is_staff:
        return Q()
    return Q(person_id=caller_id)


def tasks_visible_to(caller: Caller) -> QuerySet[Task]:
    scope = task_scope(caller_id=caller.pk, is_staff=caller.is_staff)
    tasks = Task.objects.all()
    return tasks.filter(scope) if scope else tasks


def may_see_task(caller: Caller, task: OwnedTask) -> bool:
    """task_scope() for one task in hand."""
    return caller.is_staff or task.person_id == caller.pk


def may_change_task(caller: Caller, task: OwnedTask) -> bool:
    """Whoever sees a task may change or delete it."""
    return may_see_task(caller, task)


def assignable_persons(caller: Caller) -> QuerySet[User]:
    """The users a caller may bind a task to: anyone for staff, else only themselves."""
    users = User.objects.all()
    return users if caller.is_staff else users.filter(pk=caller.pk)


def own_tasks(user_id: int) -> QuerySet[Task]:
    """The tasks bound to a user, whoever they are: what their feeds and exports serve.

    Not what they may see: a staff member's feed or export is their own tasks, never
    everyone's behind one secret URL or in one archive.
    """
    return Task.objects.filter(person_id=user_id)


class TaskAccess(BasePermission):
    """DRF's object check for tasks: reads need may_see_task, writes may_change_task.

    The object is a ``Task`` (get_object() on writes) or whatever light value a read path
    holds with a ``person_id`` (tasks.reads.Found on the detail's prepared read).
    """

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        caller: Caller = request.user
        if request.method in SAFE_METHODS:
            return may_see_task(caller, obj)
        return may_change_task(caller, obj)
