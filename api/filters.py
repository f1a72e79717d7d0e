"""``?search=``, bounded: DRF's SearchFilter with a limit on what one query may ask for."""

from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.views import APIView

# Each term is one more LIKE condition ANDed into the WHERE clause: about 1,100 of them made
# SQLite refuse the query ("Expression tree is too large", SQLITE_MAX_EXPR_DEPTH 1000), a
# 500. A person types a few words; 20 is many, and the SQL stays small on every database.
MAX_SEARCH_TERMS = 20
# The longest text searched is a task's title (100 characters): a longer term matches
# nothing. SQLite also refuses a LIKE pattern past 50,000 bytes (SQLITE_MAX_LIKE_PATTERN_LENGTH).
MAX_SEARCH_TERM_LENGTH = 100


class BoundedSearchFilter(SearchFilter):
    empty_means_absent = True  # ``?search=`` searches nothing (api.schema says so)
    search_description = (
        f"Words that must all be found, in any case; a phrase in quotes is one word. At most "
        f"{MAX_SEARCH_TERMS} words of at most {MAX_SEARCH_TERM_LENGTH} characters each."
    )

    def get_search_terms(self, request: Request) -> list[str]:
        terms: list[str] = super().get_search_terms(request)
        if len(terms) > MAX_SEARCH_TERMS:
            raise ValidationError({self.search_param: [f"Give at most {MAX_SEARCH_TERMS} search terms."]})
        if any(len(term) > MAX_SEARCH_TERM_LENGTH for term in terms):
            raise ValidationError(
                {self.search_param: [f"A search term has at most {MAX_SEARCH_TERM_LENGTH} characters."]}
            )
        return terms

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        if not self.get_search_fields(view, request):
            return queryset  # ?search= means nothing here: neither read nor refused
        filtered: QuerySet[Any] = super().filter_queryset(request, queryset, view)
        return filtered
