"""What can happen to a user, whatever the door (API, admin, command) it comes through."""

from datetime import UTC, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from users.activation import (
    InvalidActivationToken,
    activation_token_check,
    activation_token_make,
    activation_token_user_id,
)
from users.models import User
from users.passwords import password_verify


def _validate_password(password: str, *, user: User, field: str) -> None:
    """Django's password validators; their messages named after the request's ``field``."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    is_active: bool = True,
) -> User:
    """Sign a user up; the password is checked by Django's validators and stored hashed."""
    candidate = User(username=username, email=email, first_name=first_name, last_name=last_name)
    _validate_password(password, user=candidate, field="password")
    return User.objects.create_user(
        username=username,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
        is_superuser=is_superuser,
        is_active=is_active,
    )


@transaction.atomic
def user_signup(
    *,
    username: str,
    password: str,
    activation_url: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Someone signs themselves up (staff creating an account use user_create).

    With SIGNUP_REQUIRE_ACTIVATION the account starts inactive, and the token that activates
    it is emailed, to be POSTed to ``activation_url``; without it, the account is active.
    """
    activation = settings.SIGNUP_REQUIRE_ACTIVATION
    if activation and not email:
        raise ValidationError({"email": ["Required: the activation token is sent to this address."]})
    user = user_create(
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_active=not activation,
    )
    if not activation:
        return user
    token = activation_token_make(user=user)
    expires_at = timezone.now() + timedelta(seconds=settings.ACTIVATION_TTL)
    body = (
        f"Hello {user.get_username()},\n\n"
        "To activate your account, send this JSON body\n\n"
        f'    {{"token": "{token}"}}\n\n'
        f"in a POST request to {activation_url}\n\n"
        f"The token works once, until {expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.\n"
        "If you did not sign up, ignore this email.\n"
    )
    send = partial(send_mail, "Activate your account", body, settings.DEFAULT_FROM_EMAIL, [user.email])
    # Only once the account exists for good: a rolled-back sign-up sends nothing. robust:
    # the account is committed by then, so a mail server failure is logged rather than
    # raised as a 500 that would tell the client the sign-up failed (its username now taken).
    transaction.on_commit(send, robust=True)
    return user


@transaction.atomic
def user_activate(*, token: str) -> User:
    """Activate the account ``token`` was issued for, or raise InvalidActivationToken.

    Invalid, expired, already used, or for an unknown user: the same error, so the answer
    does not tell which accounts exist or are active.
    """
    user_id = activation_token_user_id(token)
    # Locked, so two concurrent redemptions of one token cannot both succeed.
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None or not activation_token_check(user=user, token=token):
        raise InvalidActivationToken("The activation token is invalid, expired or already used.")
    user.is_active = True
    # Spends the token (it hashes the generation): it cannot activate the account again,
    # whatever happens to the account later. An inactive account has no live token to end.
    user.token_generation += 1
    user.save(update_fields=["is_active", "token_generation"])
    return user


@transaction.atomic
def user_password_change(
    *, user: User, old_password: str, new_password: str, address: str | None = None
) -> None:
    """``address``: the client's, counted with the account like a login (users.passwords)."""
    if not password_verify(user=user, password=old_password, address=address):
        raise ValidationError({"old_password": ["The old password is not correct."]})
    _validate_password(new_password, user=user, field="new_password")
    # Whoever held the old password may hold tokens too: saving a new password ends every
    # session, token and feed of the account (User.save), whatever the door.
    user.set_password(new_password)
    user.save(update_fields=["password"])
