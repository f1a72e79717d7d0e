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

from events.tasks import relay_tick, relay_waiting
from events.worker import tasks_recover

logger = logging.getLogger(__name__)
RESTART_DELAY = 1.0  # seconds between attempts while the database is away


class Command(DatabaseWorkerCommand):
    help = (
        "django-tasks-db's database worker (db_worker), which also relays the events waiting in "
        "the outbox every EVENTS_RELAY_TICK, runs again the tasks a dead worker or a lost "
        "database left behind (events/worker.py), keeps going while the database restarts, and "
        "can stop with the process that started it: manage.py serve starts one beside the server."
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
            threading.Thread(target=_relay_and_recover_periodically, daemon=True).start()
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
    # What the last worker left: its tasks, and the events waiting (a batch run relays them too).
    tasks_recover(now=timezone.now())
    relay_waiting()


def _relay_and_recover_periodically() -> None:
    # A thread of its own, with its own connection: the library's loop runs the deliveries.
    every = max(1.0, settings.EVENTS_TASK_STALE_SECONDS / 4)
    last = time.monotonic()
    while True:
        time.sleep(settings.EVENTS_RELAY_TICK)
        try:
            relay_tick()
            if time.monotonic() - last < every:
                continue
            last = time.monotonic()
            recovered = tasks_recover(now=timezone.now())
        except DatabaseError as exc:
            logger.warning("relaying events or recovering tasks failed, again in a tick: %s", exc)
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
