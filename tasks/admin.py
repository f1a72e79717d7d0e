from django.contrib import admin

from api.admin import BoundedSearchMixin
from tasks.models import Task


@admin.register(Task)
class TaskAdmin(BoundedSearchMixin):
    list_display = ["id", "title", "person", "due_to", "completed", "updated"]
    list_filter = ["completed", "due_to", "created"]
    search_fields = ["title", "person__username", "person__email"]
    date_hierarchy = "due_to"
    raw_id_fields = ["person"]
    list_select_related = ["person"]
    readonly_fields = ["created", "updated"]
