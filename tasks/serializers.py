from django.db.models import QuerySet
from rest_framework import serializers

from api.serializers import AwareDateTimeField, StrictFieldsMixin, TextField
from tasks.permissions import assignable_persons
from users.models import User


class AssignablePersonField(serializers.HyperlinkedRelatedField):
    """A user the caller may bind a task to: anyone for staff, else only the caller.

    Another user's URL does not resolve for a non-staff caller: the same 400 as a URL that
    names no user at all, so the answer does not reveal who exists.
    """

    def get_queryset(self) -> QuerySet[User]:
        return assignable_persons(self.context["request"].user)


class TaskSerializer(StrictFieldsMixin, serializers.Serializer):
    """A task as clients write it; reads are built by tasks.reads with the same shape.

    Fields are declared rather than derived from the model (ModelSerializer introspects
    the model on every instantiation, a millisecond per create); the model's rules are
    restated here and checked again by the services.
    """

    url = serializers.HyperlinkedIdentityField(view_name="task-detail")
    id = serializers.IntegerField(read_only=True)
    title = TextField(max_length=100, help_text="1 to 100 characters.")
    person = AssignablePersonField(
        view_name="user-detail",
        required=False,
        help_text="The user the task is bound to; defaults to the caller. Only staff may choose another.",
    )
    due_to = AwareDateTimeField(help_text="ISO 8601 with an offset; answered in UTC with Z.")
    completed = serializers.BooleanField(required=False)
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)
