"""GET /tasks/export/: the caller's tasks as a zip or a tar.gz of tasks.json, tasks.csv and
tasks.ics, streamed as it is made, in memory that does not grow with the number of tasks."""

import csv
import io
import json
import random
import re
import tarfile
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import CharField, Value
from django.db.models.functions import MD5, Cast, Concat
from django.http import StreamingHttpResponse
from django.utils import timezone
from icalendar import Calendar
from rest_framework.test import APIClient

from tasks import exports
from tasks.calendar import calendar_bytes, task_todo
from tasks.models import Task
from tests.helpers.accounts import client_for
from users.models import User

MEMBERS = ["tasks.json", "tasks.csv", "tasks.ics"]
HEADER = '"url","id","title","person","due_to","completed","recurrence","last_completed","created","updated"'
ARCHIVES = ["zip", "tar.gz"]
DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# Titles that take every path through the three writers: quoting, formula guards, TEXT
# escapes, line folding at 75 octets (ASCII and multi-byte), line breaks and controls.
TITLES = [
    "Buy milk",
    '=HYPERLINK("http://example.com","click")',
    "+1 for this",
    "-- not a list",
    "@mention",
    "'already quoted",
    "comma, semicolon; backslash \\ and \\N",
    "line\r\nbreak and\nmore",
    "ünïcødé ✓ \u2028 separator",
    "x" * 100,
    "é" * 37 + "x",
    "bell\x07 and tab\tinside",
]


def members(content: bytes, archive: str) -> dict[str, bytes]:
    """The archive's members, in their order."""
    if archive == "zip":
        with zipfile.ZipFile(io.BytesIO(content)) as zipped:
            assert zipped.testzip() is None  # every member's CRC checks out
            return {info.filename: zipped.read(info) for info in zipped.infolist()}
    # "r|gz" reads it as a stream, front to back, as a pipe into tar would.
    with tarfile.open(fileobj=io.BytesIO(content), mode="r|gz") as tarred:
        found = {}
        for member in tarred:
            extracted = tarred.extractfile(member)
            assert extracted is not None
            found[member.name] = extracted.read()
        return found


def export(client: APIClient, archive: str) -> dict[str, bytes]:
    response = client.get(f"/tasks/export/?format={archive}")
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    return members(b"".join(response.streaming_content), archive)


def api_tasks(client: APIClient) -> list[dict[str, Any]]:
    """The caller's tasks as the API lists them, in id order."""
    return client.get("/tasks/?ordering=id&page_size=1000").json()["results"]  # type: ignore[no-any-return]


# Rules for some of the tasks: none, short, and one long enough for its RRULE line to fold.
RECURRENCES = [
    "",
    "FREQ=WEEKLY;BYDAY=MO",
    "",
    "FREQ=MONTHLY;UNTIL=20351231T235959Z;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;WKST=SU",
    "FREQ=DAILY;COUNT=3",
]


@pytest.fixture
def tasks(owner: User, other: User, staff: User) -> list[Task]:
    Task.objects.create(person=other, title="Other's task", due_to=DUE)
    Task.objects.create(person=staff, title="Staff's task", due_to=DUE)
    return [
        Task.objects.create(
            person=owner,
            title=title,
            due_to=DUE + timedelta(days=n, microseconds=n * 1001),
            completed=n % 2 == 1,
            recurrence=RECURRENCES[n % len(RECURRENCES)],
            last_completed=DUE - timedelta(days=1) if RECURRENCES[n % len(RECURRENCES)] else None,
        )
        for n, title in enumerate(TITLES)
    ]


# Who and what


def test_export_needs_authentication(anon: APIClient) -> None:
    response = anon.get("/tasks/export/")

    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize("archive", ARCHIVES)
def test_archive_holds_the_three_members_in_order(
    owner_client: APIClient, tasks: list[Task], archive: str
) -> None:
    assert list(export(owner_client, archive)) == MEMBERS


@pytest.mark.parametrize("archive", ARCHIVES)
def test_tasks_json_is_the_callers_tasks_as_the_api_shows_them(
    owner_client: APIClient, tasks: list[Task], archive: str
) -> None:
    exported = export(owner_client, archive)["tasks.json"]

    # Byte for byte what GET /tasks/{id}/ answers, in id order: nothing else, nobody else's.
    details = [owner_client.get(f"/tasks/{task.pk}/").content for task in tasks]
    assert exported == b"[" + b",".join(details) + b"]"


@pytest.mark.parametrize("archive", ARCHIVES)
def test_tasks_csv_has_a_header_and_a_row_per_task(
    owner_client: APIClient, tasks: list[Task], archive: str
) -> None:
    exported = export(owner_client, archive)["tasks.csv"].decode("utf-8")

    assert exported.startswith(f"{HEADER}\r\n")
    rows = list(csv.DictReader(io.StringIO(exported, newline="")))
    expected = [
        {
            "url": task["url"],
            "id": str(task["id"]),
            "title": task["title"],
            "person": task["person"],
            "due_to": task["due_to"],
            "completed": "true" if task["completed"] else "false",
            "recurrence": task["recurrence"] or "",
            "last_completed": task["last_completed"] or "",
            "created": task["created"],
            "updated": task["updated"],
        }
        for task in api_tasks(owner_client)
    ]
    assert {row["recurrence"] for row in rows} == set(RECURRENCES)
    assert "2029-12-31T12:00:00Z" in {row["last_completed"] for row in rows}
    for row in expected:  # the formula guard: see test_titles_a_spreadsheet_would_run_get_a_quote
        if row["title"][0] in "=+-@'":
            row["title"] = "'" + row["title"]
    assert rows == expected


@pytest.mark.parametrize("archive", ARCHIVES)
def test_tasks_ics_is_the_calendar_of_the_callers_tasks(
    owner_client: APIClient, owner: User, tasks: list[Task], archive: str
) -> None:
    exported = export(owner_client, archive)["tasks.ics"]

    assert exported == calendar_bytes(api_tasks(owner_client), name="Tasks of owner")


def test_tasks_ics_carries_each_rule_with_its_start(owner_client: APIClient, tasks: list[Task]) -> None:
    todos = Calendar.from_ical(export(owner_client, "zip")["tasks.ics"]).walk("VTODO")

    assert len(todos) == len(tasks)
    for task, todo in zip(tasks, todos, strict=True):
        if task.recurrence:
            # The rule as stored; its occurrences start at DTSTART, which is the DUE of the first.
            assert todo["RRULE"].to_ical().decode() == task.recurrence
            assert todo.decoded("DTSTART") == todo.decoded("DUE") == task.due_to.replace(microsecond=0)
        else:
            assert "RRULE" not in todo
            assert "DTSTART" not in todo


def test_titles_a_spreadsheet_would_run_get_a_quote(owner_client: APIClient, tasks: list[Task]) -> None:
    rows = list(csv.DictReader(io.StringIO(export(owner_client, "zip")["tasks.csv"].decode(), newline="")))
    titles = {row["title"] for row in rows}

    assert {
        '\'=HYPERLINK("http://example.com","click")',
        "'+1 for this",
        "'-- not a list",
        "'@mention",
        "''already quoted",  # so that the import, which removes one quote, gets it back
        "Buy milk",
    } <= titles


SPLIT_TITLES = ["x;=cmd|' /C calc'!A0;y", "tab\t+1", "line\n@SUM(A1)", "cr\r-2", "a;'b"]


def test_a_spreadsheet_splitting_on_semicolons_tabs_or_lines_sees_no_formula(
    owner: User, owner_client: APIClient
) -> None:
    for title in SPLIT_TITLES:
        Task.objects.create(person=owner, title=title, due_to=DUE)

    exported = export(owner_client, "zip")["tasks.csv"].decode()

    # The worst reader: quotes only strip off a cell's ends, and a ;, a tab or a line break
    # starts a cell wherever it is.
    cells = [cell.strip('"') for cell in re.split(r"[;\t\r\n]", exported)]
    assert "'=cmd|' /C calc'!A0" in cells
    assert [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))] == []
    # The import reads every title back as it was.
    titles = [row["title"] for row in csv.DictReader(io.StringIO(exported, newline=""))]
    assert [exports.csv_title_read(title) for title in titles] == SPLIT_TITLES


def test_every_csv_cell_is_quoted(owner_client: APIClient, tasks: list[Task]) -> None:
    exported = export(owner_client, "zip")["tasks.csv"].decode()

    quoted_row = r'"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*\r\n'
    assert re.fullmatch(f"(?:{quoted_row})+", exported)
    assert f'"{TITLES[0]}"' in exported


def test_staff_export_only_their_own_tasks(staff_client: APIClient, tasks: list[Task]) -> None:
    exported = json.loads(export(staff_client, "zip")["tasks.json"])

    assert [task["title"] for task in exported] == ["Staff's task"]


@pytest.mark.parametrize("archive", ARCHIVES)
def test_no_tasks_is_an_archive_of_empty_members(owner_client: APIClient, archive: str) -> None:
    exported = export(owner_client, archive)

    assert exported["tasks.json"] == b"[]"
    assert exported["tasks.csv"] == f"{HEADER}\r\n".encode()
    assert exported["tasks.ics"] == calendar_bytes([], name="Tasks of owner")


# HTTP


@pytest.mark.parametrize(
    ("archive", "media_type"), [("zip", "application/zip"), ("tar.gz", "application/gzip")]
)
def test_answer_is_an_attachment_named_with_the_date(
    owner_client: APIClient, archive: str, media_type: str
) -> None:
    before = timezone.now().date()
    response = owner_client.get(f"/tasks/export/?format={archive}")
    after = timezone.now().date()

    assert response.status_code == 200
    assert response["Content-Type"] == media_type
    assert response["Content-Disposition"] in {
        f'attachment; filename="tasks-{day.isoformat()}.{archive}"' for day in (before, after)
    }
    assert response["Cache-Control"] == "no-store"  # someone's own data
    assert not response.has_header("Content-Length")  # streamed: its length is not known ahead


def test_zip_is_the_default(owner_client: APIClient) -> None:
    response = owner_client.get("/tasks/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert list(members(b"".join(response.streaming_content), "zip")) == MEMBERS


def test_archive_is_the_answer_whatever_accept_says(owner_client: APIClient) -> None:
    response = owner_client.get("/tasks/export/?format=tar.gz", HTTP_ACCEPT="application/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"


@pytest.mark.parametrize("archive", ["rar", "json", "", "ZIP"])
def test_another_format_is_refused_naming_the_choices(owner_client: APIClient, archive: str) -> None:
    response = owner_client.get(f"/tasks/export/?format={archive}")

    assert response.status_code == 400
    assert response.json() == {"format": ["Choose one of: zip, tar.gz."]}


@pytest.mark.parametrize(("archive", "queries"), [("zip", 3), ("tar.gz", 6)])
def test_each_member_is_one_query_per_pass(
    owner_client: APIClient, tasks: list[Task], archive: str, queries: int, django_assert_num_queries: Any
) -> None:
    response = owner_client.get(f"/tasks/export/?format={archive}")

    # One SELECT of the caller's tasks per member (tasks.json, tasks.csv, tasks.ics), read a
    # chunk at a time; a tar reads each twice (one pass counts its bytes, one sends them).
    with django_assert_num_queries(queries):
        b"".join(response.streaming_content)


# The calendar writer


def random_title(rng: random.Random) -> str:
    alphabet = "abcXYZ 019,;\\:\"'=é✓\U0001f600\u2028\t\r\n\x07"
    title = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 100)))
    return title if title.strip() else "x"


def test_vtodo_writes_the_bytes_tasks_calendar_writes(settings: Any) -> None:
    rng = random.Random(20161018)
    for n in range(3000):
        due = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**9), microseconds=n)
        task_id = rng.choice([1, 42, 10**6, 2**63 - 1])
        host = rng.choice(["testserver", "a-much-longer-host-name.example.com"])
        task = {
            "url": f"https://{host}/tasks/{task_id}/",
            "id": task_id,
            "title": random_title(rng) if n % 3 else "Task " + str(n) * rng.randint(1, 12),
            "due_to": due,
            "completed": n % 2 == 0,
            "recurrence": rng.choice(
                [None, None, *RECURRENCES[1:], "FREQ=YEARLY;BYWEEKNO=" + ",".join(["1"] * 40)]
            ),
            "created": due - timedelta(days=3),
            "updated": due - timedelta(days=1, microseconds=7),
        }
        for name in ("due_to", "created", "updated"):  # as the task JSON writes them
            task[name] = task[name].isoformat().replace("+00:00", "Z")

        assert exports.vtodo(task) == task_todo(task).to_ical(), task


# Streaming and memory


def seed_tasks(person: User, count: int) -> None:
    """``count`` more tasks for user1 (made by manage.py seed), with titles of 64 hex digits that
    compress as little as hex does: the archive's size is then not mostly the compressor's."""
    call_command("seed", users=1, tasks=count, verbosity=0)
    key = Cast("id", CharField())
    Task.objects.filter(person=person).update(title=Concat(MD5(key), MD5(Concat(key, Value("-")))))


def peak_while_streaming(client: APIClient, archive: str, path: Path) -> int:
    """The most memory allocated at once while the archive is made and written to ``path``."""
    response = client.get(f"/tasks/export/?format={archive}")
    assert response.status_code == 200
    tracemalloc.start()
    try:
        with path.open("wb") as file:
            for chunk in response.streaming_content:
                file.write(chunk)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# About twice what was measured (1.2 MB on SQLite and PostgreSQL, for 1,000 and for 100,000
# tasks alike: mostly a fetch of rows and the compressor's state).
MEMORY_BOUND = 3 * 1024 * 1024


@pytest.mark.parametrize("archive", ARCHIVES)
def test_memory_stays_flat_from_1000_to_100000_tasks(db: None, tmp_path: Path, archive: str) -> None:
    call_command("seed", users=1, tasks=0, verbosity=0)
    user = User.objects.get(username="user1")
    client = client_for(user)
    seed_tasks(user, 1_000)
    small = peak_while_streaming(client, archive, tmp_path / "small")
    seed_tasks(user, 99_000)
    large = peak_while_streaming(client, archive, tmp_path / "large")

    archive_size = (tmp_path / "large").stat().st_size
    exported = members((tmp_path / "large").read_bytes(), archive)
    members_size = sum(len(data) for data in exported.values())
    assert small < MEMORY_BOUND
    assert large < MEMORY_BOUND  # the same bound: a hundred times the tasks, not more memory
    assert archive_size > 4 * MEMORY_BOUND  # never held whole, compressed or not
    assert members_size > 20 * MEMORY_BOUND

    expected = list(
        Task.objects.filter(person=user).order_by("id").values_list("id", "title", "due_to", "completed")
    )
    assert len(expected) == 100_000
    assert_members_hold(exported, expected)


def assert_members_hold(exported: dict[str, bytes], expected: list[tuple[int, str, datetime, bool]]) -> None:
    """Every member holds exactly the expected tasks (id, title, due_to, completed), in order."""
    as_json = [
        (task["id"], task["title"], datetime.fromisoformat(task["due_to"]), task["completed"])
        for task in json.loads(exported["tasks.json"])
    ]
    assert as_json == expected

    rows = csv.DictReader(io.StringIO(exported["tasks.csv"].decode(), newline=""))
    as_csv = [
        (int(row["id"]), row["title"], datetime.fromisoformat(row["due_to"]), row["completed"] == "true")
        for row in rows
    ]
    assert as_csv == expected

    assert list(calendar_fields(exported["tasks.ics"])) == [
        (f"task-{task_id}@taskservice", title, due.strftime("%Y%m%dT%H%M%SZ"), completed)
        for task_id, title, due, completed in expected
    ]


def calendar_fields(ics: bytes) -> Iterator[tuple[str, str, str, bool]]:
    """(UID, SUMMARY, DUE, completed) of each VTODO; titles here are hex, so no line is folded."""
    todo: dict[str, str] = {}
    for line in ics.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if line == "END:VTODO":
            yield todo["UID"], todo["SUMMARY"], todo["DUE"], todo["STATUS"] == "COMPLETED"
            todo = {}
        else:
            todo[name] = value


# One view of the database


def in_transaction() -> bool:
    raw = connection.connection
    if raw is None:  # closed: no transaction either
        return False
    if connection.vendor == "sqlite":
        return bool(raw.in_transaction)
    return str(raw.info.transaction_status.name) != "IDLE"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("archive", ARCHIVES)
def test_export_leaves_no_transaction_open(
    owner: User, monkeypatch: pytest.MonkeyPatch, archive: str
) -> None:
    Task.objects.create(person=owner, title="Buy milk", due_to=DUE)
    client = client_for(owner)
    monkeypatch.setattr(exports, "PIECE_BYTES", 1)  # hand out every piece at once

    finished = client.get(f"/tasks/export/?format={archive}")
    b"".join(finished.streaming_content)
    assert not in_transaction()

    abandoned = client.get(f"/tasks/export/?format={archive}")
    next(iter(abandoned.streaming_content))
    abandoned.close()  # the client went away: the server closes the response
    assert not in_transaction()

    Task.objects.create(person=owner, title="Written after", due_to=DUE)  # nothing holds a lock


# SQLite's test database lives in memory, where a reader locks writers out (no WAL): the
# writer below could not write during the export there.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("archive", ARCHIVES)
def test_tasks_changed_during_an_export_leave_the_archive_whole_and_consistent(
    owner: User, monkeypatch: pytest.MonkeyPatch, archive: str
) -> None:
    for n in range(20):
        Task.objects.create(person=owner, title=f"Task {n}", due_to=DUE)
    client = client_for(owner)
    before = client.get("/tasks/?ordering=id").json()["results"]

    def meanwhile() -> None:  # another client, on its own connection
        try:
            Task.objects.filter(person=owner, title="Task 3").update(
                title="Task 3, renamed to something longer"
            )
            Task.objects.filter(person=owner, title="Task 5").delete()
            Task.objects.create(person=owner, title="Task 20", due_to=DUE)
        finally:
            connection.close()

    read_rows = exports.task_rows

    def rows_changed_after_the_first(**kwargs: Any) -> Iterator[dict[str, Any]]:
        for n, row in enumerate(read_rows(**kwargs)):
            yield row
            if n == 0 and not writes:  # the export has begun reading tasks.json
                writes.append(threading.Thread(target=meanwhile))
                writes[0].start()
                writes[0].join()

    writes: list[threading.Thread] = []
    monkeypatch.setattr(exports, "task_rows", rows_changed_after_the_first)
    response = client.get(f"/tasks/export/?format={archive}")
    exported = members(b"".join(response.streaming_content), archive)

    assert writes
    assert json.loads(exported["tasks.json"]) == before
    titles = [row["title"] for row in csv.DictReader(io.StringIO(exported["tasks.csv"].decode(), newline=""))]
    assert titles == [task["title"] for task in before]
    assert exported["tasks.ics"] == calendar_bytes(before, name="Tasks of owner")
    assert Task.objects.filter(title="Task 3, renamed to something longer").exists()


def test_a_member_that_changes_between_the_passes_of_a_tar_stops_it() -> None:
    sizes = iter([10, 11])

    def changing() -> Iterator[bytes]:
        yield b"x" * next(sizes)

    with pytest.raises(exports.ExportChanged):
        b"".join(exports.tar_gz_chunks([("tasks.json", changing)], modified=DUE))


def test_schema_documents_the_export(anon: APIClient) -> None:
    schema = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/tasks/export/"]["get"]

    [parameter] = [p for p in operation["parameters"] if p["name"] == "format"]
    assert parameter["in"] == "query"
    assert sorted(parameter["schema"]["enum"]) == sorted(ARCHIVES)
    assert parameter["schema"]["default"] == "zip"
    binary = {"type": "string", "format": "binary"}
    assert operation["responses"]["200"]["content"] == {
        "application/zip": {"schema": binary},
        "application/gzip": {"schema": binary},
    }
    assert {"400", "401"} <= operation["responses"].keys()
