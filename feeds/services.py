"""What can happen to a calendar feed: created (its secret shown once), used, revoked."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction

from feeds.models import Feed, token_digest
from feeds.selectors import FeedAccess
from users.models import User

# Enough for every calendar app and device a person uses, few enough that a leaked access
# token cannot mint secret URLs without end.
FEEDS_PER_USER = 20
# 32 bytes from the OS's CSPRNG, 43 characters of base64url (feeds.selectors.TOKEN_SHAPE).
TOKEN_BYTES = 32
# Calendars poll every few minutes: last_used is written at most once a minute per feed.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewFeed:
    """A feed just created, with the secret that exists nowhere else once this is answered."""

    feed: Feed
    token: str


@transaction.atomic
def feed_create(*, user_id: int, name: str = "") -> NewFeed:
    """A new feed of the user's tasks; ValidationError when they already have FEEDS_PER_USER."""
    # The user's row lock serializes their creates, so two racing requests cannot both
    # take the last place (on SQLite the write transaction itself does).
    User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).get()
    if Feed.objects.filter(user_id=user_id).count() >= FEEDS_PER_USER:
        raise ValidationError(
            f"You already have {FEEDS_PER_USER} calendar feeds, the most allowed: revoke one first."
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = Feed.objects.create(user_id=user_id, name=name, token_digest=token_digest(token))
    return NewFeed(feed=feed, token=token)


def feed_revoke(*, feed: Feed) -> None:
    """Delete ``feed``, one the caller may revoke (feeds.permissions): its URL is a 404 from the
    next request on."""
    Feed.objects.filter(pk=feed.pk).delete()


def feed_used(*, access: FeedAccess, now: datetime) -> None:
    """Note that a calendar read the feed, unless that was already noted this minute."""
    if access.last_used is None or now - access.last_used >= LAST_USED_PRECISION:
        Feed.objects.filter(pk=access.feed_id).update(last_used=now)
