import uuid

from django.conf import settings
from django.db import models

# How many retries of one spent refresh token get a pair (tokens.services.refresh_rotate).
REFRESH_RETRIES = 3
RETRY_DIGEST_LENGTH = 65  # a SHA-256 hex digest and the space after it


class Session(models.Model):
    """One login, and the family of refresh tokens that descends from it.

    Every refresh rotates the family's refresh token; only a digest of the current one is
    kept, never the token. Revoking the session ends every token of the family, access
    tokens included (they carry the session id as ``sid``).

    For JWT_REFRESH_RETRY_SECONDS after a rotation, the token it spent may be presented again
    (a response lost on the way, two tabs refreshing at once): each such retry gets a pair
    of its own, whose refresh token is as current as ``refresh_digest`` until one of them is
    rotated, which leaves the family one line again (tokens.services.refresh_rotate).
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
    spent_digest = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the jti of the refresh token the last rotation spent.",
    )
    rotated = models.DateTimeField(null=True, blank=True, help_text="When the last rotation spent it.")
    retry_digests = models.CharField(
        max_length=REFRESH_RETRIES * RETRY_DIGEST_LENGTH,
        blank=True,
        help_text="SHA-256 of the jti of each refresh token issued to a retry of the spent one, each followed by a space.",
    )
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires"], name="session_user_expires_idx")]

    def __str__(self) -> str:
        return f"session {self.id} of user {self.user_id}"
