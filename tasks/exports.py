"""A person's tasks as one archive of ``tasks.json``, ``tasks.csv`` and ``tasks.ics``, made
while it is sent.

Nothing is held whole and nothing goes to disk: every member is written from rows read
``ROWS_PER_FETCH`` at a time in id order, the archive compresses what it is given, and each
compressed piece goes to the client as soon as there is one. Memory stays flat however
many tasks there are (tests/tasks/test_export.py exports 100,000).

The members:
- ``tasks.json``: a JSON array of the tasks, each exactly as ``GET /tasks/{id}/`` answers it.
- ``tasks.csv``: RFC 4180 (comma separated, CRLF line ends), every cell quoted, UTF-8
  without a byte order mark, a header row, then one task per row with the task JSON's
  fields as columns (``completed`` is ``true`` or ``false``; ``recurrence`` the RRULE, and
  ``recurrence`` and ``last_completed`` empty for null). ``POST /tasks/import/`` reads it
  back. A title that a spreadsheet would run as a formula (one starting with ``=``,
  ``+``, ``-``, ``@``, a tab or a carriage return) is written with a ``'`` in front, which
  spreadsheets take as "this cell is text" (OWASP's advice against CSV injection); so
  that the import can undo it exactly, a title already starting with ``'`` gets one more.
  The same goes for what follows a ``;``, a tab or a line break inside a title: a
  spreadsheet that splits on those (``;`` is the separator in many locales) and sees
  quotes only at a cell's start would start a cell there, quoting or not. The import
  removes one ``'`` from each of those places.
- ``tasks.ics``: the tasks as RFC 5545 VTODOs, the same bytes tasks.calendar writes (a
  recurring task's with its RRULE and DTSTART).
"""

import csv
import gzip
import io
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zipfile import ZIP_DEFLATED

from django.db import connection, transaction
from zipstream import ZipStream

from api.renderers import ORJSONRenderer
from tasks.calendar import calendar_chunks, task_todo, task_uid
from tasks.reads import TaskLinks, member_task_rows
from users.principal import Principal

ROWS_PER_FETCH = 500
# Members are handed to the archive in pieces of about this size: small enough to keep
# memory flat, large enough that the compressors and the server are not called per task.
PIECE_BYTES = 64 * 1024

CSV_COLUMNS = (
    "url",
    "id",
    "title",
    "person",
    "due_to",
    "completed",
    "recurrence",
    "last_completed",
    "created",
    "updated",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"
# Where some spreadsheet may start a cell inside a title: its start, and after each
# separator or line break a spreadsheet might split on (see the module's docstring).
_CELL_STARTS = r"(?:^|(?<=[;\t\r\n]))"
_NEEDS_MARK = re.compile(_CELL_STARTS + "(?=[" + re.escape("".join(FORMULA_STARTS) + TEXT_MARK) + "])")
_MARK = re.compile(_CELL_STARTS + TEXT_MARK)


def csv_title(title: str) -> str:
    """The title as tasks.csv writes it: see the module's docstring."""
    return _NEEDS_MARK.sub(TEXT_MARK, title)


def csv_title_read(cell: str) -> str:
    """The title a tasks.csv cell stands for: the inverse of csv_title()."""
    return _MARK.sub("", cell)


# Members: each a name and a function that writes the member afresh from the database
# every time it is called (the tar writer needs two passes, see tar_gz_chunks()).
Member = tuple[str, Callable[[], Iterator[bytes]]]


def task_rows(*, person_id: int, links: TaskLinks) -> Iterator[dict[str, Any]]:
    """The tasks of the person's projects as task JSON, in id order, read a chunk of rows
    at a time.

    Staff too export only their projects' tasks, never everyone's: an export is a person's
    copy of their tasks, and it is what their import takes back.
    """
    return member_task_rows(user_id=person_id, links=links, order=("id",), chunk_size=ROWS_PER_FETCH)


def pieces(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts`` joined into pieces of at least PIECE_BYTES (the last may be smaller)."""
    pending: list[bytes] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= PIECE_BYTES:
            yield b"".join(pending)
            pending.clear()
            size = 0
    if pending:
        yield b"".join(pending)


def json_parts(tasks: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """A JSON array written one task at a time, each task by the API's own renderer."""
    render = ORJSONRenderer().render
    separator = b"["
    for task in tasks:
        yield separator + render(task)
        separator = b","
    yield b"]" if separator == b"," else b"[]"


def csv_parts(tasks: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    # The csv module's default dialect is RFC 4180's; every cell quoted, so that a title's
    # separators stay inside its cell for any reader that honours quotes.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    for task in tasks:
        writer.writerow(
            (
                task["url"],
                task["id"],
                csv_title(task["title"]),
                task["person"],
                task["due_to"],
                "true" if task["completed"] else "false",
                # The rule in its stored form: letters, digits and + - , ; = only, starting
                # with FREQ, so neither a formula nor one after a ; (see csv_title()).
                task["recurrence"] or "",
                task["last_completed"] or "",
                task["created"],
                task["updated"],
            )
        )
        if buffer.tell() >= PIECE_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


# tasks.ics. tasks.calendar writes a VTODO through icalendar's object model: about 200 us a
# task, four times that while tracemalloc watches, so most of a large export's time (100,000
# tasks: 20 s, and twice that for a tar). Most tasks need none of what that model is for
# (escaping, folding, replacing control characters, a recurrence): those VTODOs are written here
# directly, and every other one goes through task_todo(). tests/tasks/test_export.py holds
# the result to tasks.calendar's bytes.

_ESCAPED = frozenset("\\;,")
FOLD_AT = 75  # octets; icalendar folds a content line this long or longer (RFC 5545 §3.1)


def _stamp(instant: str) -> str:
    """An instant as an RFC 5545 UTC date-time, ``20161018T191201Z``, as icalendar writes it
    (seconds, no fraction); from the task JSON's ``2016-10-18T19:12:01[.ffffff]Z``."""
    return instant[:19].replace("-", "").replace(":", "") + "Z"


def _plain_line(name: str, value: str) -> str | None:
    """``NAME:value`` and its CRLF when icalendar would write the line so, unescaped and
    unfolded; else None.

    That is: only printable characters (no line break, no control character, which
    tasks.calendar replaces) other than the three TEXT escapes, on a line too short to fold.
    """
    line = f"{name}:{value}"
    if value.isprintable() and _ESCAPED.isdisjoint(value) and len(line.encode()) < FOLD_AT:
        return line + "\r\n"
    return None


def vtodo(task: Mapping[str, Any]) -> bytes:
    """``task_todo(task).to_ical()``, faster for the tasks that need no escaping or folding
    and do not recur."""
    if task.get("recurrence"):
        return task_todo(task).to_ical()
    summary = _plain_line("SUMMARY", task["title"])
    uid = _plain_line("UID", task_uid(task["id"]))
    url = _plain_line("URL", task["url"]) if task.get("url") else ""
    if summary is None or uid is None or url is None:
        return task_todo(task).to_ical()
    updated = _stamp(task["updated"])
    status = "COMPLETED" if task["completed"] else "NEEDS-ACTION"
    # icalendar's order: properties sorted by name.
    return (
        f"BEGIN:VTODO\r\nCREATED:{_stamp(task['created'])}\r\nDTSTAMP:{updated}\r\n"
        f"DUE:{_stamp(task['due_to'])}\r\nLAST-MODIFIED:{updated}\r\nSTATUS:{status}\r\n"
        f"{summary}{uid}{url}END:VTODO\r\n"
    ).encode()


def ics_parts(tasks: Iterable[Mapping[str, Any]], *, name: str) -> Iterator[bytes]:
    """tasks.calendar's calendar_chunks(), with the VTODOs of vtodo()."""
    start, end = calendar_chunks((), name=name)
    yield start
    for task in tasks:
        yield vtodo(task)
    yield end


def task_members(*, person: Principal, links: TaskLinks) -> list[Member]:
    def rows() -> Iterator[dict[str, Any]]:
        return task_rows(person_id=person.id, links=links)

    return [
        ("tasks.json", lambda: pieces(json_parts(rows()))),
        ("tasks.csv", lambda: pieces(csv_parts(rows()))),
        ("tasks.ics", lambda: pieces(ics_parts(rows(), name=f"Tasks of {person.username}"))),
    ]


@contextmanager
def snapshot() -> Iterator[None]:
    """One view of the database for the whole archive, whatever is written meanwhile.

    The members are read one after the other (and twice each for a tar): without it, a task
    changed during the export would differ between tasks.json and tasks.csv, and a tar
    member would no longer have the size its header announced. PostgreSQL: a read-only
    REPEATABLE READ transaction. SQLite: a DEFERRED transaction, begun by hand because this
    project's atomic() begins IMMEDIATE ones, which would take the write lock for as long
    as the client downloads; in WAL mode a reader holds no lock writers wait for.
    """
    if connection.in_atomic_block:  # already inside one transaction (a test's, or a caller's)
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("COMMIT")  # read only: nothing to commit, it ends the snapshot


def zip_chunks(members: Sequence[Member], *, modified: datetime) -> Iterator[bytes]:
    """A zip made by zipstream-ng as it is read; each member's data is read once, as the zip
    is written (sizes and checksums follow each member in a data descriptor). zipstream-ng
    dates each member itself, when it writes it."""
    archive = ZipStream(compress_type=ZIP_DEFLATED, compress_level=6)
    for name, write in members:
        archive.add(write(), arcname=name)
    yield from archive


class _Drain(io.RawIOBase):
    """Where the gzip writer puts its output until the next chunk is handed out."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        taken = bytes(self.pending)
        self.pending.clear()
        return taken


class ExportChanged(RuntimeError):
    """A member's second pass did not match its first: the archive cannot be finished."""


def tar_gz_chunks(members: Sequence[Member], *, modified: datetime) -> Iterator[bytes]:
    """A POSIX (pax) tar, gzip-compressed, made as it is read.

    A tar header states the member's size before its data, and the size of tasks.json is
    known only once it is written. Holding a member to measure it (in memory or in a
    temporary file) would grow with the number of tasks; so each member is written twice
    from the database, once to count its bytes and once to send them, both inside one
    snapshot() so that the two passes are the same bytes. That costs a second read and a
    second rendering of every task, which is cheap beside what it saves.

    Headers come from tarfile (TarInfo.tobuf); the data is written here rather than with
    TarFile.addfile(), which copies a member's whole data in one call, with no moment to
    hand the compressed output on: the buffer would hold the whole member.
    """
    out = _Drain()
    offset = 0
    with gzip.GzipFile(
        fileobj=out, mode="wb", compresslevel=6, mtime=int(modified.timestamp())
    ) as compressed:
        for name, write in members:
            size = sum(len(chunk) for chunk in write())
            info = tarfile.TarInfo(name)
            info.size = size
            info.mtime = int(modified.timestamp())
            info.mode = 0o644
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            compressed.write(header)
            sent = 0
            for chunk in write():
                compressed.write(chunk)
                sent += len(chunk)
                if len(out.pending) >= PIECE_BYTES:
                    yield out.take()
            if sent != size:
                raise ExportChanged(f"{name}: {size} bytes counted, {sent} written")
            padding = -size % tarfile.BLOCKSIZE
            compressed.write(tarfile.NUL * padding)
            offset += len(header) + size + padding
        # The end of the archive: two zero blocks, then zeros to a whole record (as tarfile's close).
        end = 2 * tarfile.BLOCKSIZE
        end += -(offset + end) % tarfile.RECORDSIZE
        compressed.write(tarfile.NUL * end)
    yield out.take()


@dataclass(frozen=True)
class Archive:
    extension: str
    media_type: str
    chunks: Callable[..., Iterator[bytes]]


ARCHIVES = {
    "zip": Archive("zip", "application/zip", zip_chunks),
    "tar.gz": Archive("tar.gz", "application/gzip", tar_gz_chunks),
}


def task_archive(
    *, person: Principal, links: TaskLinks, archive: Archive, modified: datetime
) -> Iterator[bytes]:
    """The archive of the person's tasks, as chunks of bytes made when they are asked for."""
    members = task_members(person=person, links=links)
    with snapshot():
        for chunk in archive.chunks(members, modified=modified):
            if chunk:
                yield chunk
