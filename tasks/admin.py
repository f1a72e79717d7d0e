from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest

from api.admin import BoundedSearchMixin
from projects.models import Project
from projects.permissions import is_member
from tasks.models import Task
from tasks.permissions import tasks_visible_to
from tasks.recurrence import RecurrenceError, recurrence_text


def _project_id(value: str) -> int | None:
    """The id a ``?project=`` value names, or None for a value no id can be."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


class ProjectFilter(admin.SimpleListFilter):
    """The tasks of one project (``?project=<id>``, the project admin's link to its tasks).

    The sidebar names the chosen project only: a choice of every project would be as long as
    the list of accounts. (A filter with no choice is left out by the changelist, its value
    ignored: a project that does not exist must still be a choice, of no tasks.)
    """

    title = "project"
    parameter_name = "project"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        chosen = self.value()
        if chosen is None:
            return []
        project_id = _project_id(chosen)
        project = Project.objects.filter(pk=project_id).first() if project_id is not None else None
        return [(chosen, str(project) if project is not None else f"No project {chosen}")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> QuerySet[Task]:
        chosen = self.value()
        if chosen is None:
            return queryset
        project_id = _project_id(chosen)
        if project_id is None:
            raise IncorrectLookupParameters(f"not a project id: {chosen!r}")  # the admin's ?e=1 page
        return queryset.filter(project_id=project_id)


class TaskAdminForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["title", "project", "person", "due_to", "completed", "recurrence"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        project, person = data.get("project"), data.get("person")
        if (
            project is not None
            and person is not None
            and not is_member(project_id=project.pk, user_id=person.pk)
        ):
            self.add_error("person", "Not a member of the task's project: add them to it first.")
        return data

    def clean_recurrence(self) -> str:
        """The rule checked as the API checks it (the model's field has no validator: its
        rules are tasks.recurrence's)."""
        rule = self.cleaned_data["recurrence"]
        if not rule:
            return ""
        try:
            return recurrence_text(rule)
        except RecurrenceError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Task)
class TaskAdmin(BoundedSearchMixin):
    form = TaskAdminForm
    list_display = ["id", "title", "project", "person", "due_to", "completed", "updated"]
    list_filter = [ProjectFilter, "project__personal", "completed", "due_to", "created"]
    search_fields = ["title", "project__name", "person__username", "person__email"]
    date_hierarchy = "due_to"
    raw_id_fields = ["project", "person"]
    list_select_related = ["project", "person"]
    readonly_fields = ["created", "updated", "last_completed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return tasks_visible_to(request.user)
