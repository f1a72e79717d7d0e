from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from api.admin import BoundedSearchMixin
from users.models import User
from users.permissions import may_change_user, privileges_refused_to, users_visible_to


@admin.register(User)
class UserAdmin(BoundedSearchMixin, DjangoUserAdmin):
    """Django's user admin, where only a superuser changes or deletes a superuser.

    Django lets anyone with change_user edit any account, superusers included, and tick
    is_superuser: staff could lock out, rename or delete those above them, or make
    themselves superusers. The same rules as PATCH and DELETE /users/{id}/ (users.permissions).
    """

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return users_visible_to(request.user, among=super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        refused = privileges_refused_to(request.user)
        return [*readonly, *refused] if refused else readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not may_change_user(request.user, obj):
            return False  # the change form shows the account read-only; its password form is a 403
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not may_change_user(request.user, obj):
            return False  # the bulk "delete selected" action asks this per object too
        return super().has_delete_permission(request, obj)
