from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from api.admin import BoundedSearchMixin
from projects.models import Membership, Project, Role
from projects.permissions import is_member, may_delete_project, projects_visible_to
from projects.services import (
    ProjectRuleError,
    member_add,
    member_remove,
    member_set_role,
    project_delete,
    project_rename,
    project_save_new,
)


class MembershipForm(forms.ModelForm):
    """A member other than the owner: editor or viewer. Who a membership belongs to is fixed
    once it exists (remove it and add another instead), so that its end is an end."""

    role = forms.ChoiceField(choices=[(Role.EDITOR.value, "Editor"), (Role.VIEWER.value, "Viewer")])

    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["user"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user, project_id = data.get("user"), self.instance.project_id
        # The inline formset checks its rows against each other only, and the owner is no row.
        if (
            self.instance.pk is None
            and user is not None
            and project_id is not None
            and is_member(project_id=project_id, user_id=user.pk)
        ):
            self.add_error("user", "Already a member of this project.")
        return data


class MembershipInline(admin.TabularInline):
    """The members but the owner, who is the project's owner field and changes only by a
    hand-over (POST /projects/{id}/transfer/)."""

    model = Membership
    form = MembershipForm
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["created"]
    fields = ["user", "role", "created"]
    verbose_name = "member"
    verbose_name_plural = "members (the owner aside)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).exclude(role=Role.OWNER).select_related("user")


@admin.register(Project)
class ProjectAdmin(BoundedSearchMixin):
    """Projects and their members, changed through projects.services as the API changes them
    (the membership_ended signal, the owner kept equal to the owner's membership)."""

    list_display = ["id", "name", "owner", "personal", "task_list", "updated"]
    list_filter = ["personal", "created"]
    search_fields = ["name", "owner__username", "owner__email"]
    raw_id_fields = ["owner"]
    list_select_related = ["owner"]
    readonly_fields = ["personal", "task_list", "created", "updated"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return projects_visible_to(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        # The owner of a saved project changes only by a hand-over (POST /projects/{id}/transfer/).
        return [*readonly, "owner"] if obj is not None else readonly

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not may_delete_project(request.user, obj):
            return False  # a personal project goes only with its account
        return super().has_delete_permission(request, obj)

    @admin.display(description="tasks")
    def task_list(self, project: Project) -> str:
        if project.pk is None:
            return "-"
        url = reverse("admin:tasks_task_changelist") + f"?project={project.pk}"
        return format_html('<a href="{}">The tasks of {}</a>', url, project.name)

    def save_model(self, request: HttpRequest, obj: Project, form: ModelForm, change: bool) -> None:
        if change:
            project_rename(project=obj, name=obj.name)
        else:
            project_save_new(project=obj)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        try:
            for membership in formset.deleted_objects:
                member_remove(membership=membership)
            for membership, changed in formset.changed_objects:
                if "role" in changed:
                    member_set_role(membership=membership, role=membership.role)
            for membership in formset.new_objects:
                member_add(project=form.instance, user_id=membership.user_id, role=membership.role)
        except ProjectRuleError as exc:
            messages.error(request, str(exc))

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        project_delete(project=obj)  # the admin's own page confirmed the tasks that go with it

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            project_delete(project=project)
