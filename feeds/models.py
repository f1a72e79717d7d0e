import hashlib
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

# Control characters (CR, LF, tab...) and the Unicode line and paragraph separators.
NOT_IN_A_NAME = frozenset({"Cc", "Zl", "Zp"})


def token_digest(token: str) -> str:
    """What the database holds of a feed's secret.

    The secret is 256 random bits (see feeds.services.feed_create), so one SHA-256 is enough:
    nobody can search that space, and a slow password hasher would only slow every poll.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def validate_feed_name(name: str) -> None:
    """A feed's name is its calendar's name, one line of text in every calendar app; a line
    break in it once wrote a broken calendar (see tasks.calendar)."""
    if any(unicodedata.category(character) in NOT_IN_A_NAME for character in name):
        raise ValidationError(
            "A name may not hold line breaks, tabs or other control characters.",
            code="control_character",
        )


class Feed(models.Model):
    """A secret URL that serves its user's tasks as a calendar, read-only.

    Calendar apps subscribe by URL and cannot send a Bearer token, so the URL itself is the
    credential. Only a digest of its secret is kept: the secret is shown once, when the feed
    is created, and a copy of the database hands out no working feed. Revoking a feed
    deletes its row; so does anything that ends every credential of its user (logout
    everywhere, a new password, a deactivation: see feeds.signals).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    name = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_feed_name],
        help_text="The owner's name for it, e.g. the app it is for.",
    )
    token_digest = models.CharField(
        max_length=64, unique=True, editable=False, help_text="SHA-256 (hex) of the feed's secret."
    )
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(
        null=True, blank=True, help_text="When a calendar last read it (to the minute)."
    )

    def __str__(self) -> str:
        return f"calendar feed {self.pk} of user {self.user_id}"
