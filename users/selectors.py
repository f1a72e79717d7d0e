from rest_framework.request import Request

from users.models import User


def request_user(request: Request) -> User:
    """The authenticated caller of a view that requires authentication."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101  IsAuthenticated ran before the view
    return user
