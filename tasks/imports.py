"""Tasks read back from an export's ``tasks.json`` or ``tasks.csv``: all of them, or none.

Every row is validated as ``POST /tasks/`` validates a task (a title of 1 to 100
characters, a ``due_to`` with its offset, ``completed`` true or false, a ``recurrence``
rule as tasks.recurrence takes it, or none; no unknown field); if any row is refused
nothing is written, and the answer lists each refusal. Rows are imported as the caller's
own tasks, staff included: ``url``, ``id``, ``project``, ``person``, ``last_completed``,
``created`` and ``updated`` are accepted, so that an export goes back in as it is, and
ignored. A recurring task comes back as it was exported, due at the same occurrence, with
the same rule; a completed one (a series that ended) stays completed. The tasks get new
ids, and importing one file twice makes each task twice.

Rows are numbered from 1: row 1 is the first element of the JSON array, or the first line
after the CSV's header.
"""

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.http import parse_header_parameters
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from tasks.exports import CSV_COLUMNS, csv_title_read
from tasks.models import Task
from tasks.serializers import TaskSerializer
from tasks.services import task_create_many

MAX_TASKS = 10_000
# Refusals listed in one answer at most (a row may have several): enough to fix a file
# by, and a bound on the answer, which a body of small bad rows could otherwise blow up.
MAX_LISTED = 1_000
CSV_REQUIRED = ("title", "due_to")
CSV_READ = ("title", "due_to", "completed", "recurrence")
# As the export writes them, and as spreadsheets write them back (TRUE, FALSE).
CSV_BOOLEANS = {"true": True, "false": False}


class TaskRowSerializer(TaskSerializer):
    """A task as an import reads it: what ``POST /tasks/`` takes, with ``person`` ignored, and
    ``title`` and ``completed`` of the JSON types the schema gives them.

    DRF's fields also take a number for a title and 0, 1, "yes" or "true" for a boolean; a
    file of rows is not a form, and what the schema calls invalid is refused.
    """

    JSON_TYPES: dict[str, tuple[type, str]] = {
        "title": (str, "Not a valid string."),
        "completed": (bool, "Must be a valid boolean."),
    }

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["person"] = serializers.HyperlinkedRelatedField(
            view_name="user-detail", read_only=True, help_text="Ignored: imported tasks are the caller's."
        )
        fields["project"] = serializers.HyperlinkedRelatedField(
            view_name="project-detail",
            read_only=True,
            help_text="Ignored: imported tasks go to the caller's personal project.",
        )
        return fields

    def to_internal_value(self, data: Any) -> Any:
        wrong = {}
        if isinstance(data, Mapping):
            wrong = {
                name: [message]
                for name, (kind, message) in self.JSON_TYPES.items()
                if name in data and not isinstance(data[name], kind)
            }
        try:
            validated = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if wrong and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **wrong}) from exc
            raise
        if wrong:
            raise serializers.ValidationError(wrong)
        return validated


@dataclass(frozen=True)
class Refusal:
    row: int
    field: str
    message: str


class TooManyTasks(Exception):
    pass


class ImportRefused(Exception):
    def __init__(self, *, rows: int, refused_rows: int, refusals: list[Refusal], unlisted: int) -> None:
        super().__init__(f"{refused_rows} of {rows} rows refused")
        self.rows = rows
        self.refused_rows = refused_rows
        self.refusals = refusals
        self.unlisted = unlisted  # refusals past MAX_LISTED


def _messages(detail: Any) -> list[tuple[str, str]]:
    """(field, message) pairs of a serializer's error detail; errors of the whole row
    (not an object, null) are under non_field_errors, as in the API's own 400s."""
    if isinstance(detail, dict):
        return [(str(field), str(message)) for field, messages in detail.items() for message in messages]
    return [("non_field_errors", str(message)) for message in detail]


def validated_rows(rows: Sequence[object]) -> list[dict[str, Any]]:
    """Each row's validated fields; ImportRefused listing every refusal if any row fails."""
    row_serializer = TaskRowSerializer()  # one for every row, as DRF's ListSerializer does
    validated: list[dict[str, Any]] = []
    refusals: list[Refusal] = []
    refused_rows = unlisted = 0
    for number, row in enumerate(rows, start=1):
        try:
            validated.append(dict(row_serializer.run_validation(row)))
        except serializers.ValidationError as exc:
            refused_rows += 1
            for field, message in _messages(exc.detail):
                if len(refusals) < MAX_LISTED:
                    refusals.append(Refusal(row=number, field=field, message=message))
                else:
                    unlisted += 1
    if refused_rows:
        raise ImportRefused(rows=len(rows), refused_rows=refused_rows, refusals=refusals, unlisted=unlisted)
    return validated


def task_import(*, project_id: int, person_id: int, rows: Sequence[object]) -> list[Task]:
    """Create a task for ``person_id`` from every row, or none (see the module's docstring).
    A file with no task (``[]``, a CSV header alone) creates none, as an export of no tasks
    should go back in without complaint.

    Validation runs before the transaction, so that SQLite's write lock is held only for
    the INSERTs.
    """
    if len(rows) > MAX_TASKS:
        raise TooManyTasks
    tasks = validated_rows(rows)
    with transaction.atomic():
        return task_create_many(project_id=project_id, person_id=person_id, tasks=tasks)


class TaskCSVParser(BaseParser):
    """``text/csv`` as tasks.csv writes it: UTF-8 (a byte order mark is allowed, as
    spreadsheets write one), a header row naming known columns in any order, with at least
    ``title`` and ``due_to``; then one task per row. The parsed data is a list of rows with
    ``title``, ``due_to`` and, when their cells are not empty, ``completed`` (``true`` and
    ``false``, in any case, are the booleans) and ``recurrence`` (an empty cell is none).

    What is wrong with the file rather than with a task is a 400 naming the line: another
    encoding, NUL characters, broken quoting, a row with more or fewer cells than the header.
    """

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        charset = parse_header_parameters(media_type or "")[1].get("charset", "utf-8")
        if charset.lower() not in ("utf-8", "utf8", "us-ascii"):
            raise ParseError(f"tasks.csv is read as UTF-8, not {charset}.")
        try:
            text = stream.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The CSV is not UTF-8 text (byte {exc.start}: {exc.reason}).") from exc
        if "\x00" in text:
            raise ParseError("The CSV contains NUL characters: it is not a text file.")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            return self.rows(reader)
        except csv.Error as exc:
            raise ParseError(f"Line {reader.line_num} is not valid CSV: {exc}.") from exc

    @staticmethod
    def rows(reader: Any) -> list[dict[str, Any]]:
        header = next((record for record in reader if record), None)
        if header is None:
            raise ParseError("The CSV is empty: it needs a header row, e.g. title,due_to,completed.")
        column = _columns(header)
        rows: list[dict[str, Any]] = []
        for record in reader:
            if not record:
                continue  # a blank line
            if len(record) != len(header):
                raise ParseError(
                    f"Line {reader.line_num} has {len(record)} cells where the header has {len(header)}."
                )
            cells: dict[str, Any] = {name: record[column[name]] for name in CSV_READ if name in column}
            cells["title"] = csv_title_read(cells["title"])
            completed = cells.pop("completed", "")
            if completed:  # anything but true or false is left for the row's validation to refuse
                cells["completed"] = CSV_BOOLEANS.get(completed.lower(), completed)
            if not cells.get("recurrence", True):
                del cells["recurrence"]  # empty: the task does not recur
            rows.append(cells)
            if len(rows) > MAX_TASKS:
                break  # enough to know it is too many
        return rows


def _columns(header: list[str]) -> dict[str, int]:
    """Each column's index, after checking the header names known columns, each once."""
    unknown = list(dict.fromkeys(name for name in header if name not in CSV_COLUMNS))
    if unknown:
        raise ParseError(
            f"The CSV header names unknown columns: {_names(unknown)}. Known columns: {', '.join(CSV_COLUMNS)}."
        )
    if len(set(header)) < len(header):
        repeated = [name for name, count in Counter(header).items() if count > 1]
        raise ParseError(f"The CSV header names these columns more than once: {_names(repeated)}.")
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing:
        raise ParseError(f"The CSV header lacks the columns: {_names(missing)}.")
    return {name: index for index, name in enumerate(header)}


def _names(names: list[str]) -> str:
    """Column names for a message, a few and each cut short: a header is the client's text."""
    shown = [repr(name[:40]) for name in names[:5]]
    return ", ".join(shown) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
