from django.db.models import QuerySet
from rest_framework import serializers

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
