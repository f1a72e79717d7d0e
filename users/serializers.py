from typing import Any

from django.db import models
from rest_framework import exceptions, serializers

from api.serializers import StrictFieldsMixin, TextField
from users.models import User
from users.permissions import NEW_USER_PRIVILEGES, privileges_refused_to


class UserSerializer(StrictFieldsMixin, serializers.HyperlinkedModelSerializer):
    """A user account; no answer ever carries its password or the hash of it."""

    # username, first_name, last_name: strings only, as the schema says.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: TextField,
    }

    password = TextField(
        write_only=True,
        max_length=1024,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Only at sign-up; change it later with POST /users/me/password/.",
    )

    class Meta:
        model = User
        fields = [
            "url",
            "id",
            "username",
            "password",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "is_superuser",
            "is_active",
            "date_joined",
        ]
        read_only_fields = ["date_joined"]
        extra_kwargs = {
            "is_staff": {"help_text": "Changed by staff only: 403 for anyone else sending another value."},
            "is_superuser": {
                "help_text": "Changed by superusers only: 403 for anyone else sending another value."
            },
            "is_active": {"help_text": "Changed by staff only: 403 for anyone else sending another value."},
        }

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        if self.instance is not None:
            fields.pop("password")  # never changed here: it needs the old one
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Privileges are granted only by someone who holds them, and a privilege the caller
        # may not change is refused (403), never silently dropped: a client must not
        # believe a change took effect. Sending the current value back (a PUT of what a
        # GET answered) changes nothing and is accepted.
        request = self.context.get("request")
        caller = getattr(request, "user", None)
        current = self.instance if isinstance(self.instance, User) else None
        for name in privileges_refused_to(caller):
            if name not in attrs:
                continue
            now = getattr(current, name) if current is not None else NEW_USER_PRIVILEGES[name]
            if attrs[name] != now:
                raise exceptions.PermissionDenied(f"You may not change {name}.")
        return attrs


class UserChangeSerializer(UserSerializer):
    """A user as PUT and PATCH take it (for the schema): no password, which only
    POST /users/me/password/ changes, with the old one."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields.pop("password", None)
        return fields


class PasswordChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    """The caller's current password, and the new one."""

    old_password = TextField(max_length=1024, trim_whitespace=False)
    new_password = TextField(max_length=1024, trim_whitespace=False)


class ActivationSerializer(StrictFieldsMixin, serializers.Serializer):
    """The token emailed at sign-up."""

    # Generous on purpose: anything longer than a real token is still a 401 (not ours),
    # not a 400, so a JWT sent here is refused like any other wrong token.
    token = TextField(max_length=8192, help_text="The token from the activation email.")
