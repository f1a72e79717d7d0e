from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


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
