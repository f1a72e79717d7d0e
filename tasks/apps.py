from typing import Any

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.delivery import data_renderers
        from tasks import checks  # noqa: F401  registers them

        # The events of tasks hold the task's columns, written by the database's triggers
        # (tasks/migrations/0004_task_events.py): delivered, they are the task's JSON.
        data_renderers["task.created"] = data_renderers["task.updated"] = _task_json


def _task_json(cells: list[Any]) -> dict[str, Any]:
    from django.conf import settings

    from tasks.reads import TaskLinks

    return TaskLinks.at(settings.PUBLIC_URL).task_from_cells(cells)
