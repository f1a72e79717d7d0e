"""The personas' password, and an API client signed in as a user with a fresh token pair."""

from rest_framework.test import APIClient

from tokens.services import token_pair_issue
from users.models import User

PASSWORD = "s3cret-enough-for-tests"


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(user=user)['access']}")
    return client


def personas(owner: User, other: User, staff: User) -> dict[str, User]:
    """The conftest's personas and a superuser, by the names the role matrices use."""
    root = User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")
    return {"owner": owner, "other": other, "staff": staff, "root": root}
