import uuid

from django.conf import settings
from django.db import models


class Session(models.Model):
    """One login, and the family of refresh tokens that descends from it.

    Every refresh rotates the family's refresh token; only a digest of the current one is
    kept, never the token. Revoking the session ends every token of the family, access
    tokens included (they carry the session id as ``sid``).
    """

    class Reason(models.TextChoices):
        LOGOUT = "logout"
        LOGOUT_ALL = "logout_all"
        REUSE = "reuse", "a rotated refresh token was presented again"
        REVOKED = "revoked", "revoked by the user"
        PASSWORD = "password", "the password changed"
        DEACTIVATED = "deactivated", "the account was deactivated"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_sessions"
    )
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField()
    expires = models.DateTimeField(help_text="When the last refresh token of the family expires.")
    user_agent = models.CharField(max_length=256, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    refresh_digest = models.CharField(max_length=64, help_text="SHA-256 of the current refresh token's jti.")
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires"], name="session_user_expires_idx")]

    def __str__(self) -> str:
        return f"session {self.id} of user {self.user_id}"


class SeenProof(models.Model):
    """A DPoP proof already accepted, remembered while it could still be (RFC 9449 §11.1).

    Where no shared cache is configured, this table is what lets every worker and every
    instance refuse a proof presented twice (tokens.dpop.proof_first_use); with Redis it
    is used only while Redis is away.
    """

    digest = models.CharField(
        max_length=64,
        primary_key=True,
        help_text="SHA-256 of the proof key's thumbprint and the proof's jti.",
    )
    expires = models.DateTimeField(help_text="When the proof has become too old to be accepted anyway.")

    class Meta:
        indexes = [models.Index(fields=["expires"], name="seen_proof_expires_idx")]

    def __str__(self) -> str:
        return f"DPoP proof {self.digest}"
