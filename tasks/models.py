from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models


class Task(models.Model):
    title = models.CharField(max_length=100, validators=[MinLengthValidator(1)])
    # No index of its own: task_person_id_idx leads with person and serves the same lookups.
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    due_to = models.DateTimeField()
    completed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_to", "id"]
        indexes = [
            # The list query: one person's tasks, in due order or in id order, keyset-paged.
            models.Index(fields=["person", "due_to", "id"], name="task_person_due_idx"),
            models.Index(fields=["person", "id"], name="task_person_id_idx"),
            # Staff see everyone's tasks in due order.
            models.Index(fields=["due_to", "id"], name="task_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(title=""), name="task_title_not_blank"),
        ]

    def __str__(self) -> str:
        return self.title
