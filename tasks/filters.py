from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from tasks.models import Task


class TaskFilter(filters.FilterSet):
    due_after = filters.IsoDateTimeFilter(
        field_name="due_to", lookup_expr="gte", label="Due at or after this instant (ISO 8601)."
    )
    due_before = filters.IsoDateTimeFilter(
        field_name="due_to", lookup_expr="lt", label="Due strictly before this instant (ISO 8601)."
    )
    completed = filters.BooleanFilter()
    overdue = filters.BooleanFilter(method="filter_overdue", label="Past due and not completed.")

    class Meta:
        model = Task
        fields = ["completed"]

    def filter_overdue(self, queryset: QuerySet[Task], name: str, value: bool) -> QuerySet[Task]:
        overdue = Q(due_to__lt=timezone.now(), completed=False)
        return queryset.filter(overdue if value else ~overdue)
