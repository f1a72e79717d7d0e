from rest_framework import serializers

from api.serializers import StrictFieldsMixin, TextField


class LoginSerializer(StrictFieldsMixin, serializers.Serializer):
    """A username and a password, to trade for a token pair."""

    username = TextField(max_length=150)
    password = TextField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class RefreshSerializer(StrictFieldsMixin, serializers.Serializer):
    """A refresh token."""

    # No length limit here: an oversized token is refused by the token checks, with a 401
    # like any other bad token (the request body limit still bounds it).
    refresh = TextField()


class VerifySerializer(StrictFieldsMixin, serializers.Serializer):
    """A token to check, access or refresh."""

    token = TextField()  # see RefreshSerializer


class VerifiedSerializer(serializers.Serializer):
    token_use = serializers.ChoiceField(choices=["access", "refresh"])
    sub = serializers.CharField()
    exp = serializers.IntegerField()


class JwksSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.DictField())


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    last_used = serializers.DateTimeField()
    expires = serializers.DateTimeField()
    user_agent = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    current = serializers.BooleanField(help_text="This is the session of the token making the request.")
