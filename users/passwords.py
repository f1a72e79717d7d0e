"""Every check of a password, whatever the door, goes through here and counts.

POST /auth/token/, the browsable API's and the admin's login pages and any other caller of
``django.contrib.auth.authenticate()`` reach ``CountedModelBackend`` (the only entry of
AUTHENTICATION_BACKENDS); a password checked against a known user, such as the old one of
a password change, goes through ``password_verify``. Both take one attempt from the
client address's and the account's counters first (users.throttling), so guesses made at
one door count at every other. tests/users/test_passwords.py holds the project's code to
these two.

When the limit is reached they raise PasswordAttemptsExceeded: DRF views answer it as a
429 with Retry-After by themselves; Django's forms turn it into a form error
(users.login_pages). Django's ``authenticate()`` lets it through: it only swallows
PermissionDenied.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from users.models import User
from users.throttling import client_address, password_attempt


def _count(request: HttpRequest | None, username: object) -> None:
    # str(): a caller passing something else still reaches the lookup, so it counts too.
    password_attempt(address=None if request is None else client_address(request), username=str(username))


def _username(username: str | None, credentials: dict[str, Any]) -> str | None:
    """The name ModelBackend will look up: given as ``username`` or under USERNAME_FIELD."""
    return credentials.get(get_user_model().USERNAME_FIELD) if username is None else username


class CountedModelBackend(ModelBackend):
    """Django's ModelBackend, with each attempt counted before the password is compared."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        username = _username(username, kwargs)
        if username is None or password is None:
            return None  # ModelBackend checks nothing either
        _count(request, username)
        return super().authenticate(request, username=username, password=password, **kwargs)

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        # ModelBackend's async path compares the password itself, not through authenticate().
        username = _username(username, kwargs)
        if username is None or password is None:
            return None
        await sync_to_async(_count)(request, username)
        return await super().aauthenticate(request, username=username, password=password, **kwargs)


def password_verify(*, user: AbstractBaseUser, password: str, address: str | None) -> bool:
    """Is ``password`` the one of ``user``? Counted like a login to that account from ``address``
    (None when no request is behind the check)."""
    password_attempt(address=address, username=user.get_username())
    return user.check_password(password)
