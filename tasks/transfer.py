"""Export and import of the caller's tasks: ``GET /tasks/export/`` and ``POST /tasks/import/``.

What goes in the archive and how it is made is tasks.exports; what an import accepts,
tasks.imports. These views translate HTTP to them and back.
"""

from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import PayloadTooLarge
from api.renderers import ORJSONParser, ORJSONRenderer
from api.schema import ERROR_RESPONSES
from tasks.exports import ARCHIVES, task_archive
from tasks.imports import (
    MAX_LISTED,
    MAX_TASKS,
    ImportRefused,
    TaskCSVParser,
    TaskRowSerializer,
    TooManyTasks,
    task_import,
)
from tasks.permissions import task_placement
from tasks.reads import TaskLinks
from users.principal import caller_of

DEFAULT_ARCHIVE = "zip"


class ArchiveFormatNegotiation(DefaultContentNegotiation):
    """Here ``?format=`` names the archive, not a renderer (DRF's URL_FORMAT_OVERRIDE, which
    would answer 404 to ``?format=zip``). The archive is the answer whatever Accept says;
    errors are JSON."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


FORMAT = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    enum=list(ARCHIVES),
    default=DEFAULT_ARCHIVE,
    description="The archive: zip (application/zip) or tar.gz (application/gzip).",
)
ARCHIVE_DESCRIPTION = (
    "The archive, streamed as it is made (Content-Disposition: attachment; "
    "filename=tasks-YYYY-MM-DD.zip or .tar.gz, the date in UTC), holding tasks.json (an array of "
    "the tasks as the API shows them), tasks.csv (RFC 4180, UTF-8, a header row, every cell "
    "quoted; where a title starts, or goes on after a ; a tab or a line break, with = + - @, a "
    "tab or a carriage return, a ' is written in front so that spreadsheets do not run it, as "
    "before a ' there, and the import removes one ' from each such place; recurrence and "
    "last_completed are empty for null) and tasks.ics (RFC 5545 VTODOs; a recurring task's with "
    "its RRULE and a DTSTART, its due_to)."
)


class TaskExportView(APIView):
    renderer_classes = [ORJSONRenderer]
    content_negotiation_class = ArchiveFormatNegotiation

    @extend_schema(
        operation_id="tasks_export",
        summary="Export the caller's tasks as an archive",
        description="The caller's own tasks (staff too), in id order. " + ARCHIVE_DESCRIPTION,
        parameters=[FORMAT],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description=ARCHIVE_DESCRIPTION),
            (200, "application/gzip"): OpenApiResponse(OpenApiTypes.BINARY, description=ARCHIVE_DESCRIPTION),
            **ERROR_RESPONSES(400, 401),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        name = request.query_params.get("format", DEFAULT_ARCHIVE)
        archive = ARCHIVES.get(name)
        if archive is None:
            raise ValidationError({"format": [f"Choose one of: {', '.join(ARCHIVES)}."]})
        now = timezone.now()
        chunks = task_archive(
            person=caller_of(request), links=TaskLinks(request), archive=archive, modified=now
        )
        response = StreamingHttpResponse(chunks, content_type=archive.media_type)
        filename = f"tasks-{now.date().isoformat()}.{archive.extension}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class RefusalSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row, from 1: the first task of the file is row 1.")
    field = serializers.CharField(help_text="The field refused, or non_field_errors for the whole row.")
    message = serializers.CharField()


class ImportRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    refused_rows = serializers.IntegerField(
        required=False, help_text="How many rows were refused (only when rows were validated)."
    )
    refused = RefusalSerializer(
        many=True,
        required=False,
        help_text=f"Each refusal, in row order, at most {MAX_LISTED} (only when rows were validated).",
    )


class ImportedTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()


class ImportedSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many tasks were created.")
    tasks = ImportedTaskSerializer(many=True, help_text="The new tasks, in the file's order.")


CSV_BODY = {
    "type": "string",
    "description": "An export's tasks.csv: UTF-8, a header row naming the columns (title and "
    "due_to at least; completed, true or false in any case, empty for false; recurrence, an "
    "RRULE as POST /tasks/ takes it, empty for none; and url, id, person, last_completed, "
    "created and updated, which are ignored), then one task per row. One ' is removed from the "
    "start of every title and after each ; tab or line break in it (see the export).",
}


class TaskImportView(APIView):
    parser_classes = [ORJSONParser, TaskCSVParser]
    renderer_classes = [ORJSONRenderer]

    @extend_schema(
        operation_id="tasks_import",
        summary="Import tasks from an export's tasks.json or tasks.csv",
        description=(
            f"Creates a task for the caller from every row (at most {MAX_TASKS}: 413 beyond), or none. Each row is "
            "validated as POST /tasks/ validates a task (recurrence included); url, id, project, person, "
            "last_completed, created and updated are accepted and ignored: the tasks are the caller's "
            "(staff too), with new ids. If any row "
            "is refused nothing is created, and the 400 lists each refusal (row, field, message)."
        ),
        request={
            "application/json": TaskRowSerializer(many=True),
            "text/csv": CSV_BODY,
        },
        examples=[
            OpenApiExample(
                "tasks.csv",
                value="title,due_to,completed,recurrence\r\nBuy milk,2030-01-01T12:00:00Z,false,\r\n"
                "Water the plants,2030-01-07T09:30:00Z,false,FREQ=WEEKLY;BYDAY=MO\r\n",
                media_type="text/csv",
                request_only=True,
            )
        ],
        responses={
            201: ImportedSerializer,
            400: OpenApiResponse(
                ImportRefusedSerializer,
                description="Nothing was created: the body cannot be read, or rows were refused.",
            ),
            **ERROR_RESPONSES(401, 413, 415),
        },
    )
    def post(self, request: Request) -> Response:
        if request.stream is None:
            raise ParseError("The body is empty: send an export's tasks.json or tasks.csv.")
        rows = request.data
        if not isinstance(rows, list):
            raise ParseError("Expected a JSON array of tasks, as in an export's tasks.json.")
        try:
            project_id, person_id = task_placement(caller_of(request), project=None, person=None)
            created = task_import(project_id=project_id, person_id=person_id, rows=rows)
        except TooManyTasks as exc:
            raise PayloadTooLarge(f"An import takes at most {MAX_TASKS} tasks; split the file.") from exc
        except ImportRefused as refused:
            return Response(refused_report(refused), status=status.HTTP_400_BAD_REQUEST)
        links = TaskLinks(request)
        tasks = [{"id": task.pk, "url": f"{links.tasks}{task.pk}/"} for task in created]
        return Response({"created": len(tasks), "tasks": tasks}, status=status.HTTP_201_CREATED)


def refused_report(refused: ImportRefused) -> dict[str, Any]:
    detail = f"Nothing was imported: {refused.refused_rows} of {refused.rows} rows were refused."
    if refused.unlisted:
        detail += f" The first {len(refused.refusals)} refusals are listed, {refused.unlisted} more are not."
    return {
        "detail": detail,
        "refused_rows": refused.refused_rows,
        "refused": [
            {"row": refusal.row, "field": refusal.field, "message": refusal.message}
            for refusal in refused.refusals
        ],
    }
