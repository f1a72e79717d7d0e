"""The move of existing tasks into projects (projects/0002, tasks/0002), run for real: the
database is taken back to before projects existed, filled, and migrated forward."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tasks", "0001_initial"), ("projects", None)]
AFTER = [("tasks", "0002_task_project"), ("projects", "0002_personal_projects")]
DUE = datetime(2030, 1, 1, tzinfo=UTC)


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_every_account_gets_a_personal_project_and_every_task_moves_into_its_persons() -> None:
    old = migrate(BEFORE).loader.project_state([("tasks", "0001_initial")]).apps
    User, Task = old.get_model("users", "User"), old.get_model("tasks", "Task")
    ann, bob, idle = (User.objects.create(username=name, password="x") for name in ("ann", "bob", "idle"))
    for person, count in ((ann, 3), (bob, 2)):
        Task.objects.bulk_create(Task(person=person, title=f"t{n}", due_to=DUE) for n in range(count))

    new = migrate(AFTER).loader.project_state(AFTER).apps
    try:
        Project, Membership = new.get_model("projects", "Project"), new.get_model("projects", "Membership")
        Task = new.get_model("tasks", "Task")
        personal = {p.owner_id: p for p in Project.objects.filter(personal=True)}
        assert set(personal) == {ann.pk, bob.pk, idle.pk}
        assert {p.name for p in personal.values()} == {"Personal"}
        owners = set(Membership.objects.values_list("project_id", "user_id", "role"))
        assert owners == {(p.pk, user_id, "owner") for user_id, p in personal.items()}
        placed = sorted(Task.objects.values_list("person_id", "project_id"))
        assert placed == sorted([(ann.pk, personal[ann.pk].pk)] * 3 + [(bob.pk, personal[bob.pk].pk)] * 2)
    finally:
        # Back to the latest state for the tests that follow.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
