"""The outbox: a change records its event in its own transaction, one INSERT, and the
workers relay the waiting events into their deliveries."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from events.models import Delivery, Event
from events.services import event_record
from events.tasks import receivers, relay_batch, relay_tick, relay_waiting
from projects.models import Role
from projects.services import member_add, member_remove, member_set_role, project_create, project_transfer
from tasks.models import Task
from tasks.services import task_create, task_delete, task_update
from tests.events.conftest import FakeSender, hook, run_worker
from tests.helpers.worker import run_due_tasks
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def test_a_change_that_rolls_back_records_no_event_and_nothing_is_delivered(
    owner: User, sender: FakeSender
) -> None:
    hook(owner)

    def failing_change() -> None:
        with transaction.atomic():
            task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
            assert Event.objects.count() == 1  # written, on the change's connection
            raise RuntimeError("the change fails after its event was recorded")

    with pytest.raises(RuntimeError, match="the change fails"):
        failing_change()

    run_worker()
    assert not Task.objects.exists()
    assert not DBTaskResult.objects.exists()  # no delivery
    assert not Event.objects.exists()
    assert sender.sent == []


def test_a_committed_change_is_delivered_by_the_worker(owner: User, sender: FakeSender) -> None:
    webhook = hook(owner)
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)

    run_worker()

    event = Event.objects.get()
    assert (event.type, event.project_id) == ("task.created", task.project_id)
    [sent] = sent_of(sender)
    assert sent["type"] == "task.created"
    assert sent["data"]["id"] == task.pk
    assert sent["data"]["url"] == f"http://127.0.0.1:8000/tasks/{task.pk}/"
    assert sent["data"]["title"] == "Buy milk"
    assert sender.sent[0].headers["webhook-id"] == event.webhook_id
    assert not Event.objects.filter(relayed=False).exists()
    assert Delivery.objects.get().webhook == webhook


def test_update_and_delete_are_recorded_and_a_deletion_carries_ids(owner: User, sender: FakeSender) -> None:
    hook(owner)
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    task_update(task=task, changes={"title": "Buy oat milk"})
    task_id, project_id = task.pk, task.project_id
    task_delete(task=task)

    run_worker()

    sent = sent_of(sender)
    assert sorted(body["type"] for body in sent) == ["task.created", "task.deleted", "task.updated"]
    by_type = {body["type"]: body["data"] for body in sent}
    assert by_type["task.updated"]["title"] == "Buy oat milk"
    assert by_type["task.deleted"] == {"id": task_id, "project_id": project_id, "person_id": owner.pk}


def test_membership_changes_reach_the_projects_webhook(owner: User, other: User, sender: FakeSender) -> None:
    project = project_create(owner_id=owner.pk, name="Team")
    hook(owner, project_id=project.pk, events=["member.added", "member.changed", "member.removed"])

    membership = member_add(project=project, user_id=other.pk, role=Role.EDITOR)
    member_set_role(membership=membership, role=Role.VIEWER)
    member_remove(membership=membership)
    run_worker()

    sent = sorted(sent_of(sender), key=lambda body: body["timestamp"])
    assert [body["type"] for body in sent] == ["member.added", "member.changed", "member.removed"]
    assert [body["data"]["role"] for body in sent] == ["editor", "viewer", "viewer"]
    assert {body["data"]["user_id"] for body in sent} == {other.pk}


def test_a_transfer_sends_the_role_change_of_both_members(
    owner: User, other: User, sender: FakeSender
) -> None:
    project = project_create(owner_id=owner.pk, name="Team")
    member_add(project=project, user_id=other.pk, role=Role.EDITOR)
    hook(owner, project_id=project.pk, events=["member.changed"])

    with transaction.atomic():
        project_transfer(project=project, to_user_id=other.pk)
    run_worker()

    changed = {(body["data"]["user_id"], body["data"]["role"]) for body in sent_of(sender)}
    assert changed == {(owner.pk, "editor"), (other.pk, "owner")}


def test_events_go_only_to_the_webhooks_that_receive_them(
    owner: User, other: User, sender: FakeSender
) -> None:
    team = project_create(owner_id=owner.pk, name="Team")
    member_add(project=team, user_id=other.pk, role=Role.EDITOR)
    mine = hook(owner)  # no project: the events of owner's own tasks and projects
    teams = hook(owner, project_id=team.pk)
    only_deletions = hook(owner, project_id=team.pk, events=["task.deleted"])
    others = hook(other)  # other's own: other's tasks, in any project
    stranger = hook(User.objects.create_user(username="stranger", password="x" * 12))
    run_worker()
    sender.sent.clear()

    task_create(person_id=other.pk, project_id=team.pk, title="In the team", due_to=DUE)
    run_worker()

    receivers = {delivery.webhook_id for delivery in Delivery.objects.all()}
    assert receivers == {mine.pk, teams.pk, others.pk}
    assert only_deletions.pk not in receivers
    assert stranger.pk not in receivers


def test_a_disabled_webhook_receives_nothing(owner: User, sender: FakeSender) -> None:
    webhook = hook(owner)
    webhook.active = False
    webhook.save()

    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()

    assert Event.objects.count() == 1
    assert sender.sent == []


def test_a_look_at_the_outbox_relays_every_event_waiting_and_costs_one_query_when_none_is(
    owner: User, sender: FakeSender
) -> None:
    """What the worker does every EVENTS_RELAY_TICK (manage.py events_worker): a change itself
    asks for nothing."""
    hook(owner)
    with CaptureQueriesContext(connection) as idle:
        assert relay_tick() == 0
    with transaction.atomic():
        task_create(person_id=owner.pk, title="One", due_to=DUE)
        task_create(person_id=owner.pk, title="Two", due_to=DUE)
    assert not DBTaskResult.objects.exists()  # nothing enqueued by the changes

    assert relay_tick() == 2
    run_due_tasks()

    assert len(idle.captured_queries) == 1
    assert sorted(sent["data"]["title"] for sent in sent_of(sender)) == ["One", "Two"]


def test_a_relay_run_twice_enqueues_the_deliveries_once(owner: User, sender: FakeSender) -> None:
    hook(owner)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)

    assert relay_batch() == 1
    assert relay_batch() == 0  # a second relay, or a worker's retry after a crash
    run_worker()

    assert len(sender.sent) == 1


def test_a_relay_that_fails_halfway_leaves_every_event_of_its_batch_waiting(
    owner: User, sender: FakeSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook(owner)
    for title in ("One", "Two"):
        task_create(person_id=owner.pk, title=title, due_to=DUE)

    class DiesAfterTheFirstEvent:
        """The receivers of each event; the worker dies after the first one's deliveries."""

        def __init__(self, events: list[Event]) -> None:
            self.found = receivers(events)

        def items(self) -> Any:
            yield next(iter(self.found.items()))
            raise RuntimeError("the worker dies after enqueueing one delivery")

    with monkeypatch.context() as patched:
        patched.setattr("events.tasks.receivers", DiesAfterTheFirstEvent)
        with pytest.raises(RuntimeError, match="worker dies"):
            relay_batch()
    assert Event.objects.filter(relayed=False).count() == 2
    assert not DBTaskResult.objects.exists()  # the first delivery's enqueue went with it

    run_worker()
    assert sorted(sent["data"]["title"] for sent in sent_of(sender)) == ["One", "Two"]


def test_the_relay_takes_batch_after_batch_until_none_is_full(
    owner: User, sender: FakeSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("events.tasks.RELAY_BATCH", 2)
    hook(owner)
    for title in ("One", "Two", "Three"):
        task_create(person_id=owner.pk, title=title, due_to=DUE)

    assert relay_batch() == 2  # one transaction
    assert Event.objects.filter(relayed=False).count() == 1
    assert relay_waiting() == 1
    run_due_tasks()

    assert sorted(sent["data"]["title"] for sent in sent_of(sender)) == ["One", "Three", "Two"]


@pytest.mark.parametrize(
    ("method", "type"), [("post", "task.created"), ("patch", "task.updated"), ("delete", "task.deleted")]
)
def test_a_task_write_through_the_api_sends_no_query_for_its_event_the_trigger_writes_it(
    owner: User, owner_client: APIClient, method: str, type: str
) -> None:
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    assert owner_client.get("/tasks/?page_size=1").status_code == 200  # a warm process
    before = Event.objects.count()
    with CaptureQueriesContext(connection) as captured:
        if method == "post":
            response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z"})
        else:
            response = getattr(owner_client, method)(f"/tasks/{task.pk}/", {"title": "Buy bread"})

    assert response.status_code < 300
    assert not [query for query in captured.captured_queries if Event._meta.db_table in query["sql"]]
    assert Event.objects.count() == before + 1
    assert Event.objects.order_by("id").last().type == type  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"title": 'Ünïcode <&> "quoted"', "due_to": "2030-01-01T12:00:00.120000Z"},
        {"recurrence": "FREQ=DAILY;COUNT=3", "completed": True},  # completes an occurrence
        {"completed": True},
    ],
)
def test_each_delivery_holds_the_task_as_the_api_answers_it(
    owner: User, owner_client: APIClient, sender: FakeSender, settings: Any, changes: dict[str, Any]
) -> None:
    settings.PUBLIC_URL = "http://testserver/"  # the test client's host, which the API's links use
    hook(owner)
    created = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00.5Z"}).json()
    answers = [created]
    if changes:
        answers.append(owner_client.patch(created["url"], changes, format="json").json())

    run_worker()

    assert [sent["data"] for sent in sent_of(sender)] == answers
    assert [sent["type"] for sent in sent_of(sender)] == ["task.created", "task.updated"][: len(answers)]


@pytest.mark.postgres
def test_the_triggers_instant_text_is_inlined_into_its_statement() -> None:
    """tasks_stored_text() is declared as volatile as its body (STABLE: a timestamp's text
    follows DateStyle), so PostgreSQL inlines it; declared IMMUTABLE it ran through the SQL
    function executor at each of the trigger's four calls, and a create's throughput halved
    (tasks/migrations/0005_stored_text_stable.py)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT tasks_stored_text(now())")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "CASE WHEN" in plan
    assert "tasks_stored_text" not in plan


def sent_of(sender: FakeSender) -> list[dict[str, Any]]:
    return [json.loads(sent.body) for sent in sender.sent]


def test_an_event_without_a_project_or_person_reaches_no_webhook(owner: User, sender: FakeSender) -> None:
    hook(owner)
    event = event_record(type="task.created", project_id=None, person_id=None, data={})

    assert receivers([event]) == {event.pk: []}
