from typing import Any

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models

from projects.models import Project

TITLE_MAX_LENGTH = 100


class Task(models.Model):
    """A task. Beside these fields its table has ``version``, the number of its last change,
    and ``entered``, the number at which it came into its project, which the database alone
    writes (tasks/migrations/0003_sync.py; read by tasks/changes.py): they are left out of the
    model so that no save() can ever write a stale one back."""

    title = models.CharField(max_length=TITLE_MAX_LENGTH, validators=[MinLengthValidator(1)])
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


# The changes feed (GET /tasks/changes/, tasks/changes.py). Database triggers installed by
# tasks/migrations/0003_sync.py write these tables and Task's ``version`` on every write to a
# task or a membership, whatever makes it (services, admin, bulk statements, cascades, raw SQL);
# nothing in Python writes them but the pruning (tasks.changes.changes_prune).


class ChangeClock(models.Model):
    """One row (id 1): ``number``, on SQLite a change number no number at or below which is
    still to commit, and ``horizon``, the highest number pruned from the tombstones and access
    changes.

    SQLite's writers are serialised: its triggers count every number here. PostgreSQL's do not
    wait for one another, and do not write ``number``: a reader asks the database for its
    bound instead (tasks/migrations/0006_change_numbers_unlocked.py).
    """

    id = models.SmallIntegerField(primary_key=True)
    number = models.BigIntegerField(default=0)
    horizon = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"change {self.number} (pruned to {self.horizon})"


class Tombstone(models.Model):
    """A task that left ``project_id`` at change ``number`` (deleted, or moved to another
    project), where it had been since change ``entered``."""

    # Plain numbers, not foreign keys: the task is gone, and so may be the project.
    task_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    entered = models.BigIntegerField()
    number = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta:
        indexes = [
            # The feed: what left the caller's projects since a number.
            models.Index(fields=["project_id", "number"], name="tombstone_project_number_idx"),
            # Staff's feed (every project), and pruning.
            models.Index(fields=["number"], name="tombstone_number_idx"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} left project {self.project_id} at change {self.number}"


class AccessChange(models.Model):
    """``user_id`` became (``gained``) or stopped being a member of ``project_id`` at change
    ``number``: the feed answers the project's tasks as changed, or as deleted."""

    user_id = models.BigIntegerField()  # not a foreign key: a deleted account's rows wait for pruning
    project_id = models.BigIntegerField()
    gained = models.BooleanField()
    number = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta:
        # A user's changes since a number; whether they were in a project at a number.
        indexes = [models.Index(fields=["user_id", "project_id", "number"], name="accesschange_user_idx")]

    def __str__(self) -> str:
        verb = "joined" if self.gained else "left"
        return f"user {self.user_id} {verb} project {self.project_id} at change {self.number}"
