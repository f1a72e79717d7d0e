"""projects.services: what can happen to a project and its members, whatever the door."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from projects.models import Membership, Project, Role
from projects.services import (
    DeleteNotConfirmed,
    ProjectRuleError,
    member_add,
    member_remove,
    member_set_role,
    personal_project_id,
    personal_projects_backfill,
    project_create,
    project_delete,
    project_leave,
    project_rename,
    project_task_count,
    project_transfer,
)
from projects.signals import membership_ended
from tasks.models import Task
from tests.helpers.accounts import PASSWORD
from tests.helpers.projects import DUE, Team, personal_project, roles_in
from users.models import User


@pytest.fixture
def ended() -> Iterator[list[tuple[int, int]]]:
    """The (project_id, user_id) of every membership_ended sent."""
    sent: list[tuple[int, int]] = []

    def record(sender: Any, project_id: int, user_id: int, **kwargs: Any) -> None:
        sent.append((project_id, user_id))

    membership_ended.connect(record, dispatch_uid="tests.projects.ended")
    yield sent
    membership_ended.disconnect(dispatch_uid="tests.projects.ended")


def membership(team: Team, role: str) -> Membership:
    return Membership.objects.get(project=team.project, user=team.people[role])


def test_a_new_account_gets_its_personal_project_owned_by_it(db: None) -> None:
    user = User.objects.create_user(username="new", password=PASSWORD)

    project = personal_project(user)

    assert (project.name, project.owner, project.personal) == ("Personal", user, True)
    assert roles_in(project) == {"new": Role.OWNER}


def test_the_backfill_gives_a_personal_project_to_accounts_made_without_one(db: None) -> None:
    made = User.objects.bulk_create([User(username=f"bulk{n}") for n in range(3)])  # no post_save
    assert all(personal_project_id(user.pk) is None for user in made)

    personal_projects_backfill()
    personal_projects_backfill()  # a second run adds nothing

    for user in made:
        assert roles_in(Project.objects.get(owner=user, personal=True)) == {user.username: Role.OWNER}
    assert Project.objects.filter(personal=True).count() == User.objects.count()


def test_create_makes_the_owner_a_member_with_the_owner_role(owner: User) -> None:
    project = project_create(owner_id=owner.pk, name="Garden")

    assert (project.owner, project.personal) == (owner, False)
    assert roles_in(project) == {"owner": Role.OWNER}


def test_a_project_needs_a_name(owner: User) -> None:
    project = project_create(owner_id=owner.pk, name="Garden")
    with pytest.raises(ValidationError):
        project_rename(project=project, name="")
    assert Project.objects.get(pk=project.pk).name == "Garden"


def test_nobody_is_added_as_a_second_owner_or_twice(team: Team) -> None:
    with pytest.raises(ProjectRuleError, match="one owner"):
        member_add(project=team.project, user_id=team.people["stranger"].pk, role=Role.OWNER)
    with pytest.raises(ProjectRuleError, match="already a member"):
        member_add(project=team.project, user_id=team.people["viewer"].pk, role=Role.EDITOR)

    assert roles_in(team.project) == {"owner": Role.OWNER, "editor": Role.EDITOR, "viewer": Role.VIEWER}


def test_a_role_changes_but_never_to_or_from_owner(team: Team) -> None:
    member_set_role(membership=membership(team, "viewer"), role=Role.EDITOR)
    with pytest.raises(ProjectRuleError):
        member_set_role(membership=membership(team, "editor"), role=Role.OWNER)
    with pytest.raises(ProjectRuleError):
        member_set_role(membership=membership(team, "owner"), role=Role.EDITOR)

    assert roles_in(team.project) == {"owner": Role.OWNER, "editor": Role.EDITOR, "viewer": Role.EDITOR}


def test_removing_a_member_ends_the_membership_and_says_so(team: Team, ended: list[tuple[int, int]]) -> None:
    member_remove(membership=membership(team, "viewer"))

    assert "viewer" not in roles_in(team.project)
    assert ended == [(team.project.pk, team.people["viewer"].pk)]


def test_a_removed_members_tasks_there_go_to_the_owner(team: Team) -> None:
    editor = team.people["editor"]
    own = Task.objects.create(person=editor, title="Theirs elsewhere", due_to=DUE)
    others = Task.objects.create(
        project=team.project, person=team.people["viewer"], title="Viewer's", due_to=DUE
    )

    member_remove(membership=membership(team, "editor"))

    assert Task.objects.get(pk=team.task.pk).person == team.people["owner"]
    assert Task.objects.get(pk=own.pk).person == editor
    assert Task.objects.get(pk=others.pk).person == team.people["viewer"]


def test_the_owner_is_never_removed(team: Team, ended: list[tuple[int, int]]) -> None:
    with pytest.raises(ProjectRuleError, match="owner cannot leave"):
        member_remove(membership=membership(team, "owner"))

    assert roles_in(team.project)["owner"] == Role.OWNER
    assert ended == []


def test_transfer_swaps_the_owner_and_keeps_the_old_one_as_an_editor(team: Team) -> None:
    project = project_transfer(project=team.project, to_user_id=team.people["viewer"].pk)

    assert project.owner == team.people["viewer"]
    assert Project.objects.get(pk=team.project.pk).owner == team.people["viewer"]
    assert roles_in(team.project) == {"owner": Role.EDITOR, "editor": Role.EDITOR, "viewer": Role.OWNER}


def test_transfer_to_the_owner_changes_nothing(team: Team) -> None:
    project_transfer(project=team.project, to_user_id=team.people["owner"].pk)

    assert roles_in(team.project) == {"owner": Role.OWNER, "editor": Role.EDITOR, "viewer": Role.VIEWER}


@pytest.mark.parametrize("to", ["stranger", "staff"])
def test_transfer_only_to_a_member(team: Team, to: str) -> None:
    with pytest.raises(ProjectRuleError, match="must be a member"):
        project_transfer(project=team.project, to_user_id=team.people[to].pk)

    assert Project.objects.get(pk=team.project.pk).owner == team.people["owner"]


def test_a_personal_project_is_never_handed_over_left_or_deleted(owner: User, other: User) -> None:
    project = personal_project(owner)
    member_add(project=project, user_id=other.pk, role=Role.EDITOR)

    with pytest.raises(ProjectRuleError):
        project_transfer(project=project, to_user_id=other.pk)
    with pytest.raises(ProjectRuleError):
        project_leave(project=project, user_id=owner.pk, successor_id=other.pk)
    with pytest.raises(ProjectRuleError):
        project_delete(project=project, task_count=0)
    with pytest.raises(ProjectRuleError):
        project_delete(project=project)

    assert roles_in(project) == {"owner": Role.OWNER, "other": Role.EDITOR}
    # Its other members leave it like any other project.
    project_leave(project=project, user_id=other.pk)
    assert roles_in(project) == {"owner": Role.OWNER}


def test_a_member_leaves(team: Team, ended: list[tuple[int, int]]) -> None:
    project_leave(project=team.project, user_id=team.people["editor"].pk)

    assert roles_in(team.project) == {"owner": Role.OWNER, "viewer": Role.VIEWER}
    assert ended == [(team.project.pk, team.people["editor"].pk)]


def test_the_owner_leaves_only_with_a_successor(team: Team, ended: list[tuple[int, int]]) -> None:
    owner = team.people["owner"]
    with pytest.raises(ProjectRuleError, match="without a successor"):
        project_leave(project=team.project, user_id=owner.pk)
    with pytest.raises(ProjectRuleError, match="must be a member"):
        project_leave(project=team.project, user_id=owner.pk, successor_id=team.people["stranger"].pk)
    assert roles_in(team.project)["owner"] == Role.OWNER

    project_leave(project=team.project, user_id=owner.pk, successor_id=team.people["editor"].pk)

    assert roles_in(team.project) == {"editor": Role.OWNER, "viewer": Role.VIEWER}
    assert Project.objects.get(pk=team.project.pk).owner == team.people["editor"]
    assert ended == [(team.project.pk, owner.pk)]


def test_leaving_needs_a_membership_and_a_successor_only_from_the_owner(team: Team) -> None:
    with pytest.raises(ProjectRuleError, match="Not a member"):
        project_leave(project=team.project, user_id=team.people["stranger"].pk)
    with pytest.raises(ProjectRuleError, match="Only the owner"):
        project_leave(
            project=team.project, user_id=team.people["editor"].pk, successor_id=team.people["viewer"].pk
        )

    assert roles_in(team.project) == {"owner": Role.OWNER, "editor": Role.EDITOR, "viewer": Role.VIEWER}


def test_delete_goes_only_with_the_number_of_tasks_it_holds(team: Team, ended: list[tuple[int, int]]) -> None:
    assert project_task_count(team.project) == 1

    for wrong in (0, 2):
        with pytest.raises(DeleteNotConfirmed) as refused:
            project_delete(project=team.project, task_count=wrong)
        assert refused.value.task_count == 1
    assert Task.objects.filter(pk=team.task.pk).exists()
    assert ended == []

    project_delete(project=team.project, task_count=1)

    assert not Project.objects.filter(pk=team.project.pk).exists()
    assert not Task.objects.filter(pk=team.task.pk).exists()
    assert sorted(ended) == sorted(
        (team.project.pk, team.people[role].pk) for role in ("owner", "editor", "viewer")
    )


def test_the_refusal_says_how_many_tasks_go_and_what_was_confirmed(team: Team) -> None:
    assert str(DeleteNotConfirmed(1, None)) == "The project holds 1 task, which would be deleted with it."
    assert str(DeleteNotConfirmed(3, 2)) == "The project holds 3 tasks, not 2: nothing was deleted."


def test_delete_without_a_count_is_the_admins_confirmed_delete(team: Team) -> None:
    project_delete(project=team.project)

    assert not Project.objects.filter(pk=team.project.pk).exists()
    assert not Task.objects.filter(pk=team.task.pk).exists()


def test_a_membership_read_before_a_hand_over_is_judged_by_its_role_now(team: Team) -> None:
    stale = membership(team, "editor")  # as a request read it, before another one handed over
    project_transfer(project=team.project, to_user_id=team.people["editor"].pk)

    with pytest.raises(ProjectRuleError, match="owner cannot leave"):
        member_remove(membership=stale)
    with pytest.raises(ProjectRuleError, match="transfer"):
        member_set_role(membership=stale, role=Role.VIEWER)

    assert roles_in(team.project) == {"owner": Role.EDITOR, "editor": Role.OWNER, "viewer": Role.VIEWER}


def test_ending_a_membership_twice_ends_it_once(team: Team, ended: list[tuple[int, int]]) -> None:
    viewer = membership(team, "viewer")

    member_remove(membership=viewer)
    member_remove(membership=viewer)

    assert ended == [(team.project.pk, team.people["viewer"].pk)]
    with pytest.raises(ProjectRuleError, match="any more"):
        member_set_role(membership=viewer, role=Role.EDITOR)
    assert "viewer" not in roles_in(team.project)


def test_the_personal_project_is_looked_up_once_per_process(
    owner: User, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        first = personal_project_id(owner.pk)
    with django_assert_num_queries(0):
        again = personal_project_id(owner.pk)

    assert first == again == Project.objects.get(owner=owner, personal=True).pk
