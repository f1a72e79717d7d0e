"""A shared project and its cast, as the role matrices use them: the conftest's owner owns it,
an editor and a viewer are its members, the conftest's other user is not, staff is staff."""

from dataclasses import dataclass
from datetime import UTC, datetime

from projects.models import Membership, Project, Role
from projects.services import member_add, personal_project_id, project_create
from tasks.models import Task
from tests.helpers.accounts import PASSWORD
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# Every role a caller can have towards a project, by the names the matrices use.
ROLES = ("owner", "editor", "viewer", "stranger", "staff")


@dataclass(frozen=True)
class Team:
    project: Project
    task: Task  # assigned to the editor
    people: dict[str, User]  # by ROLES


def make_team(owner: User, other: User, staff: User) -> Team:
    editor = User.objects.create_user(username="editor", password=PASSWORD)
    viewer = User.objects.create_user(username="viewer", password=PASSWORD)
    project = project_create(owner_id=owner.pk, name="Launch")
    member_add(project=project, user_id=editor.pk, role=Role.EDITOR)
    member_add(project=project, user_id=viewer.pk, role=Role.VIEWER)
    task = Task.objects.create(project=project, person=editor, title="Ship it", due_to=DUE)
    people = {"owner": owner, "editor": editor, "viewer": viewer, "stranger": other, "staff": staff}
    return Team(project=project, task=task, people=people)


def personal_project(user: User) -> Project:
    return Project.objects.get(pk=personal_project_id(user.pk))


def roles_in(project: Project) -> dict[str, str]:
    """The project's members as {username: role}."""
    return dict(
        Membership.objects.filter(project=project).values_list("user__username", "role").order_by("id")
    )


def project_url(project: Project) -> str:
    return f"http://testserver/projects/{project.pk}/"


def members_url(project: Project) -> str:
    return f"http://testserver/projects/{project.pk}/members/"


def member_url(project: Project, user: User) -> str:
    return f"http://testserver/projects/{project.pk}/members/{user.pk}/"


def user_url(user: User) -> str:
    return f"http://testserver/users/{user.pk}/"
