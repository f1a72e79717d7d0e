"""What can happen to a task."""

from datetime import datetime
from typing import Any

from tasks.models import Task
from users.models import User

EDITABLE = frozenset({"title", "person", "due_to", "completed"})


def task_create(*, person: User, title: str, due_to: datetime, completed: bool = False) -> Task:
    task = Task(person=person, title=title, due_to=due_to, completed=completed)
    task.full_clean()
    task.save()
    return task


def task_update(*, task: Task, changes: dict[str, Any]) -> Task:
    unknown = changes.keys() - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(task, name, value)
    task.full_clean()
    task.save(update_fields=[*changes, "updated"])
    return task


def task_delete(*, task: Task) -> None:
    task.delete()
