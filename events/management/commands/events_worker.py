import logging
import os
import signal
import threading
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from events.models import Event
from events.tasks import relay
from events.worker import tasks_recover

logger = logging.getLogger(__name__)
RESTART_DELAY = 1.0  # seconds between attempts while the database is away
RELAY_CHECK = 2.0  # seconds between looks for events waiting that nobody asked a relay for


class Command(DatabaseWorkerCommand):
    help = (
        "django-tasks-db's database worker (db_worker), which also runs again the tasks a dead "
        "worker or a lost database left behind (events/worker.py), asks for a relay of the "
        "events waiting, keeps going while the database restarts, and can stop with the "
        "process that started it: manage.py serve starts one beside the server."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--stop-with",
            type=int,
            default=None,
            metavar="PID",
            help="Stop (gracefully, as on SIGTERM) when process PID, this one's parent, is gone.",
        )

    def handle(self, **options: Any) -> None:  # the parent's options, and --stop-with
        stop_with = options.pop("stop_with", None)
        if stop_with is not None:
            threading.Thread(target=_stop_with, args=(stop_with,), daemon=True).start()
        if not options["batch"]:
            threading.Thread(target=_recover_periodically, daemon=True).start()
        while True:
            try:
                _start_up()
                super().handle(**options)
                return
            except DatabaseError as exc:
                # django-tasks-db's loop ends at the first connection error (PostgreSQL
                # restarting): this worker waits for the database instead of exiting.
                logger.warning(
                    "database unavailable, the worker starts again in %s s: %s", RESTART_DELAY, exc
                )
                connections.close_all()
                time.sleep(RESTART_DELAY)


def _start_up() -> None:
    # Events whose process died between its commit and asking for a relay wait for the
    # next one asked for: one now, so a restart delivers them (events.services).
    tasks_recover(now=timezone.now())
    relay.enqueue()


def _recover_periodically() -> None:
    every = max(1.0, settings.EVENTS_TASK_STALE_SECONDS / 4)
    last = time.monotonic()
    while True:
        time.sleep(RELAY_CHECK)
        try:
            # Events nobody asked a relay for (a write by another path than the services,
            # the admin's, a raw statement; a process that died before asking).
            if Event.objects.filter(relayed=False).exists():
                relay.enqueue()
            if time.monotonic() - last < every:
                continue
            last = time.monotonic()
            recovered = tasks_recover(now=timezone.now())
        except DatabaseError as exc:
            logger.warning("recovering tasks failed, again in %s s: %s", every, exc)
            connections.close_all()
            continue
        if recovered:
            logger.warning("%s tasks left by a dead worker or a lost database made ready again", recovered)


def _stop_with(parent: int) -> None:
    # Polled rather than PR_SET_PDEATHSIG, which is Linux's alone: when the server exits,
    # however it exits (SIGKILL included), this process is handed to another parent.
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)  # the worker finishes its task, then exits
