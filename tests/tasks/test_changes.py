"""GET /tasks/changes/: a client's copy kept by the feed equals what the list shows it.

Each test keeps a ``Replica`` (a client applying pages in order, as the API asks) and holds it
equal to the caller's list, task JSON included, after writes through every door: the API, the
services, the admin's ways (QuerySet.update(), bulk_create(), cascades), membership changes.
The race at the end runs writers against a syncing reader on PostgreSQL.
"""

import base64
import contextlib
import random
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role
from projects.services import member_add, member_remove, personal_project_id, project_create, project_delete
from tasks.changes import TokenRefused, token_from_text, token_text
from tasks.models import AccessChange, ChangeClock, Task, Tombstone
from tasks.services import task_create, task_create_many, task_delete, task_update
from tests.helpers.accounts import client_for
from tests.helpers.pages import DUE
from users.models import User


class Replica:
    """What a syncing client holds: task JSON by id, and the token to call again with."""

    def __init__(self, client: APIClient, page_size: int | None = None) -> None:
        self.client = client
        self.page_size = page_size
        self.tasks: dict[int, dict[str, Any]] = {}
        self.token: str | None = None
        self.pages = 0

    def page(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.token is not None:
            params["since"] = self.token
        if self.page_size is not None:
            params["page_size"] = self.page_size
        response = self.client.get("/tasks/changes/", params)
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        assert not {task["id"] for task in body["changes"]} & set(body["deleted"])
        for task_id in body["deleted"]:
            self.tasks.pop(task_id, None)
        for task in body["changes"]:
            self.tasks[task["id"]] = task
        self.token = body["next"]
        self.pages += 1
        return body

    def sync(self) -> "Replica":
        """Pages until ``more`` is false."""
        while self.page()["more"]:
            pass
        return self


def visible(client: APIClient) -> dict[int, dict[str, Any]]:
    """Every task the list shows the client, by id."""
    tasks: dict[int, dict[str, Any]] = {}
    url: str | None = "/tasks/?page_size=1000"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        tasks.update((task["id"], task) for task in body["results"])
        url = body["next"]
    return tasks


def project_url(project_id: int) -> str:
    return "http://testserver" + reverse("project-detail", args=[project_id])


def sync_once(client: APIClient, since: str | None = None, **params: Any) -> dict[str, Any]:
    if since is not None:
        params["since"] = since
    response = client.get("/tasks/changes/", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(autouse=True)
def _fresh_feed(db: None) -> None:
    """Only this test's changes: a flush by an earlier transactional test on SQLite (DELETE,
    which the triggers see) may have left tombstones behind."""
    Tombstone.objects.all().delete()
    AccessChange.objects.all().delete()
    ChangeClock.objects.update_or_create(pk=1, defaults={"horizon": 0})


@pytest.fixture
def shared(owner: User, other: User) -> Project:
    """The owner's project with ``other`` as an editor."""
    project = project_create(owner_id=owner.pk, name="Shared")
    member_add(project=project, user_id=other.pk, role=Role.EDITOR)
    return project


def test_a_first_sync_is_every_visible_task_then_nothing_more(owner: User, owner_client: APIClient) -> None:
    tasks = [task_create(person_id=owner.pk, title=f"t{n}", due_to=DUE) for n in range(3)]

    body = sync_once(owner_client)

    assert body["more"] is False
    assert body["deleted"] == []
    assert sorted(task["id"] for task in body["changes"]) == sorted(task.pk for task in tasks)
    again = sync_once(owner_client, body["next"])
    assert (again["changes"], again["deleted"], again["more"]) == ([], [], False)


def test_changes_carry_the_task_json_of_the_list(owner: User, other: User, owner_client: APIClient) -> None:
    task_create(person_id=owner.pk, title="plain", due_to=DUE)
    task_create(person_id=owner.pk, title="ünïcødé ✓", due_to=DUE + timedelta(microseconds=7), completed=True)
    task_create(person_id=other.pk, title="someone else's", due_to=DUE)

    assert Replica(owner_client).sync().tasks == visible(owner_client)


def test_creates_updates_and_deletes_come_incrementally(owner: User, owner_client: APIClient) -> None:
    kept = task_create(person_id=owner.pk, title="kept", due_to=DUE)
    changed = task_create(person_id=owner.pk, title="changed", due_to=DUE)
    gone = task_create(person_id=owner.pk, title="gone", due_to=DUE)
    replica = Replica(owner_client).sync()

    task_update(task=changed, changes={"title": "changed again"})
    gone_id = gone.pk
    task_delete(task=gone)
    created = owner_client.post("/tasks/", {"title": "new", "due_to": "2030-01-01T00:00:00Z"}).json()
    body = sync_once(owner_client, replica.token)

    assert sorted(task["id"] for task in body["changes"]) == sorted([changed.pk, created["id"]])
    assert body["deleted"] == [gone_id]
    assert kept.pk not in {task["id"] for task in body["changes"]}
    replica.sync()
    assert replica.tasks == visible(owner_client)
    assert replica.tasks[changed.pk]["title"] == "changed again"


def test_writes_through_the_api_come_with_their_answers(owner_client: APIClient) -> None:
    replica = Replica(owner_client).sync()
    created = owner_client.post("/tasks/", {"title": "new", "due_to": "2030-01-01T00:00:00Z"}).json()
    replica.sync()
    assert replica.tasks == {created["id"]: created}

    patched = owner_client.patch(created["url"], {"completed": True}).json()
    replica.sync()
    assert replica.tasks == {created["id"]: patched}

    assert owner_client.delete(created["url"]).status_code == 204
    replica.sync()
    assert replica.tasks == {}


def test_writes_that_skip_save_are_numbered_too(owner: User, owner_client: APIClient) -> None:
    """QuerySet.update(), bulk_create() and QuerySet.delete() (the admin's bulk actions, the
    import) never call save(): the database numbers them all the same."""
    project_id = personal_project_id(owner.pk)
    assert project_id is not None
    replica = Replica(owner_client).sync()

    task_create_many(
        project_id=project_id, person_id=owner.pk, tasks=[{"title": f"i{n}", "due_to": DUE} for n in range(5)]
    )
    replica.sync()
    assert replica.tasks == visible(owner_client)

    Task.objects.filter(title__in=["i0", "i1"]).update(completed=True)
    Task.objects.filter(title="i2").delete()
    replica.sync()
    assert replica.tasks == visible(owner_client)
    assert len(replica.tasks) == 4


def test_a_task_moved_out_of_a_project_is_deleted_for_those_who_no_longer_see_it(
    owner: User, other: User, owner_client: APIClient, other_client: APIClient, shared: Project
) -> None:
    task = task_create(person_id=owner.pk, project_id=shared.pk, title="shared", due_to=DUE)
    mine, theirs = Replica(owner_client).sync(), Replica(other_client).sync()
    assert task.pk in theirs.tasks

    moved = owner_client.patch(
        f"/tasks/{task.pk}/", {"project": project_url(personal_project_id(owner.pk) or 0)}
    )
    assert moved.status_code == 200

    assert sync_once(other_client, theirs.token)["deleted"] == [task.pk]
    in_both = sync_once(owner_client, mine.token)
    assert in_both["deleted"] == []
    assert [t["id"] for t in in_both["changes"]] == [task.pk]
    assert mine.sync().tasks == visible(owner_client)
    assert theirs.sync().tasks == visible(other_client)
    assert task.pk not in theirs.tasks


def test_a_task_moved_into_a_project_comes_to_its_members(
    owner: User, other_client: APIClient, shared: Project
) -> None:
    task = task_create(person_id=owner.pk, title="private", due_to=DUE)
    theirs = Replica(other_client).sync()
    assert task.pk not in theirs.tasks

    task_update(task=task, changes={"project": shared})

    assert theirs.sync().tasks == visible(other_client)
    assert task.pk in theirs.tasks


def test_a_removed_member_gets_the_projects_tasks_as_deleted(
    owner: User, other: User, other_client: APIClient, shared: Project
) -> None:
    tasks = [
        task_create(person_id=owner.pk, project_id=shared.pk, title=f"s{n}", due_to=DUE) for n in range(3)
    ]
    ids = [task.pk for task in tasks]
    own = task_create(person_id=other.pk, title="their own", due_to=DUE)
    replica = Replica(other_client).sync()
    assert set(replica.tasks) == {*ids, own.pk}

    member_remove(membership=Membership.objects.get(project=shared, user=other))
    task_delete(task=tasks[0])  # after they left: still theirs to drop

    body = sync_once(other_client, replica.token)
    assert sorted(body["deleted"]) == ids
    assert body["changes"] == []
    assert replica.sync().tasks == visible(other_client) == {own.pk: replica.tasks[own.pk]}


def test_a_member_removed_and_added_again_gets_the_tasks_back(
    owner: User, other: User, other_client: APIClient, shared: Project
) -> None:
    task = task_create(person_id=owner.pk, project_id=shared.pk, title="shared", due_to=DUE)
    replica = Replica(other_client).sync()
    member_remove(membership=Membership.objects.get(project=shared, user=other))
    replica.sync()
    assert task.pk not in replica.tasks

    member_add(project=shared, user_id=other.pk, role=Role.VIEWER)

    assert replica.sync().tasks == visible(other_client)
    assert task.pk in replica.tasks


def test_removed_and_added_again_between_two_syncs_deletes_nothing(
    owner: User, other: User, other_client: APIClient, shared: Project
) -> None:
    task = task_create(person_id=owner.pk, project_id=shared.pk, title="shared", due_to=DUE)
    replica = Replica(other_client).sync()
    member_remove(membership=Membership.objects.get(project=shared, user=other))
    member_add(project=shared, user_id=other.pk, role=Role.VIEWER)

    body = sync_once(other_client, replica.token)

    assert body["deleted"] == []
    assert [t["id"] for t in body["changes"]] == [task.pk]


def test_a_deleted_project_s_tasks_are_deleted_for_every_member(
    owner: User, other: User, owner_client: APIClient, other_client: APIClient, shared: Project
) -> None:
    tasks = [
        task_create(person_id=owner.pk, project_id=shared.pk, title=f"s{n}", due_to=DUE) for n in range(3)
    ]
    replicas = [Replica(owner_client).sync(), Replica(other_client).sync()]

    project_delete(project=shared)

    for replica, client in zip(replicas, [owner_client, other_client], strict=True):
        body = sync_once(client, replica.token)
        assert sorted(body["deleted"]) == sorted(t.pk for t in tasks)
        assert replica.sync().tasks == visible(client)


def test_deleting_an_account_deletes_its_projects_for_their_members(
    owner: User, other: User, other_client: APIClient, shared: Project
) -> None:
    """The cascade of an account's deletion (the admin) sends no signal; the feed sees it."""
    task = task_create(person_id=owner.pk, project_id=shared.pk, title="shared", due_to=DUE)
    replica = Replica(other_client).sync()

    owner.delete()

    assert sync_once(other_client, replica.token)["deleted"] == [task.pk]


def test_staff_see_every_task_and_every_deletion(owner: User, other: User, staff_client: APIClient) -> None:
    tasks = [task_create(person_id=person.pk, title="t", due_to=DUE) for person in (owner, other)]
    replica = Replica(staff_client).sync()
    assert set(replica.tasks) == {t.pk for t in tasks}
    deleted_id = tasks[0].pk

    task_delete(task=tasks[0])
    task_update(task=tasks[1], changes={"project": project_create(owner_id=other.pk, name="Elsewhere")})

    body = sync_once(staff_client, replica.token)
    assert body["deleted"] == [deleted_id]  # the moved one they still see
    assert [t["id"] for t in body["changes"]] == [tasks[1].pk]
    assert replica.sync().tasks == visible(staff_client)


def test_ids_of_projects_the_caller_never_saw_never_come(
    owner: User, other: User, other_client: APIClient, shared: Project
) -> None:
    replica = Replica(other_client).sync()
    private = [task_create(person_id=owner.pk, title=f"p{n}", due_to=DUE) for n in range(3)]
    task_delete(task=private[0])
    task_update(task=private[1], changes={"project": project_create(owner_id=owner.pk, name="Other")})
    task_update(task=private[2], changes={"title": "renamed"})

    body = sync_once(other_client, replica.token)

    assert (body["changes"], body["deleted"]) == ([], [])


def test_tasks_of_a_project_from_after_the_caller_left_never_come(
    owner: User, other: User, other_client: APIClient, shared: Project
) -> None:
    replica = Replica(other_client).sync()
    member_remove(membership=Membership.objects.get(project=shared, user=other))
    later = [
        task_create(person_id=owner.pk, project_id=shared.pk, title=f"l{n}", due_to=DUE) for n in range(2)
    ]
    task_delete(task=later[0])
    task_update(task=later[1], changes={"project": project_create(owner_id=owner.pk, name="Else")})

    body = sync_once(other_client, replica.token)

    assert (body["changes"], body["deleted"]) == ([], [])


def test_tasks_gone_before_the_caller_joined_never_come(
    owner: User, other: User, other_client: APIClient
) -> None:
    replica = Replica(other_client).sync()
    project = project_create(owner_id=owner.pk, name="Later")
    before = [
        task_create(person_id=owner.pk, project_id=project.pk, title=f"b{n}", due_to=DUE) for n in range(3)
    ]
    task_delete(task=before[0])
    task_update(task=before[1], changes={"project": project_create(owner_id=owner.pk, name="Else")})
    member_add(project=project, user_id=other.pk, role=Role.VIEWER)

    body = sync_once(other_client, replica.token)

    assert body["deleted"] == []
    assert [task["id"] for task in body["changes"]] == [before[2].pk]


@pytest.mark.parametrize("page_size", [1, 3, 7])
def test_pages_walk_through_ties_without_loss_or_repeat(
    owner: User, other: User, other_client: APIClient, shared: Project, page_size: int
) -> None:
    """Joining or leaving a project numbers all its tasks at once: many items share a number."""
    project_id = shared.pk
    task_create_many(
        project_id=project_id,
        person_id=owner.pk,
        tasks=[{"title": f"t{n}", "due_to": DUE} for n in range(20)],
    )
    member_remove(membership=Membership.objects.get(project=shared, user=other))
    replica = Replica(other_client, page_size=page_size).sync()
    assert replica.tasks == visible(other_client)

    member_add(project=shared, user_id=other.pk, role=Role.VIEWER)
    seen: set[int] = set()
    while True:
        body = replica.page()
        assert len(body["changes"]) + len(body["deleted"]) <= page_size
        seen |= {task["id"] for task in body["changes"]}
        if not body["more"]:
            break
    # (A task may come again on a later page: once per event that concerns it.)
    assert seen == set(visible(other_client))

    member_remove(membership=Membership.objects.get(project=shared, user=other))
    Task.objects.filter(project_id=project_id, title__in=["t0", "t1"]).delete()
    replica.sync()
    assert replica.tasks == visible(other_client)


def test_a_full_sync_in_pages_reads_every_task_once(owner: User, owner_client: APIClient) -> None:
    project_id = personal_project_id(owner.pk)
    assert project_id is not None
    task_create_many(
        project_id=project_id,
        person_id=owner.pk,
        tasks=[{"title": f"t{n}", "due_to": DUE} for n in range(10)],
    )

    replica = Replica(owner_client, page_size=3).sync()

    assert replica.pages == 4
    assert replica.tasks == visible(owner_client)


@pytest.mark.django_db(transaction=True)  # each write committed, as requests make them
@pytest.mark.parametrize("page_size", [1, 2, 5])
def test_a_member_of_several_projects_syncs_their_changes_in_order(
    owner: User, other: User, other_client: APIClient, page_size: int
) -> None:
    # Each project's changes are read apart and merged (on PostgreSQL, tasks.changes): the
    # pages hold every change once, in the order the database numbered them.
    projects = [project_create(owner_id=owner.pk, name=f"p{n}") for n in range(3)]
    for project in projects:
        member_add(project=project, user_id=other.pk, role=Role.EDITOR)
    replica = Replica(other_client, page_size=page_size).sync()
    made = [
        task_create(person_id=owner.pk, project_id=projects[n % 3].pk, title=f"t{n}", due_to=DUE)
        for n in range(7)
    ]
    task_update(task=made[0], changes={"title": "again"})  # now the last change

    seen: list[int] = []
    while True:
        body = replica.page()
        assert len(body["changes"]) <= page_size
        seen += [task["id"] for task in body["changes"]]
        if not body["more"]:
            break

    assert seen == [task.pk for task in made[1:]] + [made[0].pk]
    assert replica.tasks == visible(other_client)


# Each write its own transaction, as requests make them: the clock moves on between them.
@pytest.mark.django_db(transaction=True)
def test_an_idle_client_s_token_follows_the_clock(owner: User, other: User, owner_client: APIClient) -> None:
    """Changes the caller does not see still move the token on: it stays within retention."""
    first = sync_once(owner_client)["next"]
    task_create(person_id=other.pk, title="not theirs", due_to=DUE)

    later = sync_once(owner_client, first)

    assert (later["changes"], later["deleted"]) == ([], [])
    assert token_from_text(later["next"]).position > token_from_text(first).position


@pytest.mark.parametrize(
    "since",
    [
        "",
        "garbage!!",
        "Zm9v",
        base64.urlsafe_b64encode(b"5.2.1.0").decode(),  # the shape, unsigned
        base64.urlsafe_b64encode(b"5.2.1.0:forgedforgedforgedforgedforgedforgedforg").decode(),
        "\x00",
    ],
)
def test_a_token_this_service_did_not_make_is_400(owner_client: APIClient, since: str) -> None:
    response = owner_client.get("/tasks/changes/", {"since": since})

    assert response.status_code == 400
    assert "without since" in response.json()["since"][0]


def test_a_token_changed_by_the_client_is_400(owner_client: APIClient) -> None:
    token = sync_once(owner_client)["next"]
    signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    value, signature = signed.split(":", 1)
    number, kind, task_id, base = value.split(".")
    forged = base64.urlsafe_b64encode(
        f"{int(number) + 1}.{kind}.{task_id}.{base}:{signature}".encode()
    ).decode()

    assert owner_client.get("/tasks/changes/", {"since": forged}).status_code == 400
    with pytest.raises(TokenRefused):
        token_from_text(forged)
    assert token_text(token_from_text(token)) == token


@pytest.mark.parametrize("page_size", ["0", "1001", "x"])
def test_a_bad_page_size_is_400(owner_client: APIClient, page_size: str) -> None:
    response = owner_client.get("/tasks/changes/", {"page_size": page_size})

    assert response.status_code == 400
    assert "page_size" in response.json()


# Each write its own transaction, as requests make them: the clock moves on between them.
@pytest.mark.django_db(transaction=True)
def test_a_token_from_before_what_was_pruned_is_410_and_a_fresh_sync_recovers(
    owner: User, owner_client: APIClient
) -> None:
    gone = task_create(person_id=owner.pk, title="gone", due_to=DUE)
    kept = task_create(person_id=owner.pk, title="kept", due_to=DUE)
    stale = Replica(owner_client).sync()
    task_delete(task=gone)
    fresh = Replica(owner_client).sync()

    call_command("prune_changes", "--days", "0")  # everything written before now

    response = owner_client.get("/tasks/changes/", {"since": stale.token})
    assert response.status_code == 410
    assert "without `since`" in response.json()["detail"]
    assert sync_once(owner_client, fresh.token)["changes"] == []  # after the horizon: fine
    assert set(Replica(owner_client).sync().tasks) == {kept.pk}
    assert not Tombstone.objects.exists()


def test_pruning_keeps_what_is_within_retention(owner: User, owner_client: APIClient) -> None:
    replica = Replica(owner_client).sync()
    task_delete(task=task_create(person_id=owner.pk, title="gone", due_to=DUE))

    call_command("prune_changes")  # SYNC_RETENTION_DAYS: nothing that old

    assert Tombstone.objects.count() == 1
    assert replica.sync().tasks == {}


def test_a_page_is_one_query_after_its_bound(
    owner: User, owner_client: APIClient, django_assert_num_queries: Any
) -> None:
    task_create(person_id=owner.pk, title="t", due_to=DUE)
    token = sync_once(owner_client)["next"]  # also warms the caller's session memo

    # The page, with the clock's horizon (and on SQLite its number, the bound) in it; on
    # PostgreSQL the bound first, in a statement of its own.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 1):
        owner_client.get("/tasks/changes/", {"since": token})


def test_the_database_numbers_every_write(owner: User) -> None:
    """The triggers are in place: a rebuild of the table by a later migration on SQLite would
    drop them silently (see tasks/migrations/0003_sync.py)."""
    task = task_create(person_id=owner.pk, title="t", due_to=DUE)

    def version() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version FROM tasks_task WHERE id = %s", [task.pk])
            return int(cursor.fetchone()[0])

    first = version()
    Task.objects.filter(pk=task.pk).update(title="u")
    assert version() > first
    task_id = task.pk
    with transaction.atomic():
        task.delete()
    assert Tombstone.objects.filter(task_id=task_id).exists()


# The race: writers (each its own connection) against a reader syncing all along.


def in_thread(work: Any) -> threading.Thread:
    """``work`` on a thread with its own database connection, started."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_still_open_holds_back_the_later_ones_that_committed(owner: User) -> None:
    """Writers do not wait for one another: a write numbered after another commits while
    that one is open. A reader that saw it would move past the open one's number and miss
    it, so the feed holds both back until the open one ends, then hands out both."""
    replica = Replica(client_for(owner)).sync()
    written, release = threading.Event(), threading.Event()

    def slow() -> None:
        with transaction.atomic():
            task_create(person_id=owner.pk, title="slow", due_to=DUE)
            written.set()
            release.wait(10)

    first = in_thread(slow)
    try:
        assert written.wait(10)
        second = in_thread(lambda: task_create(person_id=owner.pk, title="fast", due_to=DUE))
        second.join(5)
        assert not second.is_alive()  # committed without waiting for the open write
        assert Task.objects.filter(title="fast").exists()
        assert replica.sync().tasks == {}
    finally:
        release.set()
        first.join()
    assert sorted(task["title"] for task in replica.sync().tasks.values()) == ["fast", "slow"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_rolled_back_holds_nothing_back(owner: User) -> None:
    """A transaction that wrote and rolled back, whole or to a savepoint, leaves the bound
    free; so does an advisory lock that is not the feed's."""
    replica = Replica(client_for(owner)).sync()
    rolled_back, release = threading.Event(), threading.Event()

    def write_and_fail() -> None:
        with transaction.atomic():  # a savepoint within a transaction, else the transaction
            task_create(person_id=owner.pk, title="undone", due_to=DUE)
            raise RuntimeError

    def undone_then_open() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(42)")
            with contextlib.suppress(RuntimeError):
                write_and_fail()
            rolled_back.set()
            release.wait(10)

    with pytest.raises(RuntimeError):
        write_and_fail()
    thread = in_thread(undone_then_open)
    try:
        assert rolled_back.wait(10)
        task_create(person_id=owner.pk, title="kept", due_to=DUE)
        assert [task["title"] for task in replica.sync().tasks.values()] == ["kept"]
    finally:
        release.set()
        thread.join()


def race_round(owner: User, other: User, seed: int) -> None:
    """Writers create tasks (never touched again), update, move and delete the seeded ones,
    and the reader's membership of ``shared`` comes and goes, while the reader syncs."""
    rng = random.Random(seed)
    shared = project_create(owner_id=owner.pk, name="Shared")
    member_add(project=shared, user_id=other.pk, role=Role.EDITOR)
    owners, readers = personal_project_id(owner.pk), personal_project_id(other.pk)
    assert owners is not None
    assert readers is not None
    projects = [shared.pk, readers, owners]  # the owner's personal project the reader never sees
    task_create_many(
        project_id=readers,
        person_id=owner.pk,
        tasks=[{"title": f"seed {n}", "due_to": DUE} for n in range(60)],
    )
    Task.objects.filter(title__endswith="0").update(project=shared)
    Task.objects.filter(title__endswith="5").update(project=owners)
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        local = random.Random(seed * 100 + n)
        try:
            for step in range(50):
                choice = local.random()
                with transaction.atomic():
                    if choice < 0.4:
                        task_create(
                            person_id=owner.pk,
                            project_id=local.choice(projects),
                            title=f"w{n}-{step}",
                            due_to=DUE,
                        )
                    else:
                        seeded = Task.objects.select_for_update().filter(title__startswith="seed")
                        task = seeded.order_by("?").first()
                        if task is None:
                            continue
                        if choice < 0.65:
                            task_update(
                                task=task,
                                changes={"title": f"seed w{n}-{step}", "completed": not task.completed},
                            )
                        elif choice < 0.8:
                            to = local.choice([p for p in projects if p != task.project_id])
                            task_update(task=task, changes={"project": Project.objects.get(pk=to)})
                        else:
                            task_delete(task=task)
                    # A transaction that goes on after its write: without the clock's lock, a
                    # later number could commit first and the reader move past this one.
                    time.sleep(0.002 + local.random() * 0.012)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def membership() -> None:
        """The reader leaves the shared project and comes back."""
        try:
            while not done.wait(0.2):
                with transaction.atomic():
                    found = Membership.objects.filter(project=shared, user=other).first()
                    if found is None:
                        member_add(project=shared, user_id=other.pk, role=Role.VIEWER)
                    else:
                        member_remove(membership=found)
                    time.sleep(rng.random() * 0.005)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    replica = Replica(client_for(other), page_size=rng.choice([5, 20, 100])).sync()

    def reader() -> None:
        try:
            while not done.is_set():
                replica.sync()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
    others = [threading.Thread(target=membership), threading.Thread(target=reader)]
    for thread in [*others, *writers]:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in others:
        thread.join()
    assert not errors, errors
    assert replica.pages > 10

    replica.sync()
    assert replica.tasks == visible(client_for(other))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", range(5))
def test_racing_writers_never_make_a_syncing_reader_miss_a_change(
    owner: User, other: User, seed: int
) -> None:
    """Real concurrency on PostgreSQL (SQLite's in-memory test database cannot be shared by
    threads, and its writers are serialised anyway): the reader's copy, kept by every page it
    read while the writers ran, then one last sync, is exactly what it sees."""
    race_round(owner, other, seed)


@pytest.mark.parametrize(
    ("level", "refused"),
    [
        (None, False),
        ("READ_UNCOMMITTED", False),  # which PostgreSQL runs as READ COMMITTED
        ("READ_COMMITTED", False),
        ("REPEATABLE_READ", True),
        ("SERIALIZABLE", True),
    ],
)
def test_an_isolation_the_feed_cannot_read_in_is_refused_by_the_checks(
    monkeypatch: pytest.MonkeyPatch, level: str | None, refused: bool
) -> None:
    from psycopg import IsolationLevel

    from tasks.checks import feed_isolation

    monkeypatch.setattr(connection, "vendor", "postgresql")
    options = dict(connection.settings_dict.get("OPTIONS", {}))
    if level is not None:
        options["isolation_level"] = IsolationLevel[level]
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    assert [error.id for error in feed_isolation()] == (["tasks.E001"] if refused else [])
