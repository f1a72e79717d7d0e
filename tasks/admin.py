from django import forms
from django.contrib import admin

from api.admin import BoundedSearchMixin
from tasks.models import Task
from tasks.recurrence import RecurrenceError, recurrence_text


class TaskAdminForm(forms.ModelForm):
    """The model's form, with the recurrence rule checked as the API checks it (the model's
    field has no validator: its rules are tasks.recurrence's)."""

    class Meta:
        model = Task
        fields = "__all__"  # noqa: DJ007  the admin's own form: every field it shows

    def clean_recurrence(self) -> str:
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
    list_display = ["id", "title", "person", "due_to", "completed", "updated"]
    list_filter = ["completed", "due_to", "created"]
    search_fields = ["title", "person__username", "person__email"]
    date_hierarchy = "due_to"
    raw_id_fields = ["person"]
    list_select_related = ["person"]
    readonly_fields = ["last_completed", "created", "updated"]
