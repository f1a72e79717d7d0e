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
        CLIENT_REVOKED = "client_revoked", "the client was revoked"
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
    client_id = models.CharField(
        max_length=64, blank=True, help_text="The OAuth client the session's tokens were issued to."
    )
    binding = models.CharField(
        max_length=64,
        blank=True,
        help_text="The JWK thumbprint (RFC 7638) a DPoP-bound session's tokens are bound to.",
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "expires"], name="session_user_expires_idx"),
            models.Index(
                fields=["client_id"], name="session_client_idx", condition=models.Q(revoked__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.id} of user {self.user_id}"


class Client(models.Model):
    """An OAuth 2.0 client (RFC 6749 §2): a program that obtains tokens for users.

    Public clients (a browser app, a command-line tool) cannot keep a secret and name
    themselves by ``client_id`` alone. Confidential clients (another service) authenticate
    with their secret, of which only a SHA-256 digest is kept: the secret is 256 random
    bits, shown once, so a slow password hash would add nothing but cost to every call.
    The first-party public client (``DEFAULT_CLIENT_ID``) exists from the first login
    that names no client.
    """

    id = models.CharField(primary_key=True, max_length=64, verbose_name="client id")
    name = models.CharField(max_length=100)
    confidential = models.BooleanField(default=False)
    secret_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the client secret.")
    created = models.DateTimeField(auto_now_add=True)
    revoked = models.DateTimeField(
        null=True, blank=True, help_text="When set, the client can no longer get, use or check tokens."
    )
    events_url = models.URLField(
        max_length=2000,
        blank=True,
        help_text="Where a confidential client is pushed security events (RFC 8935), if anywhere.",
    )

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        kind = "confidential" if self.confidential else "public"
        return f"{self.name} ({kind} client {self.id})"


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


class SecurityEventDelivery(models.Model):
    """One attempt to push a Security Event Token to a client's events URL (RFC 8935),
    written by the worker (tokens.tasks), read in the admin and by ``security_event_deliveries``.

    ``jti`` is the SET's id, the same in every attempt to deliver it; an attempt is logged
    once (the unique constraint), so a task that runs twice does not send it twice.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="security_event_deliveries")
    jti = models.CharField(max_length=64, verbose_name="SET id")
    kind = models.CharField(max_length=32, help_text="The CAEP event: session-revoked or credential-change.")
    reason = models.CharField(max_length=16)
    user_id = models.BigIntegerField(help_text="The user the event is about (who may since be deleted).")
    session_id = models.CharField(
        max_length=64, blank=True, help_text="The session that ended; blank: every session of the user."
    )
    attempt = models.PositiveSmallIntegerField()
    attempted = models.DateTimeField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    next_attempt = models.DateTimeField(
        null=True, blank=True, help_text="When it is tried again; empty: delivered, refused or given up."
    )

    class Meta:
        ordering = ["-attempted"]
        constraints = [
            models.UniqueConstraint(fields=["client", "jti", "attempt"], name="security_event_attempt_once"),
        ]
        indexes = [models.Index(fields=["attempted"], name="security_event_attempted_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.jti} to {self.client_id}, attempt {self.attempt}"
