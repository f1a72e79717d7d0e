"""GET /tasks/ with ``Accept: text/calendar``: the page of tasks the JSON would hold, as RFC 5545
VTODOs, read back here as a calendar app reads them (icalendar)."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar
from rest_framework.test import APIClient

from projects.services import personal_project_id
from tasks.calendar import calendar_bytes
from tasks.models import Task
from tasks.renderers import CALENDAR_NAME
from tests.helpers.accounts import client_for
from tests.helpers.serialized import serializer_json
from users.models import User

CALENDAR = "text/calendar"
DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def make_task(person: User, title: str = "Buy milk", due_to: datetime = DUE, **fields: Any) -> Task:
    return Task.objects.create(person=person, title=title, due_to=due_to, **fields)


def todos(body: bytes) -> list[Any]:
    """The calendar's VTODOs, in order."""
    return list(Calendar.from_ical(body).walk("VTODO"))


def uids(body: bytes) -> list[str]:
    return [str(todo["UID"]) for todo in todos(body)]


def links(response: Any) -> dict[str, str]:
    """The Link header (RFC 8288) as {relation: URL}."""
    return {rel: url for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="([^"]+)"', response.get("Link", ""))}


def read(client: APIClient, path: str) -> Any:
    return client.get(path, HTTP_ACCEPT=CALENDAR)


def test_the_list_is_a_calendar_of_vtodos(owner: User, owner_client: APIClient) -> None:
    open_task = make_task(owner, "Pay rent; call Bob, twice\nthen rest", due_to=DUE + timedelta(days=1))
    done = make_task(owner, "Buy milk", completed=True)

    response = read(owner_client, "/tasks/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["VERSION"]) == "2.0"
    by_uid = {str(todo["UID"]): todo for todo in calendar.walk("VTODO")}
    assert set(by_uid) == {f"task-{open_task.pk}@taskservice", f"task-{done.pk}@taskservice"}
    first, second = by_uid[f"task-{open_task.pk}@taskservice"], by_uid[f"task-{done.pk}@taskservice"]
    assert str(first["SUMMARY"]) == "Pay rent; call Bob, twice\nthen rest"
    assert first.decoded("DUE") == DUE + timedelta(days=1)
    assert str(first["STATUS"]) == "NEEDS-ACTION"
    assert str(second["SUMMARY"]) == "Buy milk"
    assert second.decoded("DUE") == DUE
    assert str(second["STATUS"]) == "COMPLETED"
    assert str(second["URL"]) == f"http://testserver/tasks/{done.pk}/"


def test_uids_are_stable_across_reads_and_changes(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)
    before = uids(read(owner_client, "/tasks/").content)

    owner_client.patch(f"/tasks/{task.pk}/", {"title": "Buy oat milk", "completed": True})
    after = todos(read(owner_client, "/tasks/").content)

    assert [str(todo["UID"]) for todo in after] == before
    assert str(after[0]["SUMMARY"]) == "Buy oat milk"
    assert str(after[0]["STATUS"]) == "COMPLETED"


def test_only_the_callers_tasks_are_in_it(owner: User, other: User, owner_client: APIClient) -> None:
    mine = make_task(owner, "mine")
    make_task(other, "not mine")

    response = read(owner_client, "/tasks/")

    assert uids(response.content) == [f"task-{mine.pk}@taskservice"]
    assert b"not mine" not in response.content


def test_filters_and_ordering_are_the_jsons(owner: User, owner_client: APIClient) -> None:
    for n in range(4):
        make_task(owner, f"task {n}", due_to=DUE + timedelta(days=n), completed=n % 2 == 1)
    query = "/tasks/?completed=false&ordering=-due_to&search=task"

    as_json = owner_client.get(query).json()["results"]
    as_calendar = todos(read(owner_client, query).content)

    assert [str(todo["SUMMARY"]) for todo in as_calendar] == [task["title"] for task in as_json]
    assert [str(todo["SUMMARY"]) for todo in as_calendar] == ["task 2", "task 0"]


def test_pages_are_the_jsons_and_linked_by_the_link_header(owner: User, owner_client: APIClient) -> None:
    tasks = [make_task(owner, f"t{n}", due_to=DUE + timedelta(hours=n)) for n in range(5)]

    first = read(owner_client, "/tasks/?page_size=2")
    json_page = owner_client.get("/tasks/?page_size=2").json()
    assert links(first) == {"next": json_page["next"]}
    second = read(owner_client, links(first)["next"])
    last = read(owner_client, links(second)["next"])

    assert set(links(second)) == {"next", "prev"}
    assert links(last).keys() == {"prev"}  # no next: the end
    assert uids(read(owner_client, links(second)["prev"]).content) == uids(first.content)
    pages = [uids(page.content) for page in (first, second, last)]
    assert pages == [[f"task-{task.pk}@taskservice" for task in tasks[i : i + 2]] for i in (0, 2, 4)]


def test_the_format_parameter_asks_for_it_without_an_accept_header(
    owner: User, owner_client: APIClient
) -> None:
    for n in range(2):
        make_task(owner, f"t{n}")

    response = owner_client.get("/tasks/?format=ics&page_size=1")

    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert len(todos(response.content)) == 1
    assert "format=ics" in links(response)["next"]


def test_an_empty_list_is_an_empty_calendar(owner_client: APIClient) -> None:
    response = read(owner_client, "/tasks/")

    assert response.status_code == 200
    assert Calendar.from_ical(response.content).walk("VTODO") == []
    assert "Link" not in response


@pytest.mark.parametrize(
    "path",
    ["/tasks/{task}/", "/users/", "/users/{owner}/", "/users/me/"],
)
def test_what_is_not_the_task_list_is_no_calendar(owner: User, owner_client: APIClient, path: str) -> None:
    task = make_task(owner)

    response = read(owner_client, path.format(task=task.pk, owner=owner.pk))

    assert response.status_code == 406
    assert response.json() == {"detail": "Could not satisfy the request Accept header."}


def test_a_create_asking_for_a_calendar_is_406_and_creates_nothing(owner_client: APIClient) -> None:
    response = owner_client.post(
        "/tasks/", {"title": "x", "due_to": "2030-01-01T12:00:00Z"}, HTTP_ACCEPT=CALENDAR
    )

    assert response.status_code == 406
    assert not Task.objects.exists()


def test_errors_come_in_json(owner: User, anon: APIClient, owner_client: APIClient) -> None:
    bad_filter = read(owner_client, "/tasks/?completed=maybe")
    no_token = read(anon, "/tasks/")

    assert bad_filter.status_code == 400
    assert bad_filter["Content-Type"] == "application/json"
    assert bad_filter.json() == {"completed": ["Must be true or false."]}
    assert no_token.status_code == 401
    assert no_token["Content-Type"] == "application/json"
    assert no_token["WWW-Authenticate"].startswith("Bearer")
    assert "Link" not in bad_filter


def test_staff_read_everyones_tasks(owner: User, other: User, staff: User) -> None:
    tasks = [make_task(owner), make_task(other)]

    response = read(client_for(staff), "/tasks/")

    assert sorted(uids(response.content)) == sorted(f"task-{task.pk}@taskservice" for task in tasks)


def test_control_characters_are_replaced_and_the_calendar_still_parses(
    owner: User, owner_client: APIClient
) -> None:
    make_task(owner, "tab\tbell\x07 escape\x1b delete\x7f")

    response = read(owner_client, "/tasks/")

    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", response.content)
    [todo] = todos(response.content)
    assert str(todo["SUMMARY"]) == "tab\tbell\ufffd escape\ufffd delete\ufffd"


def test_a_recurring_task_carries_its_rule_from_its_due_date(owner: User, owner_client: APIClient) -> None:
    # 2030-01-07 is a Monday.
    created = owner_client.post(
        "/tasks/",
        {"title": "Water", "due_to": "2030-01-07T09:30:00Z", "recurrence": "freq=weekly;byday=mo,th;count=4"},
        format="json",
    ).json()
    make_task(owner, "Once")

    by_summary = {str(todo["SUMMARY"]): todo for todo in todos(read(owner_client, "/tasks/").content)}

    todo = by_summary["Water"]
    assert todo["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=4;BYDAY=MO,TH"
    # RFC 5545 §3.8.5.3: the occurrences start at DTSTART; each is due when it starts.
    assert todo.decoded("DTSTART") == todo.decoded("DUE") == datetime(2030, 1, 7, 9, 30, tzinfo=UTC)
    assert "RRULE" not in by_summary["Once"]
    assert "DTSTART" not in by_summary["Once"]
    # A calendar app expands it to the dates completing the task goes through.
    expanded = list(rrulestr(todo["RRULE"].to_ical().decode(), dtstart=todo.decoded("DTSTART")))
    due_dates = [datetime.fromisoformat(created["due_to"])]
    for _ in range(5):
        answer = owner_client.patch(created["url"], {"completed": True}, format="json").json()
        if answer["completed"]:
            break
        due_dates.append(datetime.fromisoformat(answer["due_to"]))
    assert expanded == due_dates
    # Its last occurrence completed, the task is completed, due then, with the COUNT of that one.
    [after] = [t for t in todos(read(owner_client, "/tasks/").content) if str(t["SUMMARY"]) == "Water"]
    assert after["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=1;BYDAY=MO,TH"
    assert after.decoded("DTSTART") == expanded[-1]
    assert str(after["STATUS"]) == "COMPLETED"


def test_a_stored_rule_that_does_not_read_leaves_the_rule_out_and_the_calendar_whole(
    owner: User, owner_client: APIClient
) -> None:
    make_task(owner, "Hand-written", recurrence="FREQ=HOURLY;BYHOUR=1\r\nX:Y")  # a shell, not the API

    [todo] = todos(read(owner_client, "/tasks/").content)

    assert str(todo["SUMMARY"]) == "Hand-written"
    assert "RRULE" not in todo
    assert "DTSTART" not in todo


@pytest.mark.parametrize("count", [1, 50])
def test_the_calendar_makes_no_more_queries_than_the_json(
    owner: User, owner_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    project_id = personal_project_id(owner.pk)  # bulk_create() skips Task.save(), which would find it
    Task.objects.bulk_create(
        Task(person=owner, project_id=project_id, title=f"t{n}", due_to=DUE) for n in range(count)
    )

    # 1: the token's user; 2: the page (LIMIT page_size + 1, no COUNT).
    with django_assert_num_queries(2):
        response = read(owner_client, "/tasks/")

    assert len(todos(response.content)) == count


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("?ordering=id", lambda task: True),
        ("?ordering=id&completed=false", lambda task: not task.completed),
        ("?ordering=id&search=rent", lambda task: "rent" in task.title),
    ],
    ids=["plain", "filtered", "searched"],
)
def test_a_calendar_page_is_the_calendar_of_the_serializers_tasks(
    owner: User, owner_client: APIClient, query: str, kept: Any
) -> None:
    # The read path's rows (tasks/reads.py) against DRF's serializer, plain and filtered.
    tasks = [
        make_task(owner, "Buy milk", due_to=datetime(2030, 1, 1, 12, 0, 1, 500_000, tzinfo=UTC)),
        make_task(owner, "Pay rent; call Bob, twice\nthen rest", completed=True),
        make_task(owner, "tab\tbell\x07 and a long title " * 3, due_to=DUE + timedelta(microseconds=1)),
    ]
    expected = [task for task in tasks if kept(task)]

    response = read(owner_client, f"/tasks/{query}")

    assert response.content == calendar_bytes(serializer_json(expected), name=CALENDAR_NAME)
    assert len(todos(response.content)) == len(expected)
