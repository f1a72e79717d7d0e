import copy
from collections.abc import Mapping
from types import FunctionType
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from rest_framework import serializers

# Sent by the browsable API's HTML forms alongside the fields.
FORM_MACHINERY = frozenset({"csrfmiddlewaretoken", "_method", "_content", "_content_type"})


class TextField(serializers.CharField):
    """A string and nothing else, as the schema says: DRF's CharField would take 0 or true and
    store "0" or "True". (Form and XML bodies carry only text, so they are unaffected.)"""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictFieldsMixin(serializers.Serializer):
    """Refuse fields the serializer does not know, instead of silently dropping them.

    Read-only fields (``url``, ``id``...) are known, so a client may PUT back what it read.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields) - FORM_MACHINERY)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


# What a field may hold and share with its copies: values no one changes in place. A list or a
# dict is copied (one level); anything else (a queryset, a field, a nested serializer) makes
# the field deep-copied, as DRF does.
_SHARED = (type(None), bool, int, float, str, tuple, type, FunctionType, Promise)


def _copied_names(field: serializers.Field) -> tuple[str, ...] | None:
    """The names of the field's lists and dicts, or None where a copy must be deep."""
    names = []
    for name, value in vars(field).items():
        if isinstance(value, list | dict):
            names.append(name)
        elif not isinstance(value, _SHARED):
            return None
    return tuple(names)


def _field_copy(field: serializers.Field, names: tuple[str, ...] | None) -> serializers.Field:
    if names is None:
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    state = clone.__dict__
    state.update(field.__dict__)
    for name in names:
        state[name] = state[name].copy()
    return clone


class CopiedFieldsMixin(serializers.Serializer):
    """Each serializer's fields copied from the declared ones attribute by attribute.

    DRF deep-copies the declared fields for every serializer, and a field's deepcopy calls
    its __init__ again with its arguments: 85 us for TaskSerializer's 11 fields, against 10
    here, on a create of about 1 ms. The copies are the serializer's own as DRF's are (its
    binding, lists and dicts); they share with the declared field only what no field changes
    in place (its arguments, validators, the text of its messages). A field holding anything
    else is deep-copied. tests/api/test_serializers.py holds a serializer with this mixin
    equal to the same one without it.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        # What to copy of each declared field, found once per class (declared fields are
        # made with the class and never bound).
        plan = cls.__dict__.get("_copy_plan")
        if plan is None:
            plan = tuple((name, field, _copied_names(field)) for name, field in self._declared_fields.items())
            cls._copy_plan = plan  # type: ignore[attr-defined]
        return {name: _field_copy(field, names) for name, field, names in plan}


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that must carry its offset (``Z`` or ``+02:00``).

    A time without an offset means different instants to different clients; refusing it
    is clearer than guessing the server's zone.
    """

    default_error_messages = {
        "naive": "Give a timezone offset, e.g. 2016-10-18T19:12:01Z or 2016-10-18T21:12:01+02:00.",
    }

    def __init__(self, **kwargs: Any) -> None:
        # The browsable API's HTML form: a datetime-local input holds no offset, so every
        # value it sent would be refused as naive. A text input takes the offset too.
        kwargs.setdefault("style", {"input_type": "text", "placeholder": "2016-10-18T19:12:01Z"})
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)
