from typing import Any

from django.dispatch import receiver

from feeds.models import Feed
from users.models import User
from users.signals import access_ended


@receiver(access_ended, sender=User)
def user_access_ended(sender: type[User], user: User, **kwargs: Any) -> None:
    # A feed URL is a credential like a token: whoever made one with a stolen token, or
    # before the password changed, must not keep reading the tasks. The owner makes new ones.
    Feed.objects.filter(user=user).delete()
