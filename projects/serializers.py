from rest_framework import serializers

from api.serializers import StrictFieldsMixin, TextField
from projects.models import Project, Role


class ProjectSerializer(StrictFieldsMixin, serializers.HyperlinkedModelSerializer):
    """A project as its members see it, with the caller's own ``role`` in it."""

    name = TextField(max_length=100, help_text="1 to 100 characters.")
    role = serializers.ChoiceField(
        source="caller_role",
        choices=Role.choices,
        read_only=True,
        allow_null=True,
        help_text="The caller's role in the project; null for staff who are not members.",
    )

    class Meta:
        model = Project
        fields = ["url", "id", "name", "owner", "role", "personal", "created", "updated"]
        read_only_fields = ["owner", "personal", "created", "updated"]
