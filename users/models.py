from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The person tasks are bound to. Kept swappable-ready from the first migration."""

    # Every token carries the generation it was issued under (claim ``gen``); bumping it
    # ends every token of the user at once: password change, logout everywhere.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
