"""What the task workers need beyond django-tasks-db's own loop: tasks a dead worker or a
lost database left behind, run again.

django-tasks-db claims a task (status RUNNING) before it runs it and records the outcome
after. A worker killed in between (SIGKILL, the machine lost) leaves it RUNNING for ever,
and a task whose database went away mid-run (PostgreSQL restarting) is recorded FAILED with
the database's error: neither is run again by the library. Delivery is at least once, so
both are made READY again: a task RUNNING for longer than any run takes
(EVENTS_TASK_STALE_SECONDS, above WEBHOOK_TIMEOUT), and a task that failed with a database
error. Every task of this project is safe to run twice for this reason (a delivery sends
the same webhook-id again; a relay finds its events relayed).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

# How django-tasks-db records the error (set_failed: module and qualified name): the
# connection errors Django raises for any backend, not a query's own errors (an
# IntegrityError would fail again).
DATABASE_GONE = ("django.db.utils.OperationalError", "django.db.utils.InterfaceError")


def tasks_recover(*, now: datetime) -> int:
    """Make READY the tasks left RUNNING by a dead worker and those failed by a lost
    database; the number made ready."""
    left = Q(
        status=TaskResultStatus.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.EVENTS_TASK_STALE_SECONDS),
    )
    lost = Q(status=TaskResultStatus.FAILED, exception_class_path__in=DATABASE_GONE)
    return DBTaskResult.objects.filter(left | lost).update(
        status=TaskResultStatus.READY,
        started_at=None,
        finished_at=None,
        exception_class_path="",
        traceback="",
    )
