"""Tasks a dead worker or a lost database left behind are run again (events/worker.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from events.tasks import relay
from events.worker import tasks_recover
from tasks.services import task_create
from tests.events.conftest import FakeSender, hook, run_worker
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def left(status: str, *, started_s_ago: float = 0, error: str = "") -> DBTaskResult:
    """A relay task as a worker left it."""
    row = DBTaskResult.objects.get(pk=relay.enqueue().id)
    row.status = status
    row.started_at = timezone.now() - timedelta(seconds=started_s_ago)
    row.finished_at = timezone.now() if status == TaskResultStatus.FAILED else None
    row.exception_class_path = error
    row.save()
    return row


def test_a_task_running_past_the_stale_limit_is_made_ready_and_a_recent_one_is_left(settings: Any) -> None:
    settings.EVENTS_TASK_STALE_SECONDS = 60
    dead = left(TaskResultStatus.RUNNING, started_s_ago=61)
    working = left(TaskResultStatus.RUNNING, started_s_ago=30)

    assert tasks_recover(now=timezone.now()) == 1

    dead.refresh_from_db()
    working.refresh_from_db()
    assert (dead.status, dead.started_at) == (TaskResultStatus.READY, None)
    assert working.status == TaskResultStatus.RUNNING


@pytest.mark.parametrize(
    ("error", "recovered"),
    [
        ("django.db.utils.OperationalError", True),  # the server went away
        ("django.db.utils.InterfaceError", True),  # the connection was closed under it
        ("django.db.utils.IntegrityError", False),  # would fail again
        ("builtins.ValueError", False),  # a bug: a person looks at it
    ],
)
def test_a_task_failed_by_a_lost_database_is_made_ready_and_other_failures_stay(
    error: str, recovered: bool
) -> None:
    failed = left(TaskResultStatus.FAILED, error=error)

    assert tasks_recover(now=timezone.now()) == int(recovered)

    failed.refresh_from_db()
    assert failed.status == (TaskResultStatus.READY if recovered else TaskResultStatus.FAILED)
    assert failed.exception_class_path == ("" if recovered else error)


def test_a_delivery_left_running_by_a_killed_worker_is_delivered_once_recovered(
    owner: User, sender: FakeSender, settings: Any
) -> None:
    settings.EVENTS_TASK_STALE_SECONDS = 60
    hook(owner)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    relay.call()
    # The worker claimed the delivery, then was killed before it recorded anything.
    DBTaskResult.objects.filter(task_path="events.tasks.deliver").update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=61)
    )
    run_worker()
    assert sender.sent == []  # RUNNING: the library leaves it

    assert tasks_recover(now=timezone.now()) == 1
    run_worker()

    assert len(sender.sent) == 1
