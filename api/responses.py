"""Answers of the hot paths: the reads, and the task a write leaves."""

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from api.renderers import ORJSONRenderer


def negotiated(
    request: Request, data: Any, headers: dict[str, str] | None = None, status: int = 200
) -> HttpResponse:
    """``Response(data, status=status, headers=headers)``: made at once when the client
    negotiated plain JSON.

    A DRF Response is a template response rendered after the view returns, by a renderer
    looked up again then, with a context built for it: for one task that machinery cost
    about a tenth of the request. When content negotiation chose the JSON renderer with no
    parameters (``indent``), the same renderer writes the same bytes here, under the same
    Content-Type; DRF still adds its headers (Allow, Vary) and handles every exception.
    Anything else (the browsable API, XML, a calendar) is answered by Response as usual.
    """
    renderer = request.accepted_renderer
    if type(renderer) is not ORJSONRenderer or request.accepted_media_type != renderer.media_type:
        return Response(data, status=status, headers=headers)
    response = HttpResponse(renderer.render(data), content_type=renderer.media_type, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
