from django.contrib import admin
from django.http import HttpRequest

from api.admin import BoundedSearchMixin
from feeds.models import Feed


@admin.register(Feed)
class FeedAdmin(BoundedSearchMixin):
    """Feeds can be looked at, renamed and revoked (deleted) here; never their digest."""

    list_display = ["id", "user", "name", "created", "last_used"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    fields = ["user", "name", "created", "last_used"]
    readonly_fields = ["user", "created", "last_used"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A feed's secret is shown once, to its owner, by POST /tasks/feeds/.
        return False
