from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe
from rest_framework import permissions, routers


class PublicAPIRootView(routers.APIRootView):
    """The service's entry point: a link to each collection."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []


class Router(routers.DefaultRouter):
    APIRootView = PublicAPIRootView
    include_format_suffixes = False


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answering."""
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the cache both answer: ready for traffic (else 503)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        cache.set("readyz", "1", 5)
        checks["cache"] = "ok" if cache.get("readyz") == "1" else "unavailable: read back failed"
    except Exception as exc:
        checks["cache"] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
    if not ready:
        response["Retry-After"] = "5"
    return response
