"""Which sessions (refresh-token families) a caller sees and may revoke: the one rule book of
tokens. Each is a personal credential: staff and superusers too see and revoke only their own.
"""

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import permissions
from rest_framework.request import Request

from tokens.models import Session
from users.principal import Caller


def sessions_visible_to(caller: Caller) -> QuerySet[Session]:
    """The caller's live sessions (neither revoked nor expired), the most recently used first."""
    return Session.objects.filter(
        user_id=caller.pk, revoked__isnull=True, expires__gt=timezone.now()
    ).order_by("-last_used")


def sessions_revocable_by(caller: Caller) -> QuerySet[Session]:
    """The caller's sessions not yet revoked: the live ones, and those expired since."""
    return Session.objects.filter(user_id=caller.pk, revoked__isnull=True)


def may_revoke_session(caller: Caller, session: Session) -> bool:
    """The predicate of sessions_revocable_by."""
    return session.user_id == caller.pk and session.revoked is None


class SessionPermission(permissions.BasePermission):
    """A session is listed and revoked by its own user only."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return isinstance(obj, Session) and may_revoke_session(request.user, obj)
