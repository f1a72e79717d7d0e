from typing import Any

from django.db import models
from rest_framework import serializers

from api.serializers import StrictFieldsMixin, TextField
from users.models import User


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

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        caller = getattr(request, "user", None)
        if self.instance is not None:
            fields.pop("password")  # never changed here: it needs the old one
        # Privileges are granted only by someone who holds them.
        if not (caller and caller.is_staff):
            for name in ("is_staff", "is_superuser", "is_active"):
                fields[name].read_only = True
        elif not caller.is_superuser:
            fields["is_superuser"].read_only = True
        return fields


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
