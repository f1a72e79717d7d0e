"""What every app's admin shares: a search that stays within what the database can run."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import smart_split

from api.filters import MAX_SEARCH_TERMS


class BoundedSearchMixin(admin.ModelAdmin):
    """The admin's search with at most MAX_SEARCH_TERMS terms (see api.filters): each term ANDs
    one more group of LIKE conditions into the query, and about 1,100 were a 500 on SQLite."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if len(list(smart_split(search_term))) > MAX_SEARCH_TERMS:
            messages.error(request, f"Search with at most {MAX_SEARCH_TERMS} words.")
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)
