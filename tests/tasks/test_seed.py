from collections import Counter
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from rest_framework.test import APIClient

from projects.models import WRITERS, Membership, Project, Role
from tasks.models import Task
from users.models import User

SEED_PASSWORD = "seeded-passphrase-1"


def seed(**options: Any) -> str:
    out = StringIO()
    call_command("seed", stdout=out, stderr=StringIO(), verbosity=0, **options)
    return out.getvalue()


def test_seed_creates_users_and_spreads_tasks_evenly(db: None) -> None:
    seed(users=3, tasks=30, password=SEED_PASSWORD)

    assert sorted(User.objects.values_list("username", flat=True)) == ["user1", "user2", "user3"]
    per_user = Counter(Task.objects.values_list("person__username", flat=True))
    assert per_user == {"user1": 10, "user2": 10, "user3": 10}


def test_seeded_users_get_their_personal_project_and_their_tasks_live_in_it(db: None) -> None:
    seed(users=3, tasks=30, password=SEED_PASSWORD)
    seed(users=4, tasks=4, password=SEED_PASSWORD)  # one more user; the first three keep theirs

    projects = Project.objects.filter(personal=True)
    assert sorted(projects.values_list("owner__username", flat=True)) == ["user1", "user2", "user3", "user4"]
    owners = set(Membership.objects.filter(role=Role.OWNER).values_list("user_id", "project_id"))
    assert owners == set(projects.values_list("owner_id", "id"))
    assert not Task.objects.exclude(project__owner_id=F("person_id"), project__personal=True).exists()


def test_seeded_tasks_are_valid_tasks(db: None) -> None:
    seed(users=2, tasks=20, password=SEED_PASSWORD)

    for task in Task.objects.all():
        task.full_clean()
        assert task.due_to.tzinfo is not None


def test_every_seeded_user_logs_in_with_the_password(db: None) -> None:
    # The conftest's MD5 hasher makes these checks fast.
    seed(users=3, tasks=30, password=SEED_PASSWORD)

    for user in User.objects.all():
        assert user.check_password(SEED_PASSWORD), user.username
        assert user.is_active
    response = APIClient().post("/auth/token/", {"username": "user2", "password": SEED_PASSWORD})
    assert response.status_code == 200
    listed = APIClient(headers={"Authorization": f"Bearer {response.json()['access']}"}).get("/tasks/")
    assert len(listed.json()["results"]) == 10


def test_seeding_twice_adds_tasks_but_not_users(db: None) -> None:
    seed(users=3, tasks=30, password=SEED_PASSWORD)
    ids = set(User.objects.values_list("id", flat=True))

    seed(users=3, tasks=30, password=SEED_PASSWORD)

    assert set(User.objects.values_list("id", flat=True)) == ids
    assert Task.objects.count() == 60


def test_seeding_more_users_keeps_the_existing_ones(db: None) -> None:
    seed(users=2, tasks=0, password=SEED_PASSWORD)

    seed(users=4, tasks=8, password=SEED_PASSWORD)

    assert User.objects.count() == 4
    assert Counter(Task.objects.values_list("person__username", flat=True)) == {
        "user1": 2,
        "user2": 2,
        "user3": 2,
        "user4": 2,
    }


def test_seed_without_tasks_creates_only_users(db: None) -> None:
    seed(users=2, tasks=0, password=SEED_PASSWORD)

    assert User.objects.count() == 2
    assert not Task.objects.exists()


@pytest.mark.parametrize("options", [{"users": 0, "tasks": 10}, {"users": 2, "tasks": -1}])
def test_seed_refuses_nonsense_counts(db: None, options: dict[str, int]) -> None:
    with pytest.raises(CommandError):
        seed(password=SEED_PASSWORD, **options)

    assert not User.objects.exists()
    assert not Task.objects.exists()


def test_seed_from_the_command_line_arguments(db: None) -> None:
    out = StringIO()
    call_command("seed", "--users", "2", "--tasks", "4", "--password", SEED_PASSWORD, stdout=out, verbosity=0)

    assert User.objects.count() == 2
    assert Task.objects.count() == 4


def test_teams_of_consecutive_users_share_a_project_owned_by_their_first_member(db: None) -> None:
    seed(users=5, tasks=0, password=SEED_PASSWORD, team_size=2)

    teams = Project.objects.filter(personal=False)
    assert sorted(teams.values_list("name", "owner__username")) == [("Team 1", "user1"), ("Team 2", "user3")]
    members = {
        (m.project.name, m.user.username, m.role)
        for m in Membership.objects.filter(project__personal=False).select_related("project", "user")
    }
    assert members == {
        ("Team 1", "user1", Role.OWNER),
        ("Team 1", "user2", Role.EDITOR),
        ("Team 2", "user3", Role.OWNER),
        ("Team 2", "user4", Role.EDITOR),
    }  # user5 is a team of one: no shared project


def test_every_tenth_member_of_a_team_is_a_viewer(db: None) -> None:
    seed(users=25, tasks=0, password=SEED_PASSWORD, team_size=25)

    roles = dict(Membership.objects.filter(project__personal=False).values_list("user__username", "role"))
    assert len(roles) == 25
    assert roles.pop("user1") == Role.OWNER
    assert {name for name, role in roles.items() if role == Role.VIEWER} == {"user10", "user20"}
    assert set(roles.values()) == {Role.EDITOR, Role.VIEWER}


def test_a_team_members_tasks_are_split_between_their_personal_and_their_team_project(db: None) -> None:
    seed(users=12, tasks=120, password=SEED_PASSWORD, team_size=12)

    placed = Counter(Task.objects.values_list("person__username", "project__personal"))
    for n in range(1, 13):
        # A viewer adds nothing to a project: all of user10's tasks stay personal.
        personal, team = (10, 0) if n == 10 else (5, 5)
        assert (placed[f"user{n}", True], placed[f"user{n}", False]) == (personal, team), n
    # Each task is in a project its person may write in.
    roles = {(m.project_id, m.user_id): m.role for m in Membership.objects.all()}
    assert all(
        roles.get(placement) in WRITERS for placement in Task.objects.values_list("project_id", "person_id")
    )


def test_team_members_see_each_others_team_tasks(db: None) -> None:
    seed(users=3, tasks=30, password=SEED_PASSWORD, team_size=2)

    response = APIClient().post("/auth/token/", {"username": "user2", "password": SEED_PASSWORD})
    client = APIClient(headers={"Authorization": f"Bearer {response.json()['access']}"})
    listed = client.get("/tasks/?page_size=1000").json()["results"]
    # user2's own 10 (5 personal, 5 in the team's project) and user1's 5 in it; none of user3's.
    assert len(listed) == 15
    user3 = User.objects.get(username="user3")
    assert not any(task["person"].endswith(f"/users/{user3.pk}/") for task in listed)


def test_seeding_one_user_after_their_team_puts_their_tasks_into_its_project(db: None) -> None:
    seed(users=4, tasks=0, password=SEED_PASSWORD, team_size=4)
    memberships = set(Membership.objects.values_list("project_id", "user_id", "role"))

    seed(users=1, tasks=10, password=SEED_PASSWORD, team_size=4)

    team = Project.objects.get(personal=False)
    assert (team.name, team.owner.username) == ("Team 1", "user1")
    assert set(Membership.objects.values_list("project_id", "user_id", "role")) == memberships
    assert Counter(Task.objects.values_list("project__personal", flat=True)) == {True: 5, False: 5}


def test_seeding_teams_twice_adds_tasks_but_no_projects_or_members(db: None) -> None:
    seed(users=6, tasks=60, password=SEED_PASSWORD, team_size=3)
    projects = set(Project.objects.values_list("id", "name", "owner_id"))
    memberships = set(Membership.objects.values_list("project_id", "user_id", "role"))

    seed(users=6, tasks=60, password=SEED_PASSWORD, team_size=3)

    assert set(Project.objects.values_list("id", "name", "owner_id")) == projects
    assert set(Membership.objects.values_list("project_id", "user_id", "role")) == memberships
    assert Task.objects.filter(project__personal=False).count() == 60


def test_more_users_join_the_last_team_and_fill_new_ones(db: None) -> None:
    seed(users=3, tasks=0, password=SEED_PASSWORD, team_size=4)

    seed(users=6, tasks=0, password=SEED_PASSWORD, team_size=4)

    teams = {
        name: sorted(Membership.objects.filter(project__name=name).values_list("user__username", flat=True))
        for name in Project.objects.filter(personal=False).values_list("name", flat=True)
    }
    assert teams == {"Team 1": ["user1", "user2", "user3", "user4"], "Team 2": ["user5", "user6"]}


def test_seed_without_a_team_size_makes_no_shared_projects(db: None) -> None:
    seed(users=4, tasks=8, password=SEED_PASSWORD)

    assert not Project.objects.filter(personal=False).exists()
    assert Membership.objects.count() == 4


def test_seed_refuses_a_negative_team_size(db: None) -> None:
    with pytest.raises(CommandError):
        seed(users=2, tasks=2, password=SEED_PASSWORD, team_size=-1)

    assert not User.objects.exists()
