"""What can happen to a project and its members, whatever the door (API, admin, command).

The owner is ``Project.owner`` and the one membership with the owner role: every change of
ownership goes through here and keeps the two equal. Refusals raise ``ProjectRuleError``
(a 409 in the API): the request was understood but the project's state forbids it.
"""

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from api.caches import BoundedCache
from events.services import event_record
from projects.models import PERSONAL_NAME, Membership, Project, Role
from projects.signals import membership_ended
from users.models import User


class ProjectRuleError(Exception):
    """The project's state forbids the change (the owner leaving without a successor...)."""


class DeleteNotConfirmed(ProjectRuleError):
    """A project's tasks go with it: its deletion names how many it holds, and it holds another
    number (``task_count``)."""

    def __init__(self, task_count: int, confirmed: int | None) -> None:
        self.task_count = task_count
        self.confirmed = confirmed
        holds = f"The project holds {tasks_text(task_count)}"
        if confirmed is None:
            message = f"{holds}, which would be deleted with it."
        else:
            message = f"{holds}, not {confirmed}: nothing was deleted."
        super().__init__(message)


def tasks_text(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def project_create(*, owner_id: int, name: str, personal: bool = False) -> Project:
    return project_save_new(project=Project(owner_id=owner_id, name=name, personal=personal))


def project_save_new(*, project: Project) -> Project:
    """Save a new project (one the admin's form built, or project_create()) with its owner's
    membership."""
    with transaction.atomic():
        project.full_clean(exclude={"owner"}, validate_constraints=False)
        project.save()
        Membership.objects.create(project=project, user_id=project.owner_id, role=Role.OWNER)
    return project


def personal_project_create(*, user_id: int) -> Project:
    return project_create(owner_id=user_id, name=PERSONAL_NAME, personal=True)


def personal_projects_backfill() -> None:
    """A personal project for every account that has none (accounts made by bulk_create(),
    which sends no post_save), written in batches."""
    with transaction.atomic():
        projects = Project.objects.bulk_create(
            [
                Project(owner_id=user_id, name=PERSONAL_NAME, personal=True)
                for user_id in User.objects.exclude(owned_projects__personal=True).values_list(
                    "id", flat=True
                )
            ],
            batch_size=5000,
        )
        Membership.objects.bulk_create(
            [Membership(project=project, user_id=project.owner_id, role=Role.OWNER) for project in projects],
            batch_size=5000,
        )


# user id -> the id of their personal project. Safe to keep for the life of the process: a
# personal project is never deleted, handed over or made shared while its account lives,
# and ids are never reused. Saves every create into the personal project a query.
_personal: BoundedCache[int, int] = BoundedCache("projects.personal", 10_000)


def personal_project_id(user_id: int) -> int | None:
    """The id of the user's personal project (one indexed lookup, then remembered)."""
    found = _personal.get(user_id)
    if found is None:
        found = Project.objects.filter(owner_id=user_id, personal=True).values_list("id", flat=True).first()
        if found is not None:
            _personal.put(user_id, found)
    return found


def project_rename(*, project: Project, name: str) -> Project:
    project.name = name
    project.full_clean(exclude={"owner"}, validate_constraints=False)
    project.save(update_fields=["name", "updated"])
    return project


def _member_event(type: str, membership: Membership) -> None:
    """The membership's event, in the change's transaction (events.services.event_record)."""
    data = {"project_id": membership.project_id, "user_id": membership.user_id, "role": membership.role}
    event_record(type=type, project_id=membership.project_id, person_id=membership.user_id, data=data)


def member_add(*, project: Project, user_id: int, role: str) -> Membership:
    if role == Role.OWNER:
        raise ProjectRuleError("A project has one owner: hand it over with the transfer action.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(project=project, user_id=user_id, role=role)
            _member_event("member.added", membership)
            return membership
    except IntegrityError as exc:
        raise ProjectRuleError("That user is already a member of this project.") from exc


def _locked_role(membership: Membership) -> tuple[Project, str] | None:
    """The membership's project, locked as project_transfer() locks it, and the membership's
    role as it now stands (a hand-over may have just changed it); None if either is gone."""
    # FOR NO KEY UPDATE: it serialises the changes of members and owner, and lets a task be
    # added to the project meanwhile (its foreign key check takes KEY SHARE): with FOR UPDATE,
    # that insert, holding the changes feed's clock (tasks/migrations/0003_sync.py), and
    # this, about to need the clock, would deadlock.
    project = Project.objects.select_for_update(no_key=True).filter(pk=membership.project_id).first()
    role = Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()
    return (project, role) if project is not None and role is not None else None


@transaction.atomic
def member_set_role(*, membership: Membership, role: str) -> Membership:
    if role == Role.OWNER:
        raise ProjectRuleError("The owner's role changes only by the transfer action.")
    current = _locked_role(membership)
    if current is None:
        raise ProjectRuleError("Not a member of this project any more.")
    if current[1] == Role.OWNER:
        raise ProjectRuleError("The owner's role changes only by the transfer action.")
    membership.role = role
    membership.save(update_fields=["role"])
    _member_event("member.changed", membership)
    return membership


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    """End a membership (the owner removing a member, or a member leaving).

    A task's person is a member of its project: the tasks the member was assigned there go
    to the project's owner (``updated`` moves, so that clients syncing them learn of it).
    """
    current = _locked_role(membership)
    if current is None:
        return  # ended already, or the project is gone with its memberships
    project, role = current
    if role == Role.OWNER:
        raise ProjectRuleError(
            "The owner cannot leave: hand the project over first (transfer, or leave with a successor)."
        )
    # The member's tasks locked in id order before the first write takes the feed's clock:
    # a change of one of them holding its row and waiting for the clock would deadlock.
    theirs = project.tasks.filter(person_id=membership.user_id)
    if list(theirs.select_for_update().order_by("pk").values_list("pk", flat=True)):
        theirs.update(person_id=project.owner_id, updated=timezone.now())
    _member_event("member.removed", membership)
    membership.delete()
    membership_ended.send(Project, project_id=membership.project_id, user_id=membership.user_id)


@transaction.atomic
def project_transfer(*, project: Project, to_user_id: int) -> Project:
    """Make the member ``to_user_id`` the owner; the old owner stays on as an editor."""
    if project.personal:
        raise ProjectRuleError("A personal project stays with its account.")
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)  # see _locked_role()
    if to_user_id == project.owner_id:
        return project
    successor = Membership.objects.select_for_update().filter(project=project, user_id=to_user_id).first()
    if successor is None:
        raise ProjectRuleError("The new owner must be a member of the project.")
    Membership.objects.filter(project=project, user_id=project.owner_id).update(role=Role.EDITOR)
    _member_event("member.changed", Membership(project=project, user_id=project.owner_id, role=Role.EDITOR))
    successor.role = Role.OWNER
    successor.save(update_fields=["role"])
    _member_event("member.changed", successor)
    project.owner_id = to_user_id
    project.save(update_fields=["owner", "updated"])
    return project


@transaction.atomic
def project_leave(*, project: Project, user_id: int, successor_id: int | None = None) -> None:
    """``user_id`` leaves; the owner only by naming a member to take the project over."""
    if project.personal and project.owner_id == user_id:
        raise ProjectRuleError("A personal project stays with its account: its owner cannot leave it.")
    if successor_id is not None and project.owner_id != user_id:
        raise ProjectRuleError("Only the owner names a successor: anyone else leaves without one.")
    if project.owner_id == user_id:
        if successor_id is None:
            raise ProjectRuleError("The owner cannot leave without a successor: name one.")
        project = project_transfer(project=project, to_user_id=successor_id)
    membership = Membership.objects.filter(project=project, user_id=user_id).first()
    if membership is None:
        raise ProjectRuleError("Not a member of this project.")
    member_remove(membership=membership)


def project_task_count(project: Project) -> int:
    return int(Project.objects.filter(pk=project.pk).aggregate(n=Count("tasks"))["n"])


@transaction.atomic
def project_delete(*, project: Project, task_count: int | None = None) -> None:
    """Delete the project and its tasks. Every member's access ends (the changes feed says so).

    ``task_count``: the number of tasks the caller agreed to delete with it (the API's
    confirmation; 0 when it sent none). The project is locked first, and a task added to it
    meanwhile waits for the lock, so the count is exact: another number raises
    DeleteNotConfirmed and nothing goes. None: confirmed otherwise (the admin's own page).
    """
    if project.personal:
        raise ProjectRuleError("A personal project goes only with its account.")
    locked = Project.objects.select_for_update().filter(pk=project.pk).first()
    if locked is None:
        return  # deleted meanwhile
    project = locked
    if task_count is not None:
        held = project_task_count(project)
        if held != task_count:
            raise DeleteNotConfirmed(held, task_count or None)
    for user_id in Membership.objects.filter(project=project).values_list("user_id", flat=True):
        membership_ended.send(Project, project_id=project.pk, user_id=user_id)
    project.delete()
