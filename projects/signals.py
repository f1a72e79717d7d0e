"""Every account gets its personal project; and what the projects app tells the apps that
show a project's content (the task changes feed), without importing them."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from users.models import User

# ``user_id`` stopped being a member of ``project_id`` (removed, left, or the project went):
# sent inside the transaction that ended the membership, before a deleted project's tasks go.
membership_ended = Signal()


@receiver(post_save, sender=User, dispatch_uid="projects.personal_project")
def user_saved(sender: type[User], instance: User, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        from projects.services import personal_project_create

        personal_project_create(user_id=instance.pk)
