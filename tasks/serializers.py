from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from api.serializers import AwareDateTimeField, StrictFieldsMixin
from tasks.models import Task
from users.models import User


class AssignablePersonField(serializers.HyperlinkedRelatedField):
    """A user the caller may bind a task to: anyone for staff, else only the caller.

    Another user's URL does not resolve for a non-staff caller: the same 400 as a URL that
    names no user at all, so the answer does not reveal who exists.
    """

    def get_queryset(self) -> QuerySet[User]:
        caller = self.context["request"].user
        users = User.objects.all()
        return users if caller.is_staff else users.filter(pk=caller.pk)


class TaskSerializer(StrictFieldsMixin, serializers.HyperlinkedModelSerializer):
    person = AssignablePersonField(
        view_name="user-detail",
        required=False,
        help_text="The user the task is bound to; defaults to the caller. Only staff may choose another.",
    )
    due_to = AwareDateTimeField(help_text="ISO 8601 with an offset; answered in UTC with Z.")

    class Meta:
        model = Task
        fields = ["url", "id", "title", "person", "due_to", "completed", "created", "updated"]
        read_only_fields = ["created", "updated"]


# The read path. A task's JSON is built straight from a database row: the serializer
# above (DRF's HyperlinkedModelSerializer) validates writes, but rendering a page of 100
# tasks through it costs milliseconds, mostly in reverse() per link. The output is the
# same, byte for byte (tests/tasks/test_serializers.py holds the two side by side).
TASK_COLUMNS = ("id", "title", "person_id", "due_to", "completed", "created", "updated")


class TaskLinks:
    """The absolute URL prefixes of tasks and users, resolved once per request."""

    def __init__(self, request: Request) -> None:
        self.tasks = request.build_absolute_uri(reverse("task-list"))
        self.users = request.build_absolute_uri(reverse("user-list"))

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.tasks}{row['id']}/",
            "id": row["id"],
            "title": row["title"],
            "person": f"{self.users}{row['person_id']}/",
            "due_to": row["due_to"],
            "completed": row["completed"],
            "created": row["created"],
            "updated": row["updated"],
        }


def task_row(task: Task) -> dict[str, Any]:
    return {column: getattr(task, column) for column in TASK_COLUMNS}
