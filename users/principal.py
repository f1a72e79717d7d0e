"""Who is calling: the one value authentication yields and permission checks take.

A request's caller is a ``Principal``: immutable, made for that request, and not a model,
so it cannot be saved (a half-filled ``User`` saved by mistake would blank the stored
password and email). It carries what every request needs without a query: the user's
id, name and flags, and, when a token authenticated the request, the token's session,
client and key binding. Code that needs the user's row reads it
(``User.objects.get(pk=caller.id)``).

Bearer tokens yield it from the revocation state (tokens/revocation.py, no query when
warm); the browsable API's cookie session yields it from the session's user
(users/authentication.py). Django's own pages (the admin, the login pages) keep
Django's ``request.user``, a ``User``: the rule books (tasks/permissions.py,
users/permissions.py) take either, through the ``Caller`` protocol.
"""

from typing import Any, NamedTuple, Protocol

from rest_framework.request import Request

from users.models import User


class Caller(Protocol):
    """What a permission check reads of a caller: a Principal, or Django's User in the admin."""

    @property
    def pk(self) -> Any: ...

    @property
    def is_staff(self) -> bool: ...

    @property
    def is_superuser(self) -> bool: ...


class Principal(NamedTuple):
    """An authenticated caller, for one request.

    A named tuple: immutable, and made in a third of the time a frozen dataclass takes
    (which pays an ``object.__setattr__`` per field), once per authenticated request.
    """

    id: int
    username: str
    is_staff: bool = False
    is_superuser: bool = False
    is_active: bool = True
    session_id: str | None = None  # the token's session (``sid``); None for a cookie session
    client_id: str | None = None  # the OAuth client the token was issued to
    binding: str | None = None  # the JWK thumbprint a DPoP-bound token is bound to (``cnf.jkt``)

    # What Django and DRF ask of request.user.

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def pk(self) -> int:
        return self.id

    def __str__(self) -> str:
        return self.username

    @classmethod
    def of(cls, user: User, **token: Any) -> "Principal":
        """The caller a loaded ``user`` is (``token``: session_id, client_id, binding)."""
        return cls(
            id=user.pk,
            username=user.username,
            is_staff=user.is_staff,
            is_superuser=user.is_superuser,
            is_active=user.is_active,
            **token,
        )


def caller_of(request: Request) -> Principal:
    """The authenticated caller of a view that requires authentication."""
    user = request.user
    if not isinstance(user, Principal):
        # IsAuthenticated ran before the view, and every authentication class yields one.
        raise TypeError(f"request.user is {type(user).__name__}, not a Principal")
    return user
