from typing import Any

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models

from projects.models import Project


class Task(models.Model):
    title = models.CharField(max_length=100, validators=[MinLengthValidator(1)])
    # No index of its own: task_person_due_idx leads with person and serves the same lookups.
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    # The project the task lives in: its members see it, its owner and editors change it.
    # No index of its own: task_project_due_idx leads with the project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    due_to = models.DateTimeField()
    completed = models.BooleanField(default=False)
    # An RFC 5545 RRULE ("" for none): completing the task moves due_to to the next occurrence.
    recurrence = models.CharField(max_length=255, blank=True, default="")
    last_completed = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_to", "id"]
        indexes = [
            # The list query: the tasks of the caller's projects, in due order or in id
            # order, keyset-paged.
            models.Index(fields=["project", "due_to", "id"], name="task_project_due_idx"),
            models.Index(fields=["project", "id"], name="task_project_id_idx"),
            # A person's tasks ("assigned to me", the feeds), and deleting an account.
            models.Index(fields=["person", "due_to", "id"], name="task_person_due_idx"),
            # Staff see everyone's tasks in due order.
            models.Index(fields=["due_to", "id"], name="task_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(title=""), name="task_title_not_blank"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A task made without a project (the admin's form, a shell) goes to its person's
        # personal project; the API names the project, or the caller's personal one.
        if self.project_id is None and self.person_id is not None:
            self.project_id = (
                Project.objects.filter(owner_id=self.person_id, personal=True)
                .values_list("id", flat=True)
                .first()
            )
        super().save(*args, **kwargs)
