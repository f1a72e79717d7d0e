"""Every error is JSON: DRF's own, Django's, and the ones raised below DRF."""

import contextlib
import logging
import sqlite3
import sys
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

# How long a client should wait before trying again when the database is unavailable: about
# what a PostgreSQL restart or failover takes; connections are re-checked on every request.
DATABASE_RETRY_AFTER = 5


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; try again shortly."
    default_code = "database_unavailable"


def database_unavailable(exc: BaseException | None) -> bool:
    """Is ``exc`` the database being away or busy, rather than a bug?

    PostgreSQL: any OperationalError or InterfaceError (refused or lost connection, a server
    shutting down or starting, a failover, a deadlock or a cancelled statement). SQLite: only
    a lock held too long ("database is locked"); its other OperationalErrors, such as "no
    such table", are bugs and stay 500s.
    """
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if isinstance(exc.__cause__, sqlite3.Error):
        message = str(exc).lower()
        return "is locked" in message or "busy" in message
    return True


def drain_body(request: Any) -> None:
    """Read what is left of the request body before answering without it.

    A view that fails before reading its body (a PATCH of a missing task, a token refused,
    the database away) leaves the body unread on the connection; granian with more than one
    thread per worker then sometimes drops that keep-alive connection without saying so,
    and the client's next request on it fails unanswered. The body is at most
    REQUEST_MAX_BYTES (RequestSizeLimitMiddleware refuses larger ones before any view).
    """
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if not isinstance(request, HttpRequest):
        return
    with contextlib.suppress(Exception):  # a client gone, a stream already consumed
        while request.read(65536):
            pass


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    drain_body(context.get("request"))
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, DjangoValidationError):
        # A model or service rule refused the data: a 400 like any serializer error.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, list):
        # A bare field's refusal (DRF's SearchFilter refuses a NUL in ?search= so) is a list:
        # every 400 is an object, with errors not tied to one field under non_field_errors.
        exc = exceptions.ValidationError({"non_field_errors": exc.detail})
    elif database_unavailable(exc):
        logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        response = drf_exception_handler(DatabaseUnavailable(), context)
        if response is not None:
            response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
    return drf_exception_handler(exc, context)


# Django's own error views (handler400/403/404/500), answered in JSON like the rest of the API.


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    drain_body(request)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    drain_body(request)
    return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    drain_body(request)
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    # Django calls this while handling the exception: outside DRF (a middleware, the admin,
    # the login page) an unavailable database is still a 503 to retry, not a 500.
    unavailable = database_unavailable(sys.exc_info()[1])
    drain_body(request)
    if unavailable:
        response = JsonResponse({"detail": DatabaseUnavailable.default_detail}, status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
    return JsonResponse({"detail": "Server error."}, status=500)
