"""XML in and out (``application/xml``): the same resources as the JSON, element for field.

rest_framework_xml gives the layout: a ``<root>`` element, one child element per field, a
``<list-item>`` per entry of a list. Where the library would make XML and JSON disagree,
the classes below differ from it:

- Values are written as the JSON writes them: ``true``/``false``, instants in ISO 8601 in
  UTC with ``Z``, numbers and text as they are. The library writes Python's ``True`` and
  ``2016-10-18 19:12:01+00:00``.
- ``null`` is an element marked ``xsi:nil="true"`` (XML Schema's own way), and an empty
  element is the empty string. The library writes and reads both as an empty element, so a
  user's empty ``email`` read back as null and could not be written back.
- Text stays text. The library guesses types from the text: ``007`` became the number 7,
  and ``2016-10-18 19:12:01`` a naive datetime that no longer met the check for an offset.
  The serializers convert values here as they convert JSON strings and form fields, so a
  write in XML means what the same write means in JSON.
- Parsing is bounded. DTDs are refused (defusedxml), so no entity is ever declared: no
  billion laughs, no external entity. Nesting is capped (the library converts recursively,
  so deep nesting was a RecursionError, a 500), and so is the number of elements.
"""

import re
from collections.abc import Mapping
from io import StringIO
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder
from xml.sax.saxutils import escape
from xml.sax.xmlreader import AttributesImpl

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused
from django.utils.http import parse_header_parameters
from django.utils.xmlutils import SimplerXMLGenerator
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder
from rest_framework_xml import parsers, renderers

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NIL = f"{{{XSI}}}nil"
# Far beyond any body the API takes (a user is 2 levels and a dozen elements deep).
MAX_DEPTH = 32
MAX_ELEMENTS = 10_000
# A dict key that can be written as an element name as it is: the API's field names. Any
# other key (an unknown field a client sent, echoed in a 400) is written as
# <field name="...">. Names starting with "xml" are reserved by XML 1.0 (§2.3).
ELEMENT_NAME = re.compile(r"(?!(?i:xml))[A-Za-z_][A-Za-z0-9_.-]*\Z")
# What XML 1.0 cannot carry at all, even as a character reference (§2.2 Char).
NOT_XML_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A raw CR would be read back as LF (§2.11 end-of-line handling): written as a reference.
TEXT_ESCAPES = {"\r": "&#13;"}
_json = JSONEncoder()


class _XMLWriter(SimplerXMLGenerator):
    def characters(self, content: str) -> None:
        # Text the API holds but XML 1.0 cannot (control characters, which a JSON title may
        # carry) becomes U+FFFD: one task's title must not make the whole page unreadable.
        text = escape(NOT_XML_CHARACTERS.sub("\ufffd", content), TEXT_ESCAPES)
        self.ignorableWhitespace(text)  # writes its argument as it is: already escaped


class XMLRenderer(renderers.XMLRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        stream = StringIO()
        xml = _XMLWriter(stream, self.charset)
        xml.startDocument()
        xml.startElement(self.root_tag_name, AttributesImpl({"xmlns:xsi": XSI}))
        self._to_xml(xml, data)
        xml.endElement(self.root_tag_name)
        xml.endDocument()
        return stream.getvalue().encode(self.charset)

    def _element(self, xml: SimplerXMLGenerator, name: str, value: Any) -> None:
        attributes = {} if ELEMENT_NAME.match(name) else {"name": name}
        tag = name if not attributes else "field"
        if value is None:
            attributes["xsi:nil"] = "true"
        xml.startElement(tag, AttributesImpl(attributes))
        self._to_xml(xml, value)
        xml.endElement(tag)

    def _to_xml(self, xml: SimplerXMLGenerator, data: Any) -> None:
        if isinstance(data, Mapping):
            for key, value in data.items():
                self._element(xml, str(key), value)
        elif isinstance(data, list | tuple):
            for item in data:
                self._element(xml, self.item_tag_name, item)
        elif data is None:
            pass
        elif isinstance(data, bool):
            xml.characters("true" if data else "false")
        elif isinstance(data, str):
            xml.characters(data)
        elif isinstance(data, int | float):
            xml.characters(str(data))
        else:
            # Instants, decimals, UUIDs, lazy text...: as the JSON renderers write them.
            self._to_xml(xml, _json.default(data))


class _BoundedTreeBuilder(TreeBuilder):
    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.elements = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"XML parse error - nested deeper than {MAX_DEPTH} elements.")
        if self.elements > MAX_ELEMENTS:
            raise ParseError(f"XML parse error - more than {MAX_ELEMENTS} elements.")
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self.depth -= 1
        return super().end(tag)


class XMLParser(parsers.XMLParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # RFC 7303 §3.2: a charset parameter decides the encoding; without one, the document
        # does (its byte order mark or XML declaration, else UTF-8).
        charset = parse_header_parameters(media_type or "")[1].get("charset") or None
        parser = defused.DefusedXMLParser(target=_BoundedTreeBuilder(), encoding=charset, forbid_dtd=True)
        try:
            while chunk := stream.read(65536):
                parser.feed(chunk)
            root = parser.close()
        except DefusedXmlException as exc:
            raise ParseError("XML parse error - DTDs and entity declarations are not accepted.") from exc
        except (defused.ParseError, ValueError, LookupError) as exc:
            raise ParseError(f"XML parse error - {exc}") from exc
        return self._xml_convert(root)

    def _xml_convert(self, element: Element) -> Any:
        if element.get(NIL) in ("true", "1"):
            return None
        if len(element) == 0:
            return element.text or ""
        return super()._xml_convert(element)

    def _type_convert(self, value: Any) -> Any:
        return value


def schema_without_format_override(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular hook (POSTPROCESSING_HOOKS): ``?format=`` stays out of the document.

    Clients choose a representation with the Accept header, which the document describes
    per response. The query parameter is DRF's shortcut for a browser's address bar; with
    two representations drf-spectacular would list it on every operation, where a value
    it does not name is a 404 that no operation documents.
    """
    name = api_settings.URL_FORMAT_OVERRIDE
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "parameters" in operation:
                kept = [
                    parameter
                    for parameter in operation["parameters"]
                    # An operation's own ``format`` (GET /tasks/export/: the archive's) is kept:
                    # drf-spectacular's automatic one is the one without a description.
                    if not (
                        parameter.get("in") == "query"
                        and parameter.get("name") == name
                        and "description" not in parameter
                    )
                ]
                if kept:
                    operation["parameters"] = kept
                else:
                    del operation["parameters"]
    return result
