"""``?ordering=``, refused when it names a field twice or more fields than may be sorted on.

DRF's OrderingFilter takes any number of terms and drops only unknown ones, so ``title``
given 240 times made a sort key of 241 fields, and the keyset condition a cursor adds
(api/pagination.py) grows with the square of the key: a megabyte of SQL per request. A
field sorts once; naming it again, in either direction, changes nothing but the cost. A
clear 400 says so, before any query, rather than a silent rewrite of what was asked.
"""

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.views import APIView


class BoundedOrderingFilter(OrderingFilter):
    empty_means_absent = True  # ``?ordering=`` is the default order (api.schema says so)
    ordering_description = (
        "Fields to sort by, comma-separated, each at most once; `-` before a field sorts it "
        "descending (`-due_to,title`). Ties are broken by id."
    )

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> Sequence[str] | None:
        self.refuse_unbounded(request.query_params.get(self.ordering_param, ""), queryset, view, request)
        return super().get_ordering(request, queryset, view)

    def refuse_unbounded(self, param: str, queryset: QuerySet[Any], view: APIView, request: Request) -> None:
        terms = [term.strip() for term in param.split(",") if term.strip()]
        fields = self.get_valid_fields(queryset, view, {"request": request})
        if len(terms) > len(fields):
            raise ValidationError({self.ordering_param: [f"At most {len(fields)} fields, each once."]})
        seen: set[str] = set()
        for term in terms:
            name = term[1:] if term.startswith("-") else term  # as OrderingFilter reads a term
            if name in seen:
                raise ValidationError(
                    {self.ordering_param: [f"Each field at most once: {name} is given more than once."]}
                )
            seen.add(name)
