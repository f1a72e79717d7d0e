"""orjson in, orjson out: the bytes a client sees are exactly DRF's."""

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail, ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict

from api.renderers import ORJSONParser, ORJSONRenderer

SAMPLES = [
    {"url": "http://testserver/tasks/1/", "id": 1, "title": "First one", "completed": False, "x": None},
    {"title": "ünïcødé ✓ 漢字 \U0001f600", "quote": 'say "hi"\\', "controls": "\n\t\r\x00\x1f\x7f"},
    {"separators": "line\u2028paragraph\u2029end", "slash": "a/b"},
    {
        "due": datetime(2016, 10, 18, 19, 12, 1, tzinfo=UTC),
        "precise": datetime(2016, 10, 18, 19, 12, 1, 5, tzinfo=UTC),
    },
    {"uuid": UUID("12345678-1234-5678-1234-567812345678"), "decimal": Decimal("1.50")},
    {"lazy": gettext_lazy("Not found."), "detail": ErrorDetail("Bad.", code="invalid")},
    ReturnDict({"title": [ErrorDetail("This field may not be blank.", code="blank")]}, serializer=None),
    {"next": None, "previous": None, "results": [{"id": n, "big": 2**53 + n} for n in range(3)]},
    [1, "two", [3.5, {"four": True}]],
]


@pytest.mark.parametrize("data", SAMPLES)
def test_rendered_bytes_are_drfs(data: object) -> None:
    assert ORJSONRenderer().render(data, "application/json") == JSONRenderer().render(
        data, "application/json"
    )


def test_indented_output_is_still_drfs() -> None:
    media_type = "application/json; indent=4"
    assert ORJSONRenderer().render(SAMPLES[0], media_type) == JSONRenderer().render(SAMPLES[0], media_type)


class Stream:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body


@pytest.mark.parametrize(
    "body",
    [b"[" * 5000 + b"]" * 5000, b'{"title": "\\ud800"}', b'{"title": "x",', b"NaN", b"\xff\xfe"],
    ids=["deeply nested", "lone surrogate", "truncated", "NaN", "not UTF-8"],
)
def test_hostile_bodies_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        ORJSONParser().parse(Stream(body))
