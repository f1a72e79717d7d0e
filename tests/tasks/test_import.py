"""POST /tasks/import/: an export's tasks.json or tasks.csv back in, validated row by row,
all of it or nothing."""

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from tasks.imports import MAX_LISTED, MAX_TASKS
from tasks.models import Task
from users.models import User

DUE = "2030-01-01T12:00:00Z"
HEADER = "url,id,title,person,due_to,completed,recurrence,last_completed,created,updated\r\n"


def post_json(client: APIClient, body: Any) -> Any:
    return client.post("/tasks/import/", json.dumps(body), content_type="application/json")


def post_csv(client: APIClient, body: str | bytes, content_type: str = "text/csv") -> Any:
    return client.post("/tasks/import/", body, content_type=content_type)


def titles_of(user: User) -> list[str]:
    return list(Task.objects.filter(person=user).order_by("id").values_list("title", flat=True))


# Accepted


def test_json_rows_become_the_callers_tasks(owner: User, owner_client: APIClient) -> None:
    response = post_json(
        owner_client,
        [
            {"title": "Buy milk", "due_to": "2030-01-01T14:30:00+02:00"},
            {"title": "Call mum", "due_to": DUE, "completed": True},
        ],
    )

    assert response.status_code == 201
    tasks = list(Task.objects.order_by("id"))
    assert response.json() == {
        "created": 2,
        "tasks": [{"id": task.pk, "url": f"http://testserver/tasks/{task.pk}/"} for task in tasks],
    }
    assert [(task.person, task.title, task.due_to, task.completed) for task in tasks] == [
        (owner, "Buy milk", datetime(2030, 1, 1, 12, 30, tzinfo=UTC), False),
        (owner, "Call mum", datetime(2030, 1, 1, 12, tzinfo=UTC), True),
    ]


def test_csv_rows_become_the_callers_tasks(owner: User, owner_client: APIClient) -> None:
    body = 'title,due_to,completed\r\nBuy milk,2030-01-01T14:30:00+02:00,false\r\n"Call mum, then dad",2030-01-02T00:00:00Z,true\r\n'

    response = post_csv(owner_client, body)

    assert response.status_code == 201
    assert response.json()["created"] == 2
    assert list(
        Task.objects.filter(person=owner).order_by("id").values_list("title", "due_to", "completed")
    ) == [
        ("Buy milk", datetime(2030, 1, 1, 12, 30, tzinfo=UTC), False),
        ("Call mum, then dad", datetime(2030, 1, 2, tzinfo=UTC), True),
    ]


def test_csv_columns_in_any_order_with_a_byte_order_mark_and_lf_line_ends(
    owner: User, owner_client: APIClient
) -> None:
    body = "\ufeffcompleted,due_to,title\n,2030-01-01T12:00:00Z,Buy milk\n\ntrue,2030-01-01T12:00:00Z,Done\n"

    response = post_csv(owner_client, body.encode("utf-8"), "text/csv; charset=utf-8")

    assert response.status_code == 201
    # An empty completed cell is absent, i.e. false; blank lines are skipped.
    assert list(Task.objects.order_by("id").values_list("title", "completed")) == [
        ("Buy milk", False),
        ("Done", True),
    ]


def test_one_leading_quote_is_removed_from_csv_titles(owner: User, owner_client: APIClient) -> None:
    body = f"title,due_to\r\n'=1+1,{DUE}\r\n''quoted,{DUE}\r\nplain,{DUE}\r\n"

    response = post_csv(owner_client, body)

    assert response.status_code == 201
    assert titles_of(owner) == ["=1+1", "'quoted", "plain"]


def test_one_quote_is_removed_after_each_separator_in_csv_titles(
    owner: User, owner_client: APIClient
) -> None:
    body = f'title,due_to\r\n"x;\'=cmd;y",{DUE}\r\n"a;\'\'b",{DUE}\r\n"tab\t\'+1",{DUE}\r\n"a; b",{DUE}\r\n'

    response = post_csv(owner_client, body)

    assert response.status_code == 201
    assert titles_of(owner) == ["x;=cmd;y", "a;'b", "tab\t+1", "a; b"]


def test_json_rows_carry_their_rule_in_its_stored_form(owner: User, owner_client: APIClient) -> None:
    response = post_json(
        owner_client,
        [
            {"title": "Water", "due_to": DUE, "recurrence": "rrule:byday=mo;freq=weekly"},
            {"title": "Once", "due_to": DUE, "recurrence": None},
            {"title": "Done", "due_to": DUE, "completed": True, "recurrence": "FREQ=DAILY;COUNT=1"},
        ],
    )

    assert response.status_code == 201
    # A completed recurring task (a series that ended) is imported as it is: not moved on.
    assert list(
        Task.objects.filter(person=owner).order_by("id").values_list("recurrence", "completed", "due_to")
    ) == [
        ("FREQ=WEEKLY;BYDAY=MO", False, datetime(2030, 1, 1, 12, tzinfo=UTC)),
        ("", False, datetime(2030, 1, 1, 12, tzinfo=UTC)),
        ("FREQ=DAILY;COUNT=1", True, datetime(2030, 1, 1, 12, tzinfo=UTC)),
    ]


def test_csv_rows_carry_their_rule_and_an_empty_cell_is_none(owner: User, owner_client: APIClient) -> None:
    body = (
        "title,due_to,recurrence,last_completed\r\n"
        '"Water",2030-01-01T12:00:00Z,"FREQ=MONTHLY;BYDAY=-1FR",2029-12-01T12:00:00Z\r\n'
        "Once,2030-01-01T12:00:00Z,,\r\n"
    )

    response = post_csv(owner_client, body)

    assert response.status_code == 201, response.content
    assert list(
        Task.objects.filter(person=owner).order_by("id").values_list("recurrence", "last_completed")
    ) == [("FREQ=MONTHLY;BYDAY=-1FR", None), ("", None)]  # last_completed is the server's


def test_a_rule_the_api_refuses_is_refused_in_any_row(owner_client: APIClient) -> None:
    as_json = post_json(
        owner_client,
        [
            {"title": "Good", "due_to": DUE, "recurrence": "FREQ=WEEKLY"},
            {"title": "Hourly", "due_to": DUE, "recurrence": "FREQ=HOURLY"},
            {"title": "Twice", "due_to": DUE, "recurrence": "FREQ=DAILY;COUNT=2;COUNT=3"},
        ],
    )
    as_csv = post_csv(
        owner_client,
        "title,due_to,recurrence\r\nGood,2030-01-01T12:00:00Z,FREQ=WEEKLY\r\n"
        "Hourly,2030-01-01T12:00:00Z,FREQ=HOURLY\r\nNumber,2030-01-01T12:00:00Z,7\r\n",
    )

    assert [(r["row"], r["field"], r["message"]) for r in as_json.json()["refused"]] == [
        (2, "recurrence", "FREQ=HOURLY is not taken: a task recurs at most daily."),
        (3, "recurrence", "COUNT is given twice; each part at most once (RFC 5545 §3.3.10)."),
    ]
    assert [(r["row"], r["field"], r["message"][:25]) for r in as_csv.json()["refused"]] == [
        (2, "recurrence", "FREQ=HOURLY is not taken:"),
        (3, "recurrence", "'7' is not a rule part NA"),
    ]
    assert (as_json.status_code, as_csv.status_code) == (400, 400)
    assert not Task.objects.exists()


def test_ids_dates_and_person_are_ignored_even_anothers(
    owner: User, other: User, owner_client: APIClient, staff: User, staff_client: APIClient
) -> None:
    row = {
        "url": "http://testserver/tasks/999/",
        "id": 999,
        "title": "Buy milk",
        "person": f"http://testserver/users/{other.pk}/",
        "due_to": DUE,
        "last_completed": "2000-01-01T00:00:00Z",
        "created": "2000-01-01T00:00:00Z",
        "updated": "2000-01-01T00:00:00Z",
    }

    assert post_json(owner_client, [row]).status_code == 201
    assert post_json(staff_client, [row]).status_code == 201  # staff too: an import is the caller's

    assert titles_of(owner) == ["Buy milk"]
    assert titles_of(staff) == ["Buy milk"]
    assert titles_of(other) == []
    assert not Task.objects.filter(pk=999).exists()
    assert not Task.objects.filter(created__year=2000).exists()
    assert not Task.objects.filter(last_completed__isnull=False).exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("[]", "application/json"), (HEADER, "text/csv")],
    ids=["json", "csv"],
)
def test_a_file_of_no_tasks_creates_none(owner_client: APIClient, body: str, content_type: str) -> None:
    response = owner_client.post("/tasks/import/", body, content_type=content_type)

    assert response.status_code == 201
    assert response.json() == {"created": 0, "tasks": []}


# Refused, all or nothing


def test_one_bad_row_refuses_the_whole_file_and_says_which(owner_client: APIClient) -> None:
    response = post_json(
        owner_client,
        [
            {"title": "Good", "due_to": DUE},
            {"title": "", "due_to": "2030-01-01T12:00:00"},
            {"title": "Good too", "due_to": DUE},
            {"title": "x" * 101, "due_to": DUE, "priority": "high"},
            "not a task",
            {"title": "Completed?", "due_to": DUE, "completed": "maybe"},
        ],
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Nothing was imported: 4 of 6 rows were refused.",
        "refused_rows": 4,
        "refused": [
            {"row": 2, "field": "title", "message": "This field may not be blank."},
            {
                "row": 2,
                "field": "due_to",
                "message": "Give a timezone offset, e.g. 2016-10-18T19:12:01Z or 2016-10-18T21:12:01+02:00.",
            },
            {"row": 4, "field": "priority", "message": "Unknown field."},
            {
                "row": 5,
                "field": "non_field_errors",
                "message": "Invalid data. Expected a dictionary, but got str.",
            },
            {"row": 6, "field": "completed", "message": "Must be a valid boolean."},
        ],
    }
    assert not Task.objects.exists()


def test_json_values_of_another_type_are_refused(owner_client: APIClient) -> None:
    # DRF's fields would take these (a number as text, 1 and "yes" as true): the schema does not.
    response = post_json(
        owner_client,
        [
            {"title": 42, "due_to": DUE},
            {"title": "One", "due_to": DUE, "completed": 1},
            {"title": "Yes", "due_to": DUE, "completed": "yes"},
        ],
    )

    assert response.status_code == 400
    assert [(r["row"], r["field"], r["message"]) for r in response.json()["refused"]] == [
        (1, "title", "Not a valid string."),
        (2, "completed", "Must be a valid boolean."),
        (3, "completed", "Must be a valid boolean."),
    ]
    assert not Task.objects.exists()


def test_csv_booleans_are_true_and_false_in_any_case(owner: User, owner_client: APIClient) -> None:
    refused = post_csv(owner_client, f"title,due_to,completed\r\nA,{DUE},TRUE\r\nB,{DUE},yes\r\n")
    accepted = post_csv(owner_client, f"title,due_to,completed\r\nA,{DUE},TRUE\r\nB,{DUE},False\r\n")

    assert refused.status_code == 400
    assert refused.json()["refused"] == [
        {"row": 2, "field": "completed", "message": "Must be a valid boolean."}
    ]
    assert accepted.status_code == 201
    assert list(Task.objects.order_by("id").values_list("title", "completed")) == [("A", True), ("B", False)]


def test_csv_rows_are_numbered_from_the_first_after_the_header(owner_client: APIClient) -> None:
    body = f"title,due_to\r\nGood,{DUE}\r\nBad,yesterday\r\n"

    response = post_csv(owner_client, body)

    assert response.status_code == 400
    assert [(refusal["row"], refusal["field"]) for refusal in response.json()["refused"]] == [(2, "due_to")]
    assert not Task.objects.exists()


def test_title_over_100_characters_is_refused(owner_client: APIClient) -> None:
    response = post_json(owner_client, [{"title": "x" * 101, "due_to": DUE}])

    assert response.status_code == 400
    assert response.json()["refused"] == [
        {"row": 1, "field": "title", "message": "Ensure this field has no more than 100 characters."}
    ]


def test_the_list_of_refusals_is_bounded(owner_client: APIClient) -> None:
    response = post_json(owner_client, [{"title": "", "due_to": ""}] * 600)

    assert response.status_code == 400
    body = response.json()
    assert body["refused_rows"] == 600
    assert len(body["refused"]) == MAX_LISTED
    assert body["detail"] == (
        "Nothing was imported: 600 of 600 rows were refused. "
        f"The first {MAX_LISTED} refusals are listed, {1200 - MAX_LISTED} more are not."
    )


def test_more_tasks_than_the_limit_is_413_and_writes_nothing(owner_client: APIClient) -> None:
    response = post_json(owner_client, [{"title": "t", "due_to": DUE}] * (MAX_TASKS + 1))

    assert response.status_code == 413
    assert response.json() == {"detail": f"An import takes at most {MAX_TASKS} tasks; split the file."}
    assert not Task.objects.exists()


def test_the_limit_itself_is_accepted(owner: User, owner_client: APIClient) -> None:
    response = post_csv(owner_client, "title,due_to\r\n" + f"t,{DUE}\r\n" * MAX_TASKS)

    assert response.status_code == 201
    assert Task.objects.filter(person=owner).count() == MAX_TASKS


def test_csv_over_the_limit_is_413(owner_client: APIClient) -> None:
    response = post_csv(owner_client, "title,due_to\r\n" + f"t,{DUE}\r\n" * (MAX_TASKS + 1))

    assert response.status_code == 413
    assert not Task.objects.exists()


def test_a_body_over_the_size_limit_is_413(owner_client: APIClient, settings: Any) -> None:
    body = "title,due_to\r\n" + f"t,{DUE}\r\n" * (settings.REQUEST_MAX_BYTES // 20 + 1)

    response = post_csv(owner_client, body)

    assert response.status_code == 413
    assert "detail" in response.json()
    assert not Task.objects.exists()


# Files that are not a tasks.json or a tasks.csv: a clean 400, nothing written


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "The body is empty: send an export's tasks.json or tasks.csv."),
        (b"\r\n\r\n", "The CSV is empty: it needs a header row, e.g. title,due_to,completed."),
        (
            b"title,due_to,priority\r\n",
            "The CSV header names unknown columns: 'priority'. "
            "Known columns: url, id, title, person, due_to, completed, recurrence, last_completed, created, updated.",
        ),
        (b"Title,Due\r\n", None),  # names are as the export writes them
        (b"title,completed\r\nx,true\r\n", "The CSV header lacks the columns: 'due_to'."),
        (
            b"title,due_to,title\r\n",
            "The CSV header names these columns more than once: 'title'.",
        ),
        (b"title,due_to\r\nBuy milk\r\n", "Line 2 has 1 cells where the header has 2."),
        (b"title,due_to\r\nBuy,milk,now\r\n", "Line 2 has 3 cells where the header has 2."),
        (b'title,due_to\r\n"Buy "milk",2030-01-01T12:00:00Z\r\n', None),
        (b"title,due_to\r\nCaf\xe9,2030-01-01T12:00:00Z\r\n", None),  # Latin-1, not UTF-8
        (b"title,due_to\r\nBuy\x00milk,2030-01-01T12:00:00Z\r\n", None),
        ("title,due_to\r\n".encode("utf-16"), None),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", None),  # someone sent the whole zip
    ],
    ids=[
        "empty",
        "blank-lines",
        "unknown-column",
        "other-names",
        "missing-column",
        "repeated-column",
        "short-row",
        "long-row",
        "bad-quoting",
        "latin-1",
        "nul",
        "utf-16",
        "binary",
    ],
)
def test_a_bad_csv_is_a_400_naming_the_problem(
    owner_client: APIClient, body: bytes, message: str | None
) -> None:
    response = post_csv(owner_client, body)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    if message is not None:
        assert detail == message
    assert not Task.objects.exists()


def test_a_csv_in_another_declared_charset_is_refused(owner_client: APIClient) -> None:
    response = post_csv(
        owner_client, f"title,due_to\r\nCafé,{DUE}\r\n".encode("latin-1"), "text/csv; charset=latin-1"
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "tasks.csv is read as UTF-8, not latin-1."}


@pytest.mark.parametrize(
    "body",
    ['[{"title": "Buy milk", "due_to": ', '{"tasks": []}', '"tasks"', "null", "42"],
    ids=["truncated", "object", "string", "null", "number"],
)
def test_bad_json_is_a_400(owner_client: APIClient, body: str) -> None:
    response = owner_client.post("/tasks/import/", body, content_type="application/json")

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    assert not Task.objects.exists()


def test_another_media_type_is_415(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/import/", "<tasks/>", content_type="application/xml")

    assert response.status_code == 415
    assert "detail" in response.json()


def test_import_needs_authentication(db: None, anon: APIClient) -> None:
    response = post_json(anon, [{"title": "Buy milk", "due_to": DUE}])

    assert response.status_code == 401
    assert not Task.objects.exists()


# The round trip


def exported_member(client: APIClient, name: str) -> bytes:
    response = client.get("/tasks/export/?format=zip")
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        return archive.read(name)


TRICKY_TITLES = [
    "Buy milk",
    '=HYPERLINK("http://example.com")',
    "-- dash",
    "'quoted",
    'comma, "quotes" and ; too',
    "line\nbreak",
    "ünïcødé ✓",
    "x" * 100,
]


@pytest.mark.parametrize(
    ("member", "content_type"), [("tasks.json", "application/json"), ("tasks.csv", "text/csv")]
)
def test_anothers_export_imported_makes_the_same_tasks(
    owner: User, owner_client: APIClient, other: User, other_client: APIClient, member: str, content_type: str
) -> None:
    for n, title in enumerate(TRICKY_TITLES):
        Task.objects.create(
            person=owner,
            title=title,
            due_to=datetime(2030, 1, n + 1, 12, 30, 15, n * 1000, tzinfo=UTC),
            completed=n % 2 == 0,
            recurrence=["", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=MONTHLY;UNTIL=20351231T235959Z;BYMONTHDAY=-1"][
                n % 3
            ],
        )

    response = other_client.post(
        "/tasks/import/", exported_member(owner_client, member), content_type=content_type
    )

    assert response.status_code == 201
    assert response.json()["created"] == len(TRICKY_TITLES)

    def fields(user: User) -> list[tuple[str, datetime, bool, str]]:
        return list(
            Task.objects.filter(person=user)
            .order_by("id")
            .values_list("title", "due_to", "completed", "recurrence")
        )

    assert fields(other) == fields(owner)


def test_schema_documents_the_import(anon: APIClient) -> None:
    schema = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/tasks/import/"]["post"]

    content = operation["requestBody"]["content"]
    assert content["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/TaskRowRequest"},
    }
    assert content["text/csv"]["schema"]["type"] == "string"
    row = schema["components"]["schemas"]["TaskRowRequest"]
    assert row["additionalProperties"] is False
    assert row["required"] == ["due_to", "title"]
    assert row["properties"]["person"]["readOnly"] is True  # accepted, and ignored
    assert {"201", "400", "401", "413", "415"} <= operation["responses"].keys()
    assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImportRefused"
    }
