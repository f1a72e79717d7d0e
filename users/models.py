from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models, router, transaction
from django.utils.crypto import salted_hmac

from users.signals import ACCESS_ENDED_DEACTIVATED, ACCESS_ENDED_PASSWORD, access_ended

# Read when a user is loaded, compared when it is saved: see User.save.
CREDENTIAL_FIELDS = ("password", "is_active")


class User(AbstractUser):
    """The person tasks are bound to. Kept swappable-ready from the first migration."""

    # Every token carries the generation it was issued under (claim ``gen``); bumping it
    # ends every token of the user at once: password change, logout everywhere,
    # deactivation. It only ever moves forward.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    # The credential fields as the database last had them, for the ones this instance read.
    _loaded_credentials: dict[str, Any] = {}  # replaced per instance, never mutated
    # True while Django rehashes the same password at login (check_password's upgrade).
    _rehashing = False

    @classmethod
    def from_db(cls, *args: Any, **kwargs: Any) -> "User":
        user = super().from_db(*args, **kwargs)
        user._remember_credentials()
        return user

    def _remember_credentials(self, fields: Any = CREDENTIAL_FIELDS) -> None:
        """Note ``fields`` as they are now, as the database has them (deferred ones are left out)."""
        loaded = {
            name: self.__dict__[name]
            for name in CREDENTIAL_FIELDS
            if name in fields and name in self.__dict__
        }
        self._loaded_credentials = {**self._loaded_credentials, **loaded}

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._remember_credentials(kwargs.get("fields") or CREDENTIAL_FIELDS)

    def check_password(self, raw_password: str | None) -> bool:
        self._rehashing = True  # a hash upgrade at login stores the same password: no change
        try:
            return super().check_password(raw_password)
        finally:
            self._rehashing = False

    async def acheck_password(self, raw_password: str | None) -> bool:
        self._rehashing = True
        try:
            return await super().acheck_password(raw_password)
        finally:
            self._rehashing = False

    def access_ending_reason(self, *, update_fields: Any = None) -> str | None:
        """Why saving this instance now ends every credential of the account, or None."""
        if self._state.adding:
            return None

        def written(name: str) -> bool:
            return update_fields is None or name in update_fields

        loaded = self._loaded_credentials
        # _password: set_password() ran since the last save (Django keeps the raw password
        # for the password_changed() validators); a hash that differs from the loaded one
        # covers set_unusable_password() and a hash assigned directly.
        password_set = getattr(self, "_password", None) is not None
        hash_changed = "password" in loaded and loaded["password"] != self.password
        if written("password") and not self._rehashing and (password_set or hash_changed):
            return ACCESS_ENDED_PASSWORD
        if written("is_active") and not self.is_active and loaded.get("is_active", True):
            return ACCESS_ENDED_DEACTIVATED
        return None

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a new password or a deactivation also ends every token, session and feed.

        Here rather than in the services, so that no door can forget it: the API, the admin's
        forms, ``manage.py changepassword``, a shell. token_generation is never written from
        a stale copy: a save that writes it reads the current value under the row's lock, so
        an old form saved after a logout everywhere cannot bring the ended tokens back.
        """
        update_fields = kwargs.get("update_fields")
        reason = self.access_ending_reason(update_fields=update_fields)
        written = CREDENTIAL_FIELDS if update_fields is None else update_fields
        if self._state.adding or (reason is None and update_fields is not None):
            super().save(*args, **kwargs)
            self._remember_credentials(written)
            return
        db = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=db):
            current = (
                type(self)
                ._base_manager.using(db)
                .select_for_update()
                .filter(pk=self.pk)
                .values_list("token_generation", flat=True)
                .first()
            )
            if current is not None:
                self.token_generation = current
            if reason is not None:
                self.token_generation += 1
                if update_fields is not None:
                    kwargs["update_fields"] = {*update_fields, "token_generation"}
            super().save(*args, **kwargs)
            self._remember_credentials(written)
            if reason is not None:
                access_ended.send(sender=type(self), user=self, reason=reason)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django ends a browser session whose stored hash no longer matches this one (and
        # tries SECRET_KEY_FALLBACKS through ``secret``). Django hashes the password alone;
        # the token generation too means a logout everywhere or a deactivation ends the
        # cookie sessions of /api-auth/login/ as it ends the tokens.
        return salted_hmac(
            "users.models.User.get_session_auth_hash",
            f"{self.token_generation}:{self.password}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()
