from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from api.admin import BoundedSearchMixin
from users.models import User

# What makes an account more powerful than its holder's staff permissions say: granted only
# by a superuser. Groups and permissions too, or a staff member with change_user could give
# themselves every permission there is.
SUPERUSER_GRANTED = ("is_superuser", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(BoundedSearchMixin, DjangoUserAdmin):
    """Django's user admin, where only a superuser changes or deletes a superuser.

    Django lets anyone with change_user edit any account, superusers included, and tick
    is_superuser: staff could lock out, rename or delete those above them, or make
    themselves superusers. The same rules as PATCH and DELETE /users/{id}/.
    """

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return readonly
        return [*readonly, *SUPERUSER_GRANTED]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False  # the change form shows the account read-only; its password form is a 403
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False  # the bulk "delete selected" action asks this per object too
        return super().has_delete_permission(request, obj)
