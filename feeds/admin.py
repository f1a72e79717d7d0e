from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from api.admin import BoundedSearchMixin
from feeds.models import Feed
from feeds.permissions import feeds_administered_by, may_administer_feed


@admin.register(Feed)
class FeedAdmin(BoundedSearchMixin):
    """Feeds can be looked at, renamed and revoked (deleted) here; never their digest. A
    superuser administers every feed, other staff only their own (feeds.permissions)."""

    list_display = ["id", "user", "name", "created", "last_used"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    fields = ["user", "name", "created", "last_used"]
    readonly_fields = ["user", "created", "last_used"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A feed's secret is shown once, to its owner, by POST /tasks/feeds/.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feed]:
        return feeds_administered_by(request.user, among=super().get_queryset(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not may_administer_feed(request.user, obj):
            return False
        return super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not may_administer_feed(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not may_administer_feed(request.user, obj):
            return False  # the bulk "delete selected" action asks this per object too
        return super().has_delete_permission(request, obj)
