"""DRF's content negotiation, with the answer to what nearly every API client sends known ahead."""

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Accept headers whose answer is the first (default) renderer when that renderer is JSON:
# DRF would pick it too, after building the request's header mapping and parsing the header.
_JSON_ACCEPTS = frozenset({"application/json", "*/*"})


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        if (
            renderers
            and renderers[0].media_type == "application/json"
            and format_suffix is None
            and request.META.get("HTTP_ACCEPT", "*/*").strip() in _JSON_ACCEPTS
            and (
                not request.META.get("QUERY_STRING")
                or self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            )
        ):
            return renderers[0], "application/json"
        renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        return renderer, media_type
