from collections import Counter
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role
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
