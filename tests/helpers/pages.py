"""Tasks that tie on their sort keys, and a walk along a list's ``next`` links."""

from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework.test import APIClient

from projects.services import personal_project_id
from tasks.models import Task
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def make_tasks(person: User, count: int, *, distinct_due: int = 1) -> list[Task]:
    """``count`` tasks over only ``distinct_due`` due dates and four titles, so most of them tie,
    in the person's personal project."""
    project_id = personal_project_id(person.pk)  # bulk_create() skips Task.save(), which would find it
    return Task.objects.bulk_create(
        Task(
            person=person,
            project_id=project_id,
            title=f"title {n % 4}",
            due_to=DUE + timedelta(hours=n % distinct_due),
            completed=n % 3 == 0,
        )
        for n in range(count)
    )


def walk(client: APIClient, url: str, **params: Any) -> tuple[list[int], int]:
    """Follow ``next`` to the end: every id seen, in order, and the number of pages."""
    response = client.get(url, params)
    ids: list[int] = []
    pages = 0
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        ids += [task["id"] for task in body["results"]]
        pages += 1
        if body["next"] is None:
            return ids, pages
        response = client.get(body["next"])
