from collections.abc import Mapping
from typing import Any

from django.utils.dateparse import parse_datetime
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
