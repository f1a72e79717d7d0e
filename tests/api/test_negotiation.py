"""The shortcut in api.negotiation must pick exactly what DRF's own negotiation picks."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api.negotiation import ContentNegotiation
from api.renderers import ORJSONRenderer

RENDERERS = [ORJSONRenderer(), BrowsableAPIRenderer()]


def chosen(negotiation: DefaultContentNegotiation, accept: str | None, query: str = "") -> tuple[type, str]:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/tasks/{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, RENDERERS)
    except NotAcceptable:
        return NotAcceptable, ""
    return type(renderer), media_type


@pytest.mark.parametrize(
    ("accept", "query"),
    [
        (None, ""),
        ("application/json", ""),
        (" application/json ", ""),
        ("*/*", ""),
        ("", ""),  # present but empty: DRF finds no acceptable type
        ("application/json; indent=4", ""),
        ("text/html", ""),
        ("text/html,application/xhtml+xml,*/*;q=0.8", ""),
        ("application/json", "?format=api"),
        ("*/*", "?format=json"),
        ("application/xml", ""),
    ],
)
def test_same_choice_as_drf(accept: str | None, query: str) -> None:
    assert chosen(ContentNegotiation(), accept, query) == chosen(DefaultContentNegotiation(), accept, query)


def test_shortcut_only_when_json_is_the_default() -> None:
    request = Request(APIRequestFactory().get("/tasks/", HTTP_ACCEPT="*/*"))
    renderer, media_type = ContentNegotiation().select_renderer(
        request, [BrowsableAPIRenderer(), ORJSONRenderer()]
    )
    assert isinstance(renderer, BrowsableAPIRenderer)
    assert media_type == "text/html"
