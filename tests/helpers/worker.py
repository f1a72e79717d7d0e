"""The background tasks that are due, run in the test's own process and transaction."""

from unittest import mock

from django_tasks_db.management.commands.db_worker import Worker


def run_due_tasks() -> None:
    """django-tasks-db's own worker, in this process: every task that is due, then it stops.
    (Without its close_old_connections(): it would close the test's own transaction on
    PostgreSQL, as it closes any connection not in autocommit.)"""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    )
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        worker.run()
