"""OpenAPI pieces shared by every endpoint: the error bodies, the error responses, strict
request bodies and the links between operations."""

from typing import Any

from django.conf import settings
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiFilterExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from api.serializers import StrictFieldsMixin

ErrorSerializer = inline_serializer(
    name="Error",
    fields={"detail": serializers.CharField(help_text="What went wrong, for a person to read.")},
)


class ValidationErrorSerializer(serializers.Serializer):
    """Stands for the body of a 400 in the schema (see ValidationErrorScheme)."""


class ValidationErrorScheme(OpenApiSerializerExtension):
    """A 400's body: each invalid field (or parameter) names its messages.

    ``{"title": ["Ensure this field has no more than 100 characters."]}``; errors not tied to
    one field are under ``non_field_errors``, and a body that is not even parsed gets
    ``{"detail": "JSON parse error - ..."}``.
    """

    target_class = ValidationErrorSerializer

    def get_name(self, auto_schema: Any, direction: Any) -> str:
        return "ValidationError"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "Each invalid field or parameter maps to its messages; errors not tied "
            "to one field are under non_field_errors, and a body that cannot be parsed is "
            "described under detail.",
            "additionalProperties": {
                "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
            },
            "example": {"title": ["Ensure this field has no more than 100 characters."]},
        }


class StrictRequestScheme(OpenApiSerializerExtension):
    """Request bodies of StrictFieldsMixin serializers: unknown fields are refused (400).

    The schema says so with ``additionalProperties: false``. Read-only fields (``url``,
    ``id``...) are accepted and ignored, so that a client may PUT back what it read: they
    are listed as readOnly (drf-spectacular drops read-only properties from request
    components, so they travel under READ_ONLY_KEY until postprocess() puts them back).
    """

    target_class = StrictFieldsMixin
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        serializer: serializers.Serializer = (
            self.target if isinstance(self.target, serializers.Serializer) else self.target()
        )
        for name, field in serializer.fields.items():
            prop = schema.get("properties", {}).get(name)
            if prop is not None and "pattern" not in prop and "format" not in prop:
                pattern = text_pattern(field)
                if pattern:
                    prop["pattern"] = pattern
        read_only = {
            name: auto_schema._map_serializer_field(field, "response")
            for name, field in serializer.fields.items()
            if field.read_only
        }
        if read_only:
            schema[READ_ONLY_KEY] = read_only
        schema["additionalProperties"] = False
        return schema


READ_ONLY_KEY = "x-accepted-read-only"
# What str.strip() removes (every character for which str.isspace() is true), spelled out so
# that every regular expression engine reads the patterns below the same way.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


def text_pattern(field: serializers.Field) -> str | None:
    """The rules of a CharField that no JSON Schema keyword states, as a pattern.

    Every CharField refuses NUL characters (400); one that trims whitespace and refuses
    blanks refuses a value of whitespace only, too.
    """
    if not isinstance(field, serializers.CharField) or isinstance(
        field, serializers.ChoiceField | serializers.EmailField | serializers.RegexField
    ):
        return None
    if field.trim_whitespace and not field.allow_blank:
        return NOT_BLANK
    return NO_NUL


def postprocess(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular's last step (POSTPROCESSING_HOOKS): read-only fields, and links."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        for name, field in schema.pop(READ_ONLY_KEY, {}).items():
            schema.setdefault("properties", {}).setdefault(name, {**field, "readOnly": True})
    _link_to_details(result.get("paths", {}))
    for operations in result.get("paths", {}).values():
        for parameter in operations.get("get", {}).get("parameters", []):
            _describe_query_parameter(parameter)
    return result


# Carried by the parameters of a filter marked ``empty_means_absent`` (below) until
# postprocess() states it as allowEmptyValue.
EMPTY_MEANS_ABSENT_KEY = "x-empty-means-absent"


def empty_means_absent(marked: object) -> bool:
    """A filter, or filter backend, reads an empty value (``?completed=``, as an HTML form sends
    an unused field) as no filter at all: it says so with ``empty_means_absent = True``."""
    return getattr(marked, "empty_means_absent", False) is True


def _mark_empty_means_absent(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for parameter in parameters:
        parameter[EMPTY_MEANS_ABSENT_KEY] = True
    return parameters


class EmptyMeansAbsentFilterSet(DjangoFilterExtension):
    """django-filter's parameters, as drf-spectacular maps them, each marked when its filter is."""

    priority = 1  # before drf-spectacular's own, which this extends

    def resolve_filter_field(
        self, auto_schema: Any, model: Any, filterset_class: Any, field_name: str, filter_field: Any
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        return _mark_empty_means_absent(parameters) if empty_means_absent(filter_field) else parameters


class EmptyMeansAbsentFilterBackend(OpenApiFilterExtension):
    """A DRF filter backend's parameters (``?search=``, ``?ordering=``), marked when it is."""

    target_class = "rest_framework.filters.BaseFilterBackend"
    match_subclasses = True

    def get_schema_operation_parameters(
        self, auto_schema: Any, *args: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = self.target.get_schema_operation_parameters(auto_schema.view)
        return _mark_empty_means_absent(parameters) if empty_means_absent(self.target) else parameters


def _describe_query_parameter(parameter: dict[str, Any]) -> None:
    if parameter.get("in") != "query":
        return
    if parameter.pop(EMPTY_MEANS_ABSENT_KEY, False):
        parameter["allowEmptyValue"] = True
    if parameter["name"] == "search":
        parameter["schema"]["pattern"] = NO_NUL  # refused with 400, like a NUL in any text
    elif parameter["name"] == "cursor":
        parameter["schema"]["minLength"] = 1  # an empty cursor is no cursor the server wrote: 400


def _link_to_details(paths: dict[str, Any]) -> None:
    """OpenAPI links from what answers a resource to the operations on it (``/x/{id}/``).

    A create's 201 (``SCHEMA_LINKED_CREATES``) and a read's 200 of the caller's own resource
    (``SCHEMA_LINKED_READS``), both named by config (api knows no app), carry the ``id`` that
    the detail operations take: clients and schemathesis' stateful phase follow them.
    """
    for path, operations in paths.items():
        if path in settings.SCHEMA_LINKED_READS:
            detail_path = settings.SCHEMA_LINKED_READS[path]
            sources = [(operations.get("get"), "200")]
        elif path in settings.SCHEMA_LINKED_CREATES:
            detail_path = path + "{id}/"
            sources = [(operations.get("post"), "201")]
        else:
            continue
        detail = paths.get(detail_path)
        if not detail:
            continue
        for operation, status in sources:
            response = (operation or {}).get("responses", {}).get(status)
            if response is None:
                continue
            links = response.setdefault("links", {})
            for method, target in detail.items():
                if method in ("get", "put", "patch", "delete") and "operationId" in target:
                    links[target["operationId"]] = {
                        "operationId": target["operationId"],
                        "parameters": {"id": "$response.body#/id"},
                        "description": f"{method.upper()} {detail_path} of the resource in this answer.",
                    }


_DESCRIPTIONS = {
    400: "The request is malformed or fails validation; the body names each bad field.",
    401: "Missing, invalid or expired credentials (see the WWW-Authenticate header).",
    403: "Authenticated, but not allowed to do this.",
    404: "No such resource, or one the caller may not see.",
    405: "The method is not allowed here.",
    412: "The precondition (If-Match) failed.",
    413: "The request body is over the size limit.",
    415: "The request's Content-Type is not supported.",
    429: "Too many requests; retry after the number of seconds in Retry-After.",
}


def ERROR_RESPONSES(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(
            response=ValidationErrorSerializer if code == 400 else ErrorSerializer,
            description=_DESCRIPTIONS[code],
        )
        for code in codes
    }
