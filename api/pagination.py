"""Keyset ("cursor") pagination over any ordering, with ``id`` as the tie-breaker.

DRF's CursorPagination positions on the first ordering field only and skips ties with an
OFFSET, which degrades to a scan when many rows share a due date. Here the cursor carries
the whole sort key of the boundary row, so every page is one indexed range query and no
page needs a COUNT(*), however deep.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from api.caches import BoundedCache

Row = Model | dict[str, Any]


def _in_utc(value: datetime) -> datetime:
    """A cursor's instant as the database will compare it.

    Cursors this paginator writes always carry an offset; a naive one is forged. An offset
    can also push an instant out of range (``0001-01-01T00:00:00+01:00``), which the database
    adapter would only discover as an OverflowError, i.e. a 500.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime in a cursor")
    return value.astimezone(UTC)


def _sort_key(ordering: Sequence[str]) -> list[tuple[str, bool]]:
    """``["-due_to", "id"]`` -> ``[("due_to", True), ("id", False)]``, ending in ``id``.

    A field after its first place sorts nothing (rows equal on it stay equal), so it is left
    out: the condition of beyond() grows with the square of the key, which is then at most
    the model's fields, whatever order_by a queryset carries. (Clients naming a field twice
    get a 400 from api.ordering before this.)
    """
    key: dict[str, bool] = {}
    for term in ordering:
        name = term.lstrip("-")
        key.setdefault("id" if name == "pk" else name, term.startswith("-"))
    if "id" not in key:
        key["id"] = list(key.values())[-1] if key else False
    return list(key.items())


@dataclass(frozen=True)
class PageQuery:
    """What one page asks of the database: the sort key, where to start, which way, how many."""

    key: list[tuple[str, bool]]
    start: list[Any] | None  # the sort key of the boundary row; None for the first page
    backwards: bool
    limit: int

    @property
    def shape(self) -> tuple[Any, ...]:
        """Everything but the values: pages of one shape share their SQL."""
        return (tuple(self.key), self.start is not None, self.backwards, self.limit)

    @property
    def slots(self) -> dict[str, Any]:
        return {f"key{i}": value for i, value in enumerate(self.start or [])}

    def apply(self, queryset: QuerySet[Any], slots: dict[str, Any] | None = None) -> QuerySet[Any]:
        """The page of ``queryset``; ``slots`` stand in for the start values when given."""
        queryset = queryset.order_by(*(f"-{name}" if desc else name for name, desc in self.key))
        if self.start is not None:
            start = [slots[f"key{i}"] for i in range(len(self.key))] if slots else self.start
            queryset = queryset.filter(self.beyond(start))
        if self.backwards:
            queryset = queryset.reverse()
        return queryset[: self.limit]

    def beyond(self, values: list[Any]) -> Q:
        """Rows strictly after (or before) ``values`` in the sort order, lexicographically."""
        condition = Q()
        for i, (name, desc) in enumerate(self.key):
            step = "lt" if desc != self.backwards else "gt"
            term = Q(**{f"{name}__{step}": values[i]})
            for j in range(i):
                term &= Q(**{self.key[j][0]: values[j]})
            condition |= term
        return condition


# URLs come from clients: bounded, so memory stays flat. () for a URL with no template.
_templates: BoundedCache[tuple[str, str], tuple[str, str] | tuple[()]] = BoundedCache(
    "pagination.templates", 1024
)


def _link_template(url: str, param: str) -> tuple[str, str] | None:
    """(head, tail) such that ``head + cursor + tail`` is ``replace_query_param(url, param,
    cursor)``, or None where the URL does not allow it.

    DRF's replace_query_param() parses and re-encodes the whole URL for every link. A
    cursor is URL-safe base64 text, which URL encoding leaves as it is, so what surrounds it
    is worked out once per URL, by DRF's own function with a stand-in for the cursor.
    """
    known = _templates.get((url, param))
    if known is not None:
        return known or None
    marker = "0" * 16
    parts = replace_query_param(url, param, marker).split(f"{param}={marker}")
    # The stand-in must come out in one place only: a URL may already hold the same text.
    template = (f"{parts[0]}{param}=", parts[1]) if len(parts) == 2 else None
    _templates.put((url, param), template or ())
    return template


class KeysetPagination(BasePagination):
    page_size = 100
    max_page_size = 1000
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    # The stubs' generic signature cannot be restated here; this paginator takes querysets only.
    def paginate_queryset(
        self,
        queryset: QuerySet[Any],  # type: ignore[override]
        request: Request,
        view: APIView | None = None,
    ) -> list[Any]:
        ordering = [str(name) for name in queryset.query.order_by or queryset.model._meta.ordering]
        return self.paginate(request, ordering, queryset.model, lambda page: list(page.apply(queryset)))

    def paginate(
        self,
        request: Request,
        ordering: Sequence[str],
        model: type[Model],
        fetch: Callable[[PageQuery], list[Any]],
    ) -> list[Any]:
        """The rows of the page ``request`` asks for; ``fetch`` runs the page's query."""
        self.request = request
        self.size = self.get_page_size(request)
        self.key = _sort_key(ordering)
        self.model = model
        cursor = self.decode_cursor(request)
        backwards = cursor is not None and cursor[0] == "p"
        rows = fetch(PageQuery(self.key, cursor[1] if cursor else None, backwards, self.size + 1))
        more = len(rows) > self.size
        rows = rows[: self.size]
        if backwards:
            rows.reverse()
            self.next_key = self.row_key(rows[-1]) if rows else None
            self.previous_key = self.row_key(rows[0]) if more and rows else None
        else:
            self.next_key = self.row_key(rows[-1]) if more else None
            self.previous_key = self.row_key(rows[0]) if cursor is not None and rows else None
        return rows

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError({"page_size": [f"Must be a whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def row_key(self, row: Row) -> list[Any]:
        if isinstance(row, dict):
            return [row[name] for name, _ in self.key]
        return [getattr(row, name) for name, _ in self.key]

    def encode_cursor(self, direction: str, values: list[Any]) -> str:
        ordering = [f"-{n}" if desc else n for n, desc in self.key]
        raw = json.dumps({"d": direction, "o": ordering, "k": values}, default=str, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode_cursor(self, request: Request) -> tuple[str, list[Any]] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        invalid = ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        try:
            raw = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            direction, ordering, values = raw["d"], raw["o"], raw["k"]
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise invalid from exc
        if direction not in ("n", "p") or ordering != [f"-{n}" if d else n for n, d in self.key]:
            raise ValidationError({self.cursor_query_param: ["The cursor belongs to another ordering."]})
        if not isinstance(values, list) or len(values) != len(self.key):
            raise invalid
        try:
            fields: list[Any] = [self.model._meta.get_field(name) for name, _ in self.key]
            typed = [field.to_python(value) for field, value in zip(fields, values, strict=True)]
        except (FieldDoesNotExist, DjangoValidationError, TypeError) as exc:
            raise invalid from exc
        if any(value is None for value in typed):
            raise invalid
        # A forged cursor may carry what no row holds and a driver would choke on.
        if any(
            (isinstance(value, int) and not -(2**63) <= value < 2**63)
            or (isinstance(value, str) and "\x00" in value)
            for value in typed
        ):
            raise invalid
        try:
            typed = [_in_utc(value) if isinstance(value, datetime) else value for value in typed]
        except (ValueError, OverflowError) as exc:
            raise invalid from exc
        return direction, typed

    def link(self, direction: str, values: list[Any] | None) -> str | None:
        if values is None:
            return None
        url, cursor = self.request.build_absolute_uri(), self.encode_cursor(direction, values)
        template = _link_template(url, self.cursor_query_param)
        if template is None:
            return replace_query_param(url, self.cursor_query_param, cursor)
        return template[0] + cursor + template[1]

    def get_paginated_data(self, data: Any) -> dict[str, Any]:
        """The page's envelope: ``next``, ``previous``, ``results``."""
        return {
            "next": self.link("n", self.next_key),
            "previous": self.link("p", self.previous_key),
            "results": data,
        }

    def get_paginated_response(self, data: Any) -> Response:
        return Response(self.get_paginated_data(data))

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The page to read: the cursor from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page, 1 to {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
