"""Who may see, create and change which user account: the one rule book of users.

Every door asks it: the users API (UserViewSet's queryset and permission classes, its
serializer's privilege check) and the user admin. Each rule takes a ``Caller``: the API's
Principal, or Django's User in the admin; an anonymous caller (sign-up) is Django's
AnonymousUser, which is neither staff nor superuser.
"""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import permissions
from rest_framework.request import Request

from users.models import User
from users.principal import Caller

# What an account holds when nobody with the right to say otherwise created it.
NEW_USER_PRIVILEGES = {"is_staff": False, "is_superuser": False, "is_active": True}
# What makes an account more powerful than its holder's staff permissions say: granted only
# by a superuser. Groups and permissions too (the admin shows them), or a staff member with
# change_user could give themselves every permission there is.
SUPERUSER_GRANTED = ("is_superuser", "groups", "user_permissions")


def may_see_user(caller: Caller, user: User) -> bool:
    """Staff see every account; anyone else only their own. The predicate of users_visible_to."""
    return caller.is_staff or caller.pk == user.pk


def users_visible_to(caller: Caller, *, among: QuerySet[User] | None = None) -> QuerySet[User]:
    """The accounts ``caller`` sees (of ``among``; by default every account, by id)."""
    users = User.objects.order_by("id") if among is None else among
    if caller.is_staff:
        return users
    return users.filter(pk=caller.pk)  # anyone else is a 404, not a 403


def may_create_users(caller: Caller) -> bool:
    """Anyone may sign up while sign-up is open (SIGNUP_OPEN); staff create accounts always."""
    return bool(settings.SIGNUP_OPEN or caller.is_staff)


def creates_accounts_as_sent(caller: Caller) -> bool:
    """Staff create accounts with the privileges they send and no activation email; anyone
    else signs themselves up (users.services.user_signup)."""
    return caller.is_staff


def privileges_refused_to(caller: Caller | None) -> tuple[str, ...]:
    """The privilege fields ``caller`` may not set or change on any account (their own included)."""
    if caller is not None and caller.is_superuser:
        return ()
    if caller is not None and caller.is_staff:
        return SUPERUSER_GRANTED  # else staff could make themselves, or anyone, a superuser
    return ("is_staff", "is_active", *SUPERUSER_GRANTED)


def may_change_user(caller: Caller, user: User) -> bool:
    """Change or delete ``user``'s account: a superuser's only a superuser; anyone else's
    staff; and everyone their own. Else staff could lock out, rename or delete those above
    them."""
    if user.is_superuser:
        return caller.is_superuser
    return caller.is_staff or caller.pk == user.pk


class SignupOpenOrStaff(permissions.BasePermission):
    """POST /users/: may_create_users."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_create_users(request.user)


class UserPermission(permissions.BasePermission):
    """An account is read by whoever sees it, and changed or deleted by whoever may change it."""

    message = "Only a superuser may change or delete a superuser."  # the one refusal the API can reach

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if not (isinstance(obj, User) and may_see_user(request.user, obj)):
            return False
        return request.method in permissions.SAFE_METHODS or may_change_user(request.user, obj)
