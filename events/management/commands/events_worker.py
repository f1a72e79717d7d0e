import os
import signal
import threading
import time
from argparse import ArgumentParser
from typing import Any

from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from events.tasks import relay


class Command(DatabaseWorkerCommand):
    help = (
        "django-tasks-db's database worker (db_worker), which first asks for a relay of the "
        "events waiting, optionally stopped with the process that started it: manage.py serve "
        "starts one beside the server."
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
        # Events whose process died between its commit and asking for a relay wait for the
        # next one asked for: one now, so a restart delivers them (events.services).
        relay.enqueue()
        super().handle(**options)


def _stop_with(parent: int) -> None:
    # Polled rather than PR_SET_PDEATHSIG, which is Linux's alone: when the server exits,
    # however it exits (SIGKILL included), this process is handed to another parent.
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)  # the worker finishes its task, then exits
