import logging
import os
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.utils.functional import LazyObject, empty

from api.logging import request_id

access_log = logging.getLogger("api.access")
# A caller's own id is kept when it is short and plain (a UUID, a trace id such as AWS's
# "Root=1-5759e988-bd862e3fe1be46a994272793"): it goes into headers and log lines as is, and
# the bound keeps a token pasted there out of them.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,63}")


class RequestIdMiddleware:
    """Give every request an id (the caller's ``X-Request-ID`` if well formed) and log it once.

    The id is answered in ``X-Request-ID`` and stamped on every log line written while the
    request is served (api.logging.RequestIdFilter). The access log line names the method,
    the path, the status, the duration and the user, and nothing else: no query string, no
    header, no cookie, no body, which is where tokens and passwords travel.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        # 128 random bits in hex, as uuid4().hex minus the UUID object's making.
        rid = incoming if incoming and REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            if access_log.isEnabledFor(logging.INFO):
                self.log(request, response, time.perf_counter() - started)
            return response
        finally:
            request_id.reset(token)

    @staticmethod
    def log(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
        path = request.path
        if not path.isprintable():  # a %0A in the URL must not start a forged line in plain logs
            path = path.encode("unicode_escape").decode("ascii")
        duration_ms = round(seconds * 1000, 1)
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": _user_id(request),
            },
        )


def _user_id(request: HttpRequest) -> int | str | None:
    user = getattr(request, "user", None)
    # AuthenticationMiddleware's lazy user is left alone unless something (DRF's
    # authentication, a permission check) already loaded it: loading it here would cost a
    # session query on requests that never needed one.
    if user is None or (isinstance(user, LazyObject) and user._wrapped is empty):
        return None
    return user.pk if user.is_authenticated else None


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on what carried credentials, unless the view chose its own.

    Credentials travel in the Authorization header (Bearer), the session cookie, or the body
    of an unsafe request (a login's password, a refresh token): the response to any of them
    is somebody's own data or a token, and no cache, shared or the browser's, may keep it.
    That includes the errors of /auth/ endpoints, which DRF answers without the views'
    headers. Only headers are looked at: nothing here touches the session or the database.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.session_cookie: str = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        bearer = "HTTP_AUTHORIZATION" in request.META
        if bearer:
            # What the view chose for one caller must not be served to another: a private
            # cache keyed on the URL alone would hand the previous user's answer to the next.
            if response.headers.get("Vary") == "Accept":  # what every DRF view answers
                response.headers["Vary"] = "Accept, Authorization"
            else:
                patch_vary_headers(response, ("Authorization",))
        if "Cache-Control" not in response and (
            bearer or self.session_cookie in request.COOKIES or request.method not in self.SAFE_METHODS
        ):
            response["Cache-Control"] = "no-store"
        return response


class RequestSizeLimitMiddleware:
    """Refuse a body over ``REQUEST_MAX_BYTES`` with a JSON 413 before anything reads it.

    DRF's parsers read the request stream directly, past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check, so the limit is enforced here on Content-Length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.limit: int = settings.REQUEST_MAX_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit():
            return JsonResponse({"detail": "The Content-Length header is malformed."}, status=400)
        if int(length) > self.limit:
            return JsonResponse(
                {"detail": f"The request body is over the limit of {self.limit} bytes."}, status=413
            )
        return self.get_response(request)
