"""JSON in and out through orjson, byte for byte what DRF's own JSON renderer writes.

DRF's renderer spends more time encoding a page of 100 tasks than the database spends
finding it. orjson writes the same compact JSON; the differences left are handled here:
DRF escapes U+2028 and U+2029 (for JavaScript), and falls back to its own encoder for
types orjson does not know (lazy strings, decimals, querysets).
"""

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder()
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class ORJSONRenderer(JSONRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        if accepted_media_type and "indent" in accepted_media_type:
            return super().render(data, accepted_media_type, renderer_context)  # rare: human-formatted
        rendered = orjson.dumps(data, default=_fallback.default, option=_OPTIONS)
        if b"\xe2\x80" in rendered:
            rendered = rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return rendered


class ORJSONParser(JSONParser):
    """Also refuses what the standard library would choke on: nesting past 1024 levels
    (a RecursionError there, a 500) and lone surrogates."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
