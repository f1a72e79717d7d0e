import os
import subprocess
import sys
from argparse import BooleanOptionalAction
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from api.signals import before_serving


class Command(BaseCommand):
    help = "Serve the API with granian, the production HTTP server (see the README for why granian)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY)
        parser.add_argument("--threads", type=int, default=settings.WEB_THREADS, help="threads per worker")
        parser.add_argument(
            "--server",
            choices=["granian", "gunicorn"],
            default="granian",
            help="gunicorn is for side-by-side measurement only; it is not installed by make run",
        )
        parser.add_argument(
            "--task-worker",
            action=BooleanOptionalAction,
            default=settings.SERVE_TASK_WORKER,
            help="start a background-task worker (manage.py events_worker) beside the server, "
            "stopped with it (default: SERVE_TASK_WORKER)",
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        workers: int,
        threads: int,
        server: str,
        task_worker: bool,
        **options: Any,
    ) -> None:
        # What the apps must prepare before any worker forks (tokens: the generated signing
        # keys) is made here, once: every worker then reads the same files (settings already
        # made SECRET_KEY the same way). Each receiver's line says what it prepared.
        prepared = [line for _, line in before_serving.send(sender=self.__class__) if line]
        listening = f"serving on http://{host}:{port}/ with {server}: {workers} workers x {threads} threads"
        if task_worker:
            # The deliveries of events (events/tasks.py) on the embedded default, with nothing
            # else to run: a child that outlives no server, since this process becomes it.
            subprocess.Popen(  # noqa: S603  our own interpreter and code
                [
                    sys.executable,
                    str(settings.BASE_DIR / "manage.py"),
                    "events_worker",
                    "--no-reload",
                    # A fifth of db_worker's default poll: an event or a logout leaves within
                    # about 0.2 s (BENCHMARKS.md), for one idle query per poll.
                    "--interval",
                    "0.2",
                    "--stop-with",
                    str(os.getpid()),
                ]
            )
            prepared.append("a task worker beside it (events_worker)")
        self.stdout.write("; ".join([listening, *prepared]))
        bin_dir = os.path.dirname(sys.executable)
        if server == "gunicorn":
            argv = [
                os.path.join(bin_dir, "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ]
        else:
            argv = [
                os.path.join(bin_dir, "granian"),
                "--interface",
                "wsgi",
                "config.wsgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--blocking-threads",
                str(threads),
                "--respawn-failed-workers",
                "--workers-kill-timeout",
                "30",
                "--log-level",
                "warning",
                "--no-ws",
                # Plain HTTP/1.1: what a reverse proxy speaks to its upstream; no h2c sniffing.
                "--http",
                "1",
            ]
        self.stdout.flush()
        os.execv(argv[0], argv)  # noqa: S606  the server replaces this process: signals reach it
