"""The WSGI entry point: Django's handler, answering with the body in one piece."""

from collections.abc import Callable, Iterable
from typing import Any

import django
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse


class WholeBodyWSGIHandler(WSGIHandler):
    """Django's WSGIHandler, but a response already whole in memory goes back as a list.

    Django hands the server the response object itself to iterate. Servers send a list of
    bytes in one call instead (granian's fast path: one write, no per-chunk calls back
    into Python to iterate and then close the body). Streaming responses (feeds, exports,
    files) are passed on as they are, to be iterated as they are produced.

    The response is closed here, once its body is read, rather than by the server after
    sending: closing fires request_finished, which has nothing left to wait for.
    """

    # A list of bytes is a WSGI body as PEP 3333 has it; the stubs name the response type only.
    def __call__(  # type: ignore[override]
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = super().__call__(environ, start_response)
        if not isinstance(response, HttpResponse):  # streamed, or a wsgi.file_wrapper
            return response
        try:
            body = response.content
        finally:
            response.close()
        return [body]


def get_wsgi_application() -> WholeBodyWSGIHandler:
    """django.core.wsgi.get_wsgi_application(), with the handler above."""
    django.setup(set_prefix=False)
    return WholeBodyWSGIHandler()
