"""What can happen to a task."""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from api import prepared
from projects.services import personal_project_create, personal_project_id
from tasks.models import Task
from tasks.recurrence import RecurrenceError, completion, recurrence_text

EDITABLE = frozenset({"title", "project", "person", "due_to", "completed", "recurrence"})


def _validate(task: Task) -> None:
    # Field rules only: each check left out would cost a query per write. The project and
    # the person were checked by tasks.permissions.task_placement (the database's foreign
    # keys still guard them), and
    # the one constraint (no blank title) is the title field's own blank=False again,
    # whose check runs in a savepoint, i.e. a transaction of its own on SQLite.
    errors: dict[str, list[str]] = {}
    try:
        task.full_clean(exclude={"person", "project"}, validate_constraints=False)
    except ValidationError as exc:
        errors = exc.message_dict
    # The recurrence rule, checked and put in its stored form (the model's field has no
    # validator: its rules are tasks.recurrence's).
    if task.recurrence and "recurrence" not in errors:  # not a second message for one too long
        try:
            task.recurrence = recurrence_text(task.recurrence)
        except RecurrenceError as exc:
            errors.setdefault("recurrence", []).append(str(exc))
    if errors:
        raise ValidationError(errors)


def task_create(
    *,
    person_id: int,
    project_id: int | None = None,  # None: the person's personal project (made if missing, as the API does)
    title: str,
    due_to: datetime,
    completed: bool = False,
    recurrence: str = "",
) -> Task:
    """A new task. ``completed`` is its state as given: a recurring task created completed
    (an import of a series that ended) stays so; completing is a change (task_update())."""
    task = Task(
        project_id=project_id
        or personal_project_id(person_id)
        or personal_project_create(user_id=person_id).pk,
        person_id=person_id,
        title=title,
        due_to=due_to,
        completed=completed,
        recurrence=recurrence,
    )
    _validate(task)
    prepared.insert(task)  # the INSERT save() makes, compiled once (api/prepared.py)
    return task


def task_update(*, task: Task, changes: dict[str, Any]) -> Task:
    """Apply ``changes`` to the task.

    Completing a recurring task (``completed`` from false to true, with the changes applied
    first) completes its current occurrence: ``last_completed`` is now, and the task moves to
    the next occurrence after its ``due_to`` and stays open (tasks.recurrence.completion(),
    which also counts COUNT down). When the series ends there, the task is completed. A task
    without a recurrence completes as it always has, ``last_completed`` left alone.
    """
    unknown = changes.keys() - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if "recurrence" in changes and changes["recurrence"] is None:
        changes["recurrence"] = ""  # stored as the empty text, answered as null
    completing = changes.get("completed") is True and not task.completed
    for name, value in changes.items():
        setattr(task, name, value)
    _validate(task)
    written = [*changes, "updated"]
    if completing and task.recurrence:
        task.last_completed = timezone.now()
        following = completion(task.recurrence, due_to=task.due_to)
        if following is not None:
            task.due_to, task.recurrence, task.completed = following.due_to, following.recurrence, False
        written = list(dict.fromkeys([*written, "due_to", "recurrence", "completed", "last_completed"]))
    task.save(update_fields=written)
    return task


def task_delete(*, task: Task) -> None:
    task.delete()


def task_create_many(*, project_id: int, person_id: int, tasks: list[dict[str, Any]]) -> list[Task]:
    """Create every one of ``tasks`` (each its ``title``, ``due_to``, optional ``completed``
    and ``recurrence``, as task_create() takes them)
    for ``person_id`` in ``project_id``, or none of them: all are validated before the first
    is written, and bulk_create() writes them in one transaction."""
    created = [
        Task(
            project_id=project_id,
            person_id=person_id,
            title=task["title"],
            due_to=task["due_to"],
            completed=task.get("completed", False),
            recurrence=task.get("recurrence") or "",
        )
        for task in tasks
    ]
    for task in created:
        _validate(task)
    # One INSERT per batch; on PostgreSQL and SQLite (3.35+) it returns the new ids.
    Task.objects.bulk_create(created, batch_size=1000)
    return created
