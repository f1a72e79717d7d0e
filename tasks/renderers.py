"""The task list as ``text/calendar`` (RFC 5545), beside its JSON and XML."""

from typing import Any

from rest_framework.renderers import BaseRenderer

from api.renderers import ORJSONRenderer
from tasks.calendar import MEDIA_TYPE, calendar_bytes

CALENDAR_NAME = "Tasks"


class CalendarRenderer(BaseRenderer):
    """A page of the task list as a calendar: one VTODO per task (see tasks.calendar).

    The calendar holds the tasks of the page the JSON would hold, with the same filters,
    ordering and page size. A calendar has no place for the page links, so they travel in
    a ``Link`` header (RFC 8288), as they do in GitHub's API:
    ``Link: <https://host/tasks/?cursor=...>; rel="next", <...>; rel="prev"``. A client
    follows ``rel="next"``, with the same Accept header, until a page has no such link.

    An error (a bad filter, a missing token) is no calendar: it is answered in JSON, as
    the API's errors are, with that Content-Type.
    """

    media_type = MEDIA_TYPE
    format = "ics"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        response = (renderer_context or {}).get("response")
        if response is not None and (response.exception or response.status_code >= 400):
            response["Content-Type"] = ORJSONRenderer.media_type
            return ORJSONRenderer().render(data, ORJSONRenderer.media_type, renderer_context)
        if response is not None:
            links = [
                f'<{data[field]}>; rel="{relation}"'
                for field, relation in (("next", "next"), ("previous", "prev"))
                if data[field]
            ]
            if links:
                response["Link"] = ", ".join(links)
        return calendar_bytes(data["results"], name=CALENDAR_NAME)
