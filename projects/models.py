from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models


class Role(models.TextChoices):
    """What a member may do: the owner manages the project and its members, editors change
    its tasks, viewers read them."""

    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


# The roles that may create, change and delete a project's tasks.
WRITERS = frozenset({Role.OWNER, Role.EDITOR})

PERSONAL_NAME = "Personal"


class Project(models.Model):
    """A list of tasks shared by its members. Every account has one personal project, made
    with it, that cannot be deleted, handed over or left."""

    name = models.CharField(max_length=100, validators=[MinLengthValidator(1)])
    # The one owner; its membership carries the owner role (projects.services keeps them equal).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_projects"
    )
    personal = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="project_name_not_blank"),
            # Also how a personal project is found: by its owner, through this index.
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(personal=True), name="project_one_personal_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    # No index of its own: membership_user_project leads with the user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    role = models.CharField(max_length=6, choices=Role.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            # The visibility of every task read: a user's projects, and the user's role in one.
            models.UniqueConstraint(fields=["user", "project"], name="membership_user_project"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(role="owner"), name="membership_one_owner"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "editor", "viewer"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id} as {self.role}"
