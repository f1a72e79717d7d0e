from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers import StrictFieldsMixin, TextField
from feeds.models import Feed, validate_feed_name


class FeedCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new calendar feed; the body may be empty."""

    name = TextField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        validators=[validate_feed_name],
        help_text="Your name for it, e.g. the app it is for; also the calendar's name there. "
        "One line: no line breaks, tabs or other control characters.",
    )


class FeedSerializer(serializers.ModelSerializer[Feed]):
    """A feed as its owner lists it: never its secret, never its digest."""

    class Meta:
        model = Feed
        fields = ["id", "name", "created", "last_used"]
        read_only_fields = fields


class FeedCreatedSerializer(FeedSerializer):
    """A feed just created, with its address: the only time the secret in it is shown."""

    feed_url = serializers.SerializerMethodField()

    class Meta(FeedSerializer.Meta):
        fields = [*FeedSerializer.Meta.fields, "feed_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_feed_url(self, feed: Feed) -> str:
        """The address to subscribe to; it is answered only now: keep it."""
        url: str = self.context["feed_url"]
        return url
