"""What can happen to a task."""

from datetime import datetime
from typing import Any

from tasks.models import Task

EDITABLE = frozenset({"title", "project", "person", "due_to", "completed", "recurrence"})


def _validate(task: Task) -> None:
    # Field rules only: each check left out would cost a query per write. The project and
    # the person were checked by tasks.permissions.task_placement (the database's foreign
    # keys still guard them), and
    # the one constraint (no blank title) is the title field's own blank=False again,
    # whose check runs in a savepoint, i.e. a transaction of its own on SQLite.
    task.full_clean(exclude={"person", "project"}, validate_constraints=False)


def task_create(
    *,
    person_id: int,
    project_id: int | None = None,  # None: the person's personal project (Task.save)
    title: str,
    due_to: datetime,
    completed: bool = False,
    recurrence: str = "",
) -> Task:
    task = Task(
        person_id=person_id,
        title=title,
        due_to=due_to,
        completed=completed,
        recurrence=recurrence,
    )
    if project_id is not None:
        task.project_id = project_id
    _validate(task)
    task.save()
    return task


def task_update(*, task: Task, changes: dict[str, Any]) -> Task:
    unknown = changes.keys() - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if "recurrence" in changes and changes["recurrence"] is None:
        changes["recurrence"] = ""  # stored as the empty text, answered as null
    for name, value in changes.items():
        setattr(task, name, value)
    _validate(task)
    task.save(update_fields=[*changes, "updated"])
    return task


def task_delete(*, task: Task) -> None:
    task.delete()


def task_create_many(*, project_id: int, person_id: int, tasks: list[dict[str, Any]]) -> list[Task]:
    """Create every one of ``tasks`` (each its ``title``, ``due_to`` and optional ``completed``)
    for ``person_id`` in ``project_id``, or none of them: all are validated before the first
    is written, and bulk_create() writes them in one transaction."""
    created = [
        Task(
            project_id=project_id,
            person_id=person_id,
            title=task["title"],
            due_to=task["due_to"],
            completed=task.get("completed", False),
        )
        for task in tasks
    ]
    for task in created:
        _validate(task)
    # One INSERT per batch; on PostgreSQL and SQLite (3.35+) it returns the new ids.
    Task.objects.bulk_create(created, batch_size=1000)
    return created
