from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tasks.models import Task
from tasks.services import task_create, task_delete, task_update
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_task_create_saves_the_task(owner: User) -> None:
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)

    stored = Task.objects.get(pk=task.pk)
    assert (stored.person, stored.title, stored.due_to, stored.completed) == (owner, "Buy milk", DUE, False)


@pytest.mark.parametrize("title", ["", "x" * 101])
def test_task_create_refuses_a_bad_title_whatever_the_door(owner: User, title: str) -> None:
    with pytest.raises(ValidationError) as caught:
        task_create(person_id=owner.pk, title=title, due_to=DUE)

    assert set(caught.value.message_dict) == {"title"}
    assert not Task.objects.exists()


def test_task_update_saves_the_changes_and_moves_updated(owner: User, other: User) -> None:
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    Task.objects.filter(pk=task.pk).update(updated=datetime(2020, 1, 1, tzinfo=UTC))
    task.refresh_from_db()

    task_update(task=task, changes={"title": "Buy oat milk", "person": other, "completed": True})

    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.person, stored.completed) == ("Buy oat milk", other, True)
    assert stored.updated > datetime(2020, 1, 1, tzinfo=UTC)


def test_task_update_refuses_fields_that_are_not_editable(owner: User) -> None:
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    created = task.created

    with pytest.raises(ValueError, match="created"):
        task_update(task=task, changes={"title": "Renamed", "created": datetime(2020, 1, 1, tzinfo=UTC)})

    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.created) == ("Buy milk", created)


def test_task_update_refuses_a_bad_title_and_saves_nothing(owner: User) -> None:
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)

    with pytest.raises(ValidationError):
        task_update(task=task, changes={"title": ""})

    assert Task.objects.get(pk=task.pk).title == "Buy milk"


def test_task_delete_removes_only_that_task(owner: User) -> None:
    gone = task_create(person_id=owner.pk, title="gone", due_to=DUE)
    kept = task_create(person_id=owner.pk, title="kept", due_to=DUE)

    task_delete(task=gone)

    assert list(Task.objects.all()) == [kept]


# Recurring tasks (tests/tasks/test_recurrence.py has the rules and the API)


def test_task_create_refuses_a_bad_rule_beside_a_bad_title_whatever_the_door(owner: User) -> None:
    with pytest.raises(ValidationError) as caught:
        task_create(person_id=owner.pk, title="", due_to=DUE, recurrence="FREQ=DAILY;BYHOUR=9")

    assert caught.value.message_dict == {
        "title": ["This field cannot be blank."],
        "recurrence": ["BYHOUR is not taken: a task recurs at its due_to's time of day, at most daily."],
    }
    assert not Task.objects.exists()


def test_task_create_stores_the_rule_in_its_stored_form(owner: User) -> None:
    task = task_create(person_id=owner.pk, title="Water", due_to=DUE, recurrence="rrule:byday=tu;freq=weekly")

    assert Task.objects.get(pk=task.pk).recurrence == "FREQ=WEEKLY;BYDAY=TU"


def test_task_update_completing_a_recurring_task_writes_its_next_occurrence(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = task_create(person_id=owner.pk, title="Water", due_to=DUE, recurrence="FREQ=MONTHLY;COUNT=2")
    now = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)

    task_update(task=task, changes={"completed": True})

    stored = Task.objects.get(pk=task.pk)
    assert (stored.due_to, stored.completed, stored.recurrence, stored.last_completed) == (
        datetime(2030, 2, 1, 12, 0, tzinfo=UTC),
        False,
        "FREQ=MONTHLY;COUNT=1",
        now,
    )
    assert stored.updated == now
