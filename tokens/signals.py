from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from api.signals import before_serving
from tokens.keys import key_ring
from tokens.models import Session
from tokens.revocation import remember_user
from tokens.secevents import EventKind
from tokens.services import sessions_end
from tokens.tasks import security_event_record
from users.models import User
from users.signals import access_ended


@receiver(post_save, sender=User)
def user_saved(sender: type[User], instance: User, **kwargs: Any) -> None:
    # Whatever door the change came through (API, admin, shell): deactivation, a new
    # token generation or new privileges reach every worker's revocation check.
    remember_user(instance)


@receiver(post_delete, sender=User)
def user_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    remember_user(instance, deleted=True)
    # Sent inside the delete's transaction (Django's Collector): recorded with it, or not at all.
    security_event_record(kind="session-revoked", user_id=instance.pk, session_id=None, reason="deleted")


@receiver(access_ended, sender=User)
def user_access_ended(sender: type[User], user: User, reason: str, **kwargs: Any) -> None:
    # The new token generation already refuses every token; the sessions are revoked too,
    # with the reason, so /auth/sessions/ and introspection say they ended and why.
    sessions_end(user=user, reason=Session.Reason(reason))
    # One SET naming the user covers every session (tokens.secevents); a new password is a
    # credential-change too, which the worker sends with it.
    kind: EventKind = "credential-change" if reason == Session.Reason.PASSWORD else "session-revoked"
    security_event_record(kind=kind, user_id=user.pk, session_id=None, reason=reason)


@receiver(before_serving)
def signing_keys_made(sender: object, **kwargs: Any) -> str:
    # Generated keys are made before the workers fork, so every worker signs with the same one.
    ring = key_ring()
    return f"tokens signed with {ring.signing.algorithm} key {ring.signing.kid}"
