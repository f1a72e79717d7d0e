from rest_framework import serializers

from api.serializers import StrictFieldsMixin, TextField


class LoginSerializer(StrictFieldsMixin, serializers.Serializer):
    """A username and a password, to trade for a token pair."""

    username = TextField(max_length=150)
    password = TextField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.ChoiceField(
        choices=["Bearer", "DPoP"], help_text="DPoP when the tokens are bound to a key."
    )
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


class GrantRequestSerializer(serializers.Serializer):
    """RFC 6749's form-encoded grants (§4.3 password, §6 refresh_token); for the schema only."""

    grant_type = serializers.ChoiceField(choices=["password", "refresh_token"])
    username = serializers.CharField(required=False, help_text="grant_type=password")
    password = serializers.CharField(required=False, help_text="grant_type=password")
    refresh_token = serializers.CharField(required=False, help_text="grant_type=refresh_token")
    client_id = serializers.CharField(
        required=False, help_text="Public clients; the first-party one when absent."
    )
    client_secret = serializers.CharField(required=False, help_text="client_secret_post; or use HTTP Basic.")


class GrantAnswerSerializer(serializers.Serializer):
    """RFC 6749 §5.1's token answer, to a form-encoded grant."""

    access_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["Bearer", "DPoP"])
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()


class IntrospectionRequestSerializer(serializers.Serializer):
    token = serializers.CharField()
    token_type_hint = serializers.CharField(
        required=False,
        help_text="access_token or refresh_token. A hint only (RFC 7009 §2.1, RFC 7662 §2.1): every kind is tried, "
        "and a hint we do not know is ignored.",
    )


class IntrospectionSerializer(serializers.Serializer):
    """RFC 7662 §2.2: only ``active`` when the token is not usable."""

    active = serializers.BooleanField()
    client_id = serializers.CharField(required=False)
    username = serializers.CharField(required=False)
    token_type = serializers.ChoiceField(choices=["Bearer", "DPoP"], required=False)
    sub = serializers.CharField(required=False)
    iss = serializers.CharField(required=False)
    aud = serializers.CharField(required=False)
    exp = serializers.IntegerField(required=False)
    iat = serializers.IntegerField(required=False)
    nbf = serializers.IntegerField(required=False)
    jti = serializers.CharField(required=False)
    sid = serializers.CharField(required=False)
    cnf = serializers.DictField(
        required=False, help_text='{"jkt": ...} for a DPoP-bound token (RFC 9449 §6.2).'
    )


class RevocationRequestSerializer(serializers.Serializer):
    token = serializers.CharField()
    token_type_hint = serializers.CharField(
        required=False,
        help_text="access_token or refresh_token. A hint only (RFC 7009 §2.1, RFC 7662 §2.1): every kind is tried, "
        "and a hint we do not know is ignored.",
    )
    client_id = serializers.CharField(required=False, help_text="Public clients.")


class AuthorizationServerMetadataSerializer(serializers.Serializer):
    issuer = serializers.CharField()
    jwks_uri = serializers.URLField()
    token_endpoint = serializers.URLField()
    introspection_endpoint = serializers.URLField()
    revocation_endpoint = serializers.URLField()
    service_documentation = serializers.URLField()
    grant_types_supported = serializers.ListField(child=serializers.CharField())
    response_types_supported = serializers.ListField(child=serializers.CharField())
    token_endpoint_auth_methods_supported = serializers.ListField(child=serializers.CharField())
    introspection_endpoint_auth_methods_supported = serializers.ListField(child=serializers.CharField())
    revocation_endpoint_auth_methods_supported = serializers.ListField(child=serializers.CharField())
    dpop_signing_alg_values_supported = serializers.ListField(child=serializers.CharField())


class OAuthErrorSerializer(serializers.Serializer):
    """RFC 6749 §5.2's error body (also RFC 7009's, RFC 7662's and RFC 9449's)."""

    error = serializers.ChoiceField(
        choices=[
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unsupported_grant_type",
            "invalid_dpop_proof",
        ]
    )
    error_description = serializers.CharField(help_text="What went wrong, for a person to read.")
