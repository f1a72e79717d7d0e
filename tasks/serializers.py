from collections.abc import Callable
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from api.serializers import AwareDateTimeField, CopiedFieldsMixin, StrictFieldsMixin, TextField
from projects.models import Project
from projects.permissions import projects_visible_to, users_sharing_a_project
from tasks.models import TITLE_MAX_LENGTH
from tasks.recurrence import EXAMPLE, HORIZON_YEARS, MAX_COUNT, MAX_LENGTH, RecurrenceError, recurrence_text
from users.models import User


class VisibleProjectField(serializers.HyperlinkedRelatedField):
    """A project the caller sees, with the caller's role in it (``caller_role``); a project
    the caller does not see gets the same 400 as a URL that names none."""

    def get_queryset(self) -> QuerySet[Project]:
        return projects_visible_to(self.context["request"].user)


class PersonField(serializers.HyperlinkedRelatedField):
    """A user who is a member of a project the caller is a member of (staff: anyone): who the
    caller may name as a task's person, and who the browsable API's form lists. Anyone else's
    URL gets the same 400 as a URL that names no one, so the answer does not reveal who exists;
    task_placement then holds the person to the task's own project."""

    def get_queryset(self) -> QuerySet[User]:
        return users_sharing_a_project(self.context["request"].user)


class RecurrenceField(TextField):
    """An RFC 5545 RRULE, or null (stored as the empty text); checked and put in its stored
    form by tasks.recurrence."""

    default_error_messages = {"blank": f"Give a rule, e.g. {EXAMPLE}, or null for none."}

    def to_internal_value(self, data: Any) -> str:
        try:
            return recurrence_text(super().to_internal_value(data))
        except RecurrenceError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]  # null for none
        return value or None


RECURRENCE_HELP = (
    f"An RFC 5545 RRULE value, e.g. {EXAMPLE}, or null for none (with or without RRULE:, in any "
    "case; answered in upper case, FREQ first). Its start (DTSTART) is due_to, and it is read in "
    "UTC: BYDAY=MO is a Monday in UTC. FREQ is DAILY, WEEKLY, MONTHLY or YEARLY; BYHOUR, "
    "BYMINUTE and BYSECOND are refused (the time of day is due_to's), and so is a DTSTART; "
    f"UNTIL is a UTC date-time (20301231T235959Z); COUNT (at most {MAX_COUNT}) is the number of "
    "occurrences left, this one included, and goes down by one at each completion. Completing "
    "the task moves due_to to the next occurrence after it, looked for within "
    f"{HORIZON_YEARS} years (so INTERVAL is at most {HORIZON_YEARS} years' worth), and leaves it "
    "open; when there is none, the task is completed."
)


class TaskSerializer(CopiedFieldsMixin, StrictFieldsMixin, serializers.Serializer):
    """A task as clients write it; reads are built by tasks.reads with the same shape.

    Fields are declared rather than derived from the model (ModelSerializer introspects
    the model on every instantiation, a millisecond per create); the model's rules are
    restated here and checked again by the services. Where a task may go and who it may
    be bound to is tasks.permissions.task_placement's, which the view asks.
    """

    url = serializers.HyperlinkedIdentityField(view_name="task-detail")
    id = serializers.IntegerField(read_only=True)
    title = TextField(max_length=TITLE_MAX_LENGTH, help_text=f"1 to {TITLE_MAX_LENGTH} characters.")
    project = VisibleProjectField(
        view_name="project-detail",
        required=False,
        help_text="The project the task lives in; defaults to the caller's personal project. "
        "The caller must be its owner or an editor.",
    )
    person = PersonField(
        view_name="user-detail",
        required=False,
        help_text="The user the task is assigned to, a member of its project; defaults to the caller.",
    )
    due_to = AwareDateTimeField(help_text="ISO 8601 with an offset; answered in UTC with Z.")
    completed = serializers.BooleanField(
        required=False,
        help_text="Completing a recurring task (from false to true) moves due_to to its next "
        "occurrence and leaves it open; see recurrence. A task created completed is stored so.",
    )
    recurrence = RecurrenceField(
        required=False, allow_null=True, max_length=MAX_LENGTH, help_text=RECURRENCE_HELP
    )
    last_completed = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When a recurring task was last completed (null for a task that does not recur).",
    )
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)


# The body most creates send, and all that plain_create_data() reads.
PLAIN_CREATE_FIELDS = frozenset({"title", "due_to", "completed"})
# The title field's own: its length, no NUL, no lone surrogate (made with the class, only read).
# None needs the serializer's context (DRF's requires_context): each is called with the value alone.
_TITLE_VALIDATORS = tuple(
    cast(Callable[[str], object], validator)
    for validator in TaskSerializer._declared_fields["title"].validators
)


def plain_create_data(data: Any) -> dict[str, Any] | None:
    """``TaskSerializer(data=data).validated_data`` for the body most creates send: a JSON
    object of a ``title``, a ``due_to`` with its offset and perhaps ``completed`` as true or
    false. None for any other body, and for anything the serializer might refuse: the
    serializer then reads it, and words the errors.

    Read without building the serializer, whose fields and validators cost 70 us of a
    create's 0.8 ms of Python. The same checks as TaskSerializer's fields, in the same
    order of DRF's and Django's own functions; tests/tasks/test_serializers.py holds the
    two equal over generated bodies.
    """
    if type(data) is not dict or not data.keys() <= PLAIN_CREATE_FIELDS:
        return None  # a form's QueryDict, a project, a person, a recurrence, an unknown name
    title, due_to, completed = data.get("title"), data.get("due_to"), data.get("completed", False)
    if type(title) is not str or type(due_to) is not str or type(completed) is not bool:
        return None
    # TextField: stripped, not blank, then the field's validators.
    title = title.strip()
    if not title:
        return None
    try:
        for validator in _TITLE_VALIDATORS:
            validator(title)
    except (serializers.ValidationError, DjangoValidationError):
        return None
    # AwareDateTimeField: ISO 8601 with an offset, in the current time zone (DRF's
    # enforce_timezone()).
    try:
        instant = parse_datetime(due_to)
        if instant is None or instant.tzinfo is None:
            return None
        instant = instant.astimezone(timezone.get_current_timezone())
    except (ValueError, OverflowError):
        return None
    found: dict[str, Any] = {"title": title, "due_to": instant}
    if "completed" in data:
        found["completed"] = completed
    return found
