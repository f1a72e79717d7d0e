from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The person tasks are bound to. Kept swappable-ready from the first migration."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
