"""Which calendar feeds a caller sees and administers: the one rule book of feeds.

Through the API everyone, staff and superusers too, sees and revokes only their own feeds:
each is a personal secret. In the admin a superuser administers every feed, other staff
only their own.
"""

from typing import Any

from django.db.models import QuerySet
from rest_framework import permissions
from rest_framework.request import Request

from feeds.models import Feed
from users.principal import Caller


def feeds_visible_to(caller: Caller) -> QuerySet[Feed]:
    """The caller's own feeds, newest first."""
    return Feed.objects.filter(user_id=caller.pk).order_by("-created", "-id")


def may_see_feed(caller: Caller, feed: Feed) -> bool:
    """The predicate of feeds_visible_to."""
    return feed.user_id == caller.pk


def feeds_administered_by(caller: Caller, *, among: QuerySet[Feed] | None = None) -> QuerySet[Feed]:
    """The feeds ``caller`` administers (of ``among``; by default every feed)."""
    feeds = Feed.objects.all() if among is None else among
    return feeds if caller.is_superuser else feeds.filter(user_id=caller.pk)


def may_administer_feed(caller: Caller, feed: Feed) -> bool:
    """The predicate of feeds_administered_by."""
    return caller.is_superuser or feed.user_id == caller.pk


class FeedPermission(permissions.BasePermission):
    """A feed is read and revoked through the API by its own user only."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return isinstance(obj, Feed) and may_see_feed(request.user, obj)
