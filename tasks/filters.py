from datetime import UTC, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from tasks.models import Task


class StrictBooleanField(forms.Field):
    """``true``/``false`` (or ``1``/``0``); absent or empty means no filter.

    django-filter's boolean widget turns anything else into "no filter", so
    ``?completed=maybe`` would quietly list every task: a typo is a 400 here instead.
    """

    widget = forms.TextInput
    default_error_messages = {"invalid": "Must be true or false."}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        parsed = {"true": True, "1": True, "false": False, "0": False}.get(str(value).lower())
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField
    empty_means_absent = True  # as StrictBooleanField reads it; the schema says so (api.schema)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput)  # not BooleanWidget, which swallows errors
        super().__init__(*args, **kwargs)


class InstantField(IsoDateTimeField):
    """An ISO 8601 instant with its offset, that exists in UTC.

    Without an offset (``2030-01-01T12:00:00``, or a date alone) it is refused, as a task's
    ``due_to`` is: it would mean different instants to different clients. And
    ``0001-01-01T00:00:00+01:00`` parses, but falls before year 1 in UTC: the database
    adapter would raise OverflowError (a 500) where this is a 400.
    """

    default_error_messages = {
        "naive": "Give a timezone offset, e.g. 2016-10-18T19:12:01Z or 2016-10-18T21:12:01+02:00.",
    }

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str) and value.strip():
            text = value.strip()
            try:
                parsed = parse_datetime(text)
                day = None if parsed else parse_date(text)
            except ValueError:  # well formed, but no such date or time
                parsed = day = None
            if (parsed is not None and parsed.tzinfo is None) or day is not None:
                raise ValidationError(self.error_messages["naive"], code="naive")
        instant = super().to_python(value)
        if instant is None:
            return None
        try:
            return instant.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Datetime value out of range.", code="invalid") from exc


class InstantFilter(filters.IsoDateTimeFilter):
    field_class = InstantField
    empty_means_absent = True  # django-filter skips an empty value; the schema says so (api.schema)


# The largest id these filters take: 18 digits, within a BigAutoField (and the schema says so).
MAX_RESOURCE_ID = 10**18 - 1


class ResourceIdField(forms.Field):
    """The id of a resource of this API (``7``), ASCII digits from 1 to MAX_RESOURCE_ID.
    Empty means no filter."""

    widget = forms.TextInput

    def __init__(self, *args: Any, collection: str, **kwargs: Any) -> None:
        self.collection = collection
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> int | None:
        if value in (None, ""):
            return None
        number = str(value).strip()
        # ASCII digits only: str.isdigit() takes other scripts' digits too.
        if not (number.isascii() and number.isdigit() and len(number) <= 18 and int(number) >= 1):
            raise ValidationError(
                f"Give the id of one of /{self.collection}/, a whole number.", code="invalid"
            )
        return int(number)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_RESOURCE_ID})
class ResourceIdFilter(filters.NumberFilter):
    empty_means_absent = True  # as ResourceIdField reads it; the schema says so (api.schema)

    def __init__(self, *args: Any, collection: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra["collection"] = collection

    field_class = ResourceIdField


class TaskFilter(filters.FilterSet):
    due_after = InstantFilter(
        field_name="due_to",
        lookup_expr="gte",
        label="Due at or after this instant (ISO 8601, with its offset).",
    )
    due_before = InstantFilter(
        field_name="due_to",
        lookup_expr="lt",
        label="Due strictly before this instant (ISO 8601, with its offset).",
    )
    completed = StrictBooleanFilter()
    project = ResourceIdFilter(
        field_name="project_id", collection="projects", label="In this project (its id)."
    )
    person = ResourceIdFilter(
        field_name="person_id", collection="users", label="Assigned to this user (their id)."
    )
    assigned_to_me = StrictBooleanFilter(
        method="filter_assigned_to_me", label="Assigned to the caller (true), or to anyone else (false)."
    )
    overdue = StrictBooleanFilter(method="filter_overdue", label="Past due and not completed.")

    class Meta:
        model = Task
        fields = ["completed"]

    def filter_assigned_to_me(self, queryset: QuerySet[Task], name: str, value: bool) -> QuerySet[Task]:
        mine = Q(person_id=self.request.user.pk)
        return queryset.filter(mine if value else ~mine)

    def filter_overdue(self, queryset: QuerySet[Task], name: str, value: bool) -> QuerySet[Task]:
        overdue = Q(due_to__lt=timezone.now(), completed=False)
        return queryset.filter(overdue if value else ~overdue)
