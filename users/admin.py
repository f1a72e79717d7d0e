from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from api.admin import BoundedSearchMixin
from users.models import User


@admin.register(User)
class UserAdmin(BoundedSearchMixin, DjangoUserAdmin):
    pass
