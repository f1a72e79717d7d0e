"""Tasks through the idiomatic path, DRF's TaskSerializer and JSONRenderer, for the tests
that hold the read path (tasks/reads.py) equal to it."""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from tasks.models import Task
from tasks.serializers import TaskSerializer


def serializer_json(tasks: Iterable[Task] | QuerySet[Task]) -> list[dict[str, Any]]:
    """The tasks' JSON as TaskSerializer writes it (links on http://testserver/)."""
    request = APIRequestFactory().get("/tasks/")
    data = TaskSerializer(list(tasks), many=True, context={"request": request}).data
    return [dict(task) for task in data]


def serializer_bytes(tasks: Iterable[Task] | QuerySet[Task]) -> bytes:
    """The tasks' JSON array as DRF's own renderer writes it."""
    return JSONRenderer().render(serializer_json(tasks))
