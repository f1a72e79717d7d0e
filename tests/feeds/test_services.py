"""feeds.services and feeds.selectors: what a feed is, whatever door it is used through."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from feeds.models import Feed, token_digest
from feeds.permissions import feeds_visible_to
from feeds.selectors import TOKEN_SHAPE, feed_for_token
from feeds.services import FEEDS_PER_USER, feed_create, feed_revoke, feed_used
from tests.helpers.concurrency import at_once
from users.models import User


def test_a_new_secret_has_256_bits_in_the_shape_the_url_accepts(owner: User) -> None:
    created = feed_create(user_id=owner.pk)

    assert TOKEN_SHAPE.fullmatch(created.token)
    assert created.feed.token_digest == token_digest(created.token)
    assert created.token not in str(Feed.objects.values().get())


def test_the_secret_opens_its_feed_and_nothing_else_does(owner: User) -> None:
    created = feed_create(user_id=owner.pk, name="Phone")

    access = feed_for_token(token=created.token)

    assert access is not None
    assert (access.feed_id, access.user_id, access.calendar_name) == (created.feed.pk, owner.pk, "Phone")
    assert feed_for_token(token=created.feed.token_digest) is None  # the digest is not a secret
    assert feed_for_token(token="") is None


def test_an_inactive_users_feed_opens_nothing(owner: User) -> None:
    created = feed_create(user_id=owner.pk)
    User.objects.filter(pk=owner.pk).update(is_active=False)

    assert feed_for_token(token=created.token) is None


def test_the_limit_is_checked_by_the_service_itself(owner: User) -> None:
    for _ in range(FEEDS_PER_USER):
        feed_create(user_id=owner.pk)

    with pytest.raises(ValidationError):
        feed_create(user_id=owner.pk)

    assert feeds_visible_to(owner).count() == FEEDS_PER_USER


def test_revoke_ends_only_the_feed_it_is_given(owner: User) -> None:
    revoked, kept = feed_create(user_id=owner.pk), feed_create(user_id=owner.pk)

    feed_revoke(feed=revoked.feed)

    assert feed_for_token(token=revoked.token) is None
    assert feed_for_token(token=kept.token) is not None


def test_feed_used_writes_last_used_only_when_a_minute_old(owner: User) -> None:
    created = feed_create(user_id=owner.pk)
    now = timezone.now()
    access = feed_for_token(token=created.token)
    assert access is not None

    feed_used(access=access, now=now)
    access = feed_for_token(token=created.token)
    assert access is not None
    feed_used(access=access, now=now + timedelta(seconds=59))
    assert Feed.objects.get().last_used == now

    feed_used(access=access, now=now + timedelta(minutes=1))
    assert Feed.objects.get().last_used == now + timedelta(minutes=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_cannot_pass_the_limit(owner: User) -> None:
    """Real concurrency on PostgreSQL: the user's row lock makes count-then-insert atomic.

    (SQLite's in-memory test database cannot be shared by threads; there, each create is one
    IMMEDIATE transaction, which takes the database's write lock before counting.)
    """
    for _ in range(FEEDS_PER_USER - 1):
        feed_create(user_id=owner.pk)

    def attempt(n: int) -> str:
        try:
            feed_create(user_id=owner.pk)
        except ValidationError:
            return "refused"
        return "created"

    outcomes = at_once(attempt, 4)

    assert outcomes == ["created", "refused", "refused", "refused"]
    assert Feed.objects.filter(user=owner).count() == FEEDS_PER_USER
