"""Conditional requests (RFC 9110 §13): ETag, If-None-Match, If-Match."""

import hashlib
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since you read it (If-Match did not match its ETag)."
    default_code = "precondition_failed"


class PreconditionRequired(APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "This change needs an If-Match header."
    default_code = "precondition_required"


def etag(resource_id: Any, version: str) -> str:
    """A strong ETag from a resource's id and its last-modified instant, as the text the
    API writes for it."""
    return '"' + hashlib.sha256(f"{resource_id}:{version}".encode()).hexdigest()[:20] + '"'


def _listed(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


def not_modified(request: Request, current: str) -> bool:
    """If-None-Match names the current ETag (or *): the client's copy is fresh (§13.1.2)."""
    header = request.META.get("HTTP_IF_NONE_MATCH")  # not request.headers: that maps every header
    if header is None:
        return False
    tags = _listed(header)
    # Weak comparison for If-None-Match: W/"x" matches "x".
    return "*" in tags or current in {tag.removeprefix("W/") for tag in tags}


def require_match(request: Request, current: str) -> None:
    """If-Match, when sent, must name the current ETag (strong comparison, §13.1.1)."""
    header = request.META.get("HTTP_IF_MATCH")
    if header is None:
        return
    tags = _listed(header)
    if "*" not in tags and current not in tags:
        raise PreconditionFailed()
