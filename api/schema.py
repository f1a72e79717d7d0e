"""OpenAPI pieces shared by every endpoint: the error body and the error responses."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={"detail": serializers.CharField(help_text="What went wrong, for a person to read.")},
)
ValidationErrorSerializer = inline_serializer(
    name="ValidationError",
    fields={
        "field_name": serializers.ListField(
            child=serializers.CharField(),
            help_text="Each invalid field maps to its messages; errors not tied to one field "
            "are under non_field_errors.",
        )
    },
)

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
