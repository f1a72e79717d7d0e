from typing import Any

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from api.serializers import StrictFieldsMixin, TextField
from projects.models import Membership, Project, Role
from projects.permissions import users_addable
from users.models import User

# A user named by URL is typed in, not chosen: a list of every account in the browsable
# API's form would show every username to anyone.
TYPED_USER = {"base_template": "input.html", "placeholder": "http://host/users/7/"}


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
    members = serializers.HyperlinkedIdentityField(
        view_name="project-member-list",
        lookup_url_kwarg="project_id",
        help_text="The project's members: /projects/{id}/members/.",
    )

    class Meta:
        model = Project
        fields = ["url", "id", "name", "owner", "role", "personal", "members", "created", "updated"]
        read_only_fields = ["owner", "personal", "created", "updated"]
        extra_kwargs = {
            "owner": {"help_text": "The owner's user URL: the one member with the owner role."},
            "personal": {
                "help_text": "The account's own project, made with it: it cannot be deleted, "
                "handed over or left."
            },
        }


class MemberUrlField(serializers.HyperlinkedIdentityField):
    """``/projects/{project_id}/members/{user_id}/``: a membership is named by its project and user."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(view_name="project-member-detail", **kwargs)

    def get_url(self, obj: Any, view_name: str, request: Request | None, format: str | None) -> str:
        path = reverse(view_name, kwargs={"project_id": obj.project_id, "user_id": obj.user_id})
        return request.build_absolute_uri(path) if request is not None else path


# The roles a client may set (SettableRoleEnum in the schema).
SETTABLE_ROLES = [(role.value, role.label) for role in (Role.EDITOR, Role.VIEWER)]


class MemberRoleField(serializers.ChoiceField):
    """A member's role as a client sets it: editor or viewer; the owner changes only by a
    hand-over (POST /projects/{id}/transfer/)."""

    default_error_messages = {
        "owner": "A project has one owner: hand it over with POST /projects/<id>/transfer/.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=SETTABLE_ROLES, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data == Role.OWNER:
            self.fail("owner")
        return super().to_internal_value(data)


class MemberSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A member of a project."""

    url = MemberUrlField(help_text="/projects/{project_id}/members/{user_id}/")
    user: serializers.HyperlinkedRelatedField[User] = serializers.HyperlinkedRelatedField(
        view_name="user-detail", read_only=True, help_text="The member's user URL."
    )
    username = serializers.CharField(source="user.username", read_only=True)
    role = serializers.ChoiceField(
        choices=Role.choices,
        read_only=True,
        help_text="owner (manages the project and its members), editor (changes its tasks) "
        "or viewer (reads them).",
    )
    joined = serializers.DateTimeField(source="created", read_only=True)

    class Meta:
        model = Membership
        fields = ["url", "user", "username", "role", "joined"]


class MemberChangeSerializer(MemberSerializer):
    """A member's new role (what GET answered may be sent back with it)."""

    role = MemberRoleField(
        help_text="editor (changes the project's tasks) or viewer (reads them); the owner "
        "changes only by a hand-over (POST /projects/{id}/transfer/)."
    )


class UserByUrlOrName(StrictFieldsMixin, serializers.Serializer):
    """A user named by URL (``user``) or by ``username``: one of the two. ``validated_data``
    holds the user under ``user``."""

    user = serializers.HyperlinkedRelatedField(
        view_name="user-detail",
        queryset=users_addable(),
        required=False,
        style=TYPED_USER,
        help_text="The user's URL. Give this or username.",
    )
    username = serializers.CharField(
        required=False, max_length=150, help_text="The user's username. Give this or user."
    )

    def validate_username(self, value: str) -> User:
        user = users_addable().filter(username=value).first()
        if user is None:
            raise serializers.ValidationError("No user has this username.")
        return user

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        named = [attrs.pop(name) for name in ("user", "username") if name in attrs]
        if not named:
            raise serializers.ValidationError({"user": ["Name the user: user (their URL) or username."]})
        if len(named) > 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Name the user once: user or username, not both."]}
            )
        return {**attrs, "user": named[0]}


class MemberAddSerializer(UserByUrlOrName):
    """A member to add: a user, by URL or username, and their role (editor by default)."""

    role = MemberRoleField(
        required=False,
        default=Role.EDITOR,
        help_text="editor (changes the project's tasks; the default) or viewer (reads them).",
    )


class TransferSerializer(UserByUrlOrName):
    """The member who becomes the owner (by URL or username); the old owner stays an editor."""


class LeaveSerializer(StrictFieldsMixin, serializers.Serializer):
    successor = serializers.HyperlinkedRelatedField(
        view_name="user-detail",
        queryset=users_addable(),
        required=False,
        style=TYPED_USER,
        help_text="The owner leaves only by naming a member to hand the project over to; "
        "anyone else sends nothing.",
    )


class DeleteConflictSerializer(serializers.Serializer):
    """The answer to a DELETE of a project that holds tasks, or that cannot be deleted."""

    detail = serializers.CharField(help_text="What went wrong, and how to confirm.")
    tasks = serializers.IntegerField(
        required=False,
        help_text="How many tasks the project holds: send the DELETE again with ?confirm=<tasks>.",
    )
    confirm = serializers.URLField(
        required=False, help_text="The URL that deletes the project with its tasks, as they are now."
    )
