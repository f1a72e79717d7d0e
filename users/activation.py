"""The account activation token: what a new user receives by email and redeems once.

It is Django's password-reset token (an HMAC of the account's state, keyed by SECRET_KEY,
with a timestamp) under its own salt, so a password-reset token is not an activation token,
and prefixed with the user id, so the client sends one opaque string: ``<uidb64>.<token>``.
It is not a JWT: it has two dot-separated parts where a JWT has three, so neither kind can
be parsed, let alone accepted, as the other.
"""

import re
from datetime import datetime

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from users.models import User

# The whole grammar, checked before anything is decoded: base64 decoding silently skips
# characters outside its alphabet, and a lenient parser would accept tampered tokens as
# equal to the real one (harmless here, but it makes "malformed" hard to reason about).
TOKEN_RE = re.compile(r"(?P<uid>[A-Za-z0-9_-]{1,28})\.(?P<key>[0-9a-z]{1,13}-[0-9a-f]{1,64})")
MAX_USER_ID = 2**63 - 1  # BigAutoField; a larger id cannot exist and would trouble some backends


class InvalidActivationToken(Exception):
    """The token must not be accepted. The message is safe to show to the client."""


class ActivationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "users.activation.ActivationTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        # The token generation makes the token single-use for good: redeeming it moves the
        # generation on (users.services.user_activate), and so does a deactivation by staff
        # (User.save), and the generation never goes back. is_active alone would not do: a
        # deactivated account is inactive again, and its old token would check again and
        # undo the ban. The password and email tie it to the account as it was signed up: a
        # token sent to an address the account no longer has does not activate it.
        return f"{user.pk}{user.password}{user.is_active}{user.token_generation}{timestamp}{user.email}"

    def check_token(self, user: User | None, token: str | None) -> bool:
        # Django's check_token reads PASSWORD_RESET_TIMEOUT; this is the same check with
        # ACTIVATION_TTL. Splitting the key from its timestamp is the generator's own format.
        if not (user and token):
            return False
        try:
            ts_b36, _ = token.split("-")
            timestamp = base36_to_int(ts_b36)
        except ValueError:
            return False
        for secret in [self.secret, *self.secret_fallbacks]:
            if constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token):
                break
        else:
            return False
        return self._num_seconds(self._now()) - timestamp <= settings.ACTIVATION_TTL

    def _now(self) -> datetime:
        # Django's generator uses local wall-clock time, which jumps at DST changes;
        # UTC (naive, as _num_seconds expects) does not.
        return timezone.now().replace(tzinfo=None)


activation_token_generator = ActivationTokenGenerator()


def activation_token_make(*, user: User) -> str:
    """The token that activates ``user``, as it is now (inactive), until ACTIVATION_TTL passes."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{uid}.{activation_token_generator.make_token(user)}"


def activation_token_user_id(token: str) -> int:
    """The user id ``token`` claims to be for, or InvalidActivationToken. Nothing is verified yet."""
    match = TOKEN_RE.fullmatch(token)
    if match is None:
        raise InvalidActivationToken("The activation token is malformed.")
    try:
        uid = urlsafe_base64_decode(match["uid"]).decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidActivationToken("The activation token is malformed.") from exc
    if not (uid.isascii() and uid.isdigit() and len(uid) <= 19 and int(uid) <= MAX_USER_ID):
        raise InvalidActivationToken("The activation token is malformed.")
    return int(uid)


def activation_token_check(*, user: User, token: str) -> bool:
    """Whether ``token`` (the whole ``<uidb64>.<token>``) activates ``user`` now."""
    match = TOKEN_RE.fullmatch(token)
    return bool(
        match
        and match["uid"] == urlsafe_base64_encode(force_bytes(user.pk))
        and activation_token_generator.check_token(user, match["key"])
    )
