"""The WSGI entry point: Django's handler, answering with the body in one piece, and a
request body that does not arrive in time costing a worker, not holding it."""

import gc
import io
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.urls import get_resolver

logger = logging.getLogger(__name__)
STALLED_BODY_EXIT = 75  # EX_TEMPFAIL: granian (--respawn-failed-workers) starts another worker


class BodyWatchdog:
    """Reads a request body whole, and ends this worker process if the read outlasts
    REQUEST_BODY_TIMEOUT.

    granian hands WSGI a body that is read from the connection as the app asks for it,
    blocking the worker's thread with no timeout of its own (granian 2.8 has one for
    headers only): a client that sends ``Content-Length: 1000`` and 6 bytes, then nothing,
    held the only thread for as long as it kept the connection open. A read cannot be
    interrupted, and reading on another thread to give up on it wedges granian's worker
    (measured: it then holds the GIL until the client leaves). So, as gunicorn's --timeout
    does for its workers, the stuck worker is ended: its connections close and granian
    starts a fresh one. Behind nginx, which reads the whole body first
    (client_body_timeout), this never happens.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadlines: dict[int, float] = {}  # thread id -> when its read must be done
        self.watching_pid = 0
        self.lock = threading.Lock()

    def read(self, stream: Any, length: int) -> bytes:
        self.watch()
        thread = threading.get_ident()
        self.deadlines[thread] = time.monotonic() + self.timeout
        try:
            body: bytes = stream.read(length)
            return body
        finally:
            del self.deadlines[thread]

    def watch(self) -> None:
        """One watching thread per process, started in the worker (threads do not survive a fork)."""
        if self.watching_pid == os.getpid():
            return
        with self.lock:
            if self.watching_pid != os.getpid():
                threading.Thread(target=self.run, name="body-watchdog", daemon=True).start()
                self.watching_pid = os.getpid()

    def run(self) -> None:
        tick = min(1.0, self.timeout / 4)
        while True:
            time.sleep(tick)
            now = time.monotonic()
            if any(deadline < now for deadline in list(self.deadlines.values())):
                logger.error(
                    "A request body did not arrive within REQUEST_BODY_TIMEOUT (%s s): "
                    "ending this worker, which the server replaces",
                    self.timeout,
                )
                os._exit(STALLED_BODY_EXIT)


class WholeBodyWSGIHandler(WSGIHandler):
    """Django's WSGIHandler, but a response already whole in memory goes back as a list.

    Django hands the server the response object itself to iterate. Servers send a list of
    bytes in one call instead (granian's fast path: one write, no per-chunk calls back
    into Python to iterate and then close the body). Streaming responses (feeds, exports,
    files) are passed on as they are, to be iterated as they are produced.

    The response is closed here, once its body is read, rather than by the server after
    sending: closing fires request_finished, which has nothing left to wait for.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body_limit: int = settings.REQUEST_MAX_BYTES
        self.watchdog = BodyWatchdog(settings.REQUEST_BODY_TIMEOUT)

    # A list of bytes is a WSGI body as PEP 3333 has it; the stubs name the response type only.
    def __call__(  # type: ignore[override]
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or "0"
        # A malformed or too large length is refused by RequestSizeLimitMiddleware, unread.
        if length.isascii() and length.isdigit() and 0 < int(length) <= self.body_limit:
            environ["wsgi.input"] = io.BytesIO(self.watchdog.read(environ["wsgi.input"], int(length)))
        response = super().__call__(environ, start_response)
        if not isinstance(response, HttpResponse):  # streamed, or a wsgi.file_wrapper
            return response
        try:
            body = response.content
        finally:
            response.close()
        return [body]


def stop_signals_from_the_server_only() -> None:
    """In a granian worker, leave SIGINT blocked: the worker stops when granian's main
    process tells it to (SIGTERM), and only then.

    Ctrl-C sends SIGINT to the terminal's whole process group, workers included, and granian
    then sends each worker SIGTERM too. A worker whose handler runs twice before its server
    loop has taken the first stop wedges (granian 2.8's WorkerSignal.set() blocks on a full
    channel of one, in the signal handler), and its main process kills it only after
    --workers-kill-timeout: 30 s, in most stops of several workers. Blocked before granian
    starts the worker's threads, which inherit the mask, the second signal never arrives.

    Until granian installs the worker's own handlers, after the app is loaded, the worker
    runs the handlers it inherited from the main process, which swallow a stop: SIGTERM
    meanwhile ends the worker at once instead (it serves nothing yet).
    """
    if multiprocessing.current_process().name == "granian-worker":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def settle_heap() -> None:
    """Load what every request needs (the URLconf, and with it every view), then move all
    that is alive into the collector's permanent generation (gc.freeze()).

    A worker holds some 140,000 objects after start-up that live as long as it does. Each
    full collection walked them all (60-150 ms, one every few thousand requests) and each
    younger one met them in their generation: frozen, the collector sees only what requests
    make. Measured in BENCHMARKS.md ("The collector").
    """
    get_resolver().url_patterns  # noqa: B018  imports the views, their serializers and filters
    gc.collect()
    gc.freeze()


def get_wsgi_application() -> WholeBodyWSGIHandler:
    """django.core.wsgi.get_wsgi_application(), with the handler above, on a settled heap."""
    stop_signals_from_the_server_only()
    django.setup(set_prefix=False)
    handler = WholeBodyWSGIHandler()
    settle_heap()
    return handler
