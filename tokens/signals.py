from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tokens.revocation import remember_user
from users.models import User


@receiver(post_save, sender=User)
def user_saved(sender: type[User], instance: User, **kwargs: Any) -> None:
    # Whatever door the change came through (API, admin, shell): deactivation, a new
    # token generation or new privileges reach every worker's revocation check.
    remember_user(instance)


@receiver(post_delete, sender=User)
def user_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    remember_user(instance, deleted=True)
