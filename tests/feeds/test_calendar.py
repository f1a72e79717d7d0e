"""GET /tasks/feed/<secret>.ics: a calendar app reads a user's tasks with nothing but the URL."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar
from rest_framework.test import APIClient

from feeds.models import Feed
from feeds.services import feed_create
from projects.services import personal_project_id
from tasks.calendar import task_uid
from tasks.models import Task
from tests.helpers.accounts import client_for
from tests.helpers.feeds import create_feed, feed_path, read_feed, token_of
from tokens.services import token_pair_issue
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def make_task(person: User, title: str = "Buy milk", due_to: datetime = DUE, **fields: Any) -> Task:
    return Task.objects.create(person=person, title=title, due_to=due_to, **fields)


def todos(body: bytes) -> dict[str, Any]:
    """The VTODOs of a calendar, by UID, as a calendar app parses them."""
    return {str(todo["UID"]): todo for todo in Calendar.from_ical(body).walk("VTODO")}


def uid(task: Task) -> str:
    return task_uid(task.pk)


def test_the_feed_serves_every_task_of_its_owner_and_nobody_elses(
    owner: User, other: User, owner_feed: dict[str, Any]
) -> None:
    mine = [make_task(owner, f"mine {n}", DUE + timedelta(days=n)) for n in range(3)]
    make_task(other, "not mine")

    response, body = read_feed(feed_path(owner_feed))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert set(todos(body)) == {uid(task) for task in mine}
    assert b"not mine" not in body


def test_each_task_is_a_vtodo_with_its_fields(owner: User, owner_feed: dict[str, Any]) -> None:
    task = make_task(owner, "Pay rent; call Bob, twice", completed=True)

    todo = todos(read_feed(feed_path(owner_feed))[1])[uid(task)]

    assert str(todo["SUMMARY"]) == "Pay rent; call Bob, twice"
    assert todo.decoded("DUE") == DUE
    assert str(todo["STATUS"]) == "COMPLETED"
    assert str(todo["URL"]) == f"http://testserver/tasks/{task.pk}/"


def test_a_recurring_task_is_a_vtodo_with_its_rule_and_start(owner: User, owner_feed: dict[str, Any]) -> None:
    task = make_task(owner, "Water", recurrence="FREQ=MONTHLY;BYDAY=-1FR")
    once = make_task(owner, "Once")

    found = todos(read_feed(feed_path(owner_feed))[1])

    todo = found[uid(task)]
    assert todo["RRULE"].to_ical() == b"FREQ=MONTHLY;BYDAY=-1FR"
    assert todo.decoded("DTSTART") == todo.decoded("DUE") == DUE
    assert "RRULE" not in found[uid(once)]


def test_the_calendar_is_named_after_the_feed_or_its_owner(owner: User, owner_client: APIClient) -> None:
    named, unnamed = create_feed(owner_client, name="Work phone"), create_feed(owner_client)

    assert Calendar.from_ical(read_feed(feed_path(named))[1])["X-WR-CALNAME"] == "Work phone"
    assert Calendar.from_ical(read_feed(feed_path(unnamed))[1])["X-WR-CALNAME"] == "Tasks of owner"


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Work\rphone", r"Work\nphone"),
        ("Work\nphone", r"Work\nphone"),
        ("Work\r\nphone", r"Work\nphone"),
        ("Work\x07phone; home, too", "Work\ufffdphone\\; home\\, too"),
    ],
)
def test_a_stored_name_with_a_line_break_still_makes_a_calendar(
    owner: User, owner_feed: dict[str, Any], name: str, written: str
) -> None:
    # Names were not checked when some were stored: the calendar must survive them.
    Feed.objects.filter(pk=owner_feed["id"]).update(name=name)
    task = make_task(owner)

    response, body = read_feed(feed_path(owner_feed))

    assert response.status_code == 200
    lines = body.split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines)
    assert lines[-2:] == [b"END:VCALENDAR", b""]
    calendar = Calendar.from_ical(body)
    # TEXT escaping (RFC 5545 §3.3.11), which calendar apps undo; the bell is replaced.
    assert str(calendar["X-WR-CALNAME"]) == str(calendar["NAME"]) == written
    assert set(todos(body)) == {uid(task)}


def test_an_empty_feed_is_an_empty_calendar(owner_feed: dict[str, Any]) -> None:
    response, body = read_feed(feed_path(owner_feed))

    assert response.status_code == 200
    assert todos(body) == {}
    assert Calendar.from_ical(body)["VERSION"] == "2.0"


def test_a_staff_members_feed_holds_their_own_tasks_not_everyones(
    owner: User, staff: User, staff_client: APIClient
) -> None:
    own = make_task(staff, "staff's own")
    make_task(owner, "the owner's")

    body = read_feed(feed_path(create_feed(staff_client)))[1]

    assert set(todos(body)) == {uid(own)}


def test_the_feed_follows_changes_at_once(
    owner: User, owner_client: APIClient, owner_feed: dict[str, Any]
) -> None:
    task = make_task(owner, "Before")
    read_feed(feed_path(owner_feed))

    owner_client.patch(f"/tasks/{task.pk}/", {"title": "After"})
    added = make_task(owner, "New")

    served = todos(read_feed(feed_path(owner_feed))[1])
    assert str(served[uid(task)]["SUMMARY"]) == "After"
    assert uid(added) in served


def test_the_feed_is_kept_by_no_cache(owner_feed: dict[str, Any]) -> None:
    response, _ = read_feed(feed_path(owner_feed))

    assert response["Cache-Control"] == "no-store"
    assert "noindex" in response["X-Robots-Tag"]


def test_the_feed_ignores_what_accept_asks_for(owner_feed: dict[str, Any]) -> None:
    # Calendar apps send all sorts; a 406 would end the subscription.
    for accept in ("text/calendar", "application/json", "text/html", "image/png"):
        response, _ = read_feed(feed_path(owner_feed), HTTP_ACCEPT=accept)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/calendar; charset=utf-8"


def test_head_answers_the_headers_without_a_body(owner: User, owner_feed: dict[str, Any]) -> None:
    make_task(owner)

    response = APIClient().head(feed_path(owner_feed))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"".join(response.streaming_content) == b""
    assert APIClient().head("/tasks/feed/" + "A" * 43 + ".ics").status_code == 404


# Bad secrets


@pytest.mark.parametrize(
    "path",
    [
        "/tasks/feed/" + "A" * 43 + ".ics",  # well formed, never issued
        "/tasks/feed/short.ics",
        "/tasks/feed/" + "A" * 44 + ".ics",
        "/tasks/feed/" + "A" * 42 + "!.ics",
        "/tasks/feed/" + "A" * 43 + ".ics.ics",
        "/tasks/feed/%00" + "A" * 42 + ".ics",
        "/tasks/feed/" + "A" * 5000 + ".ics",
        "/tasks/feed/.ics",
    ],
)
def test_unknown_or_malformed_secrets_are_the_same_json_404(db: None, path: str) -> None:
    response, _ = read_feed(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"


def test_a_secret_one_character_off_is_404(owner_feed: dict[str, Any]) -> None:
    token = token_of(owner_feed)
    near = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert read_feed(f"/tasks/feed/{near}.ics")[0].status_code == 404
    assert read_feed(f"/tasks/feed/{token.swapcase()}.ics")[0].status_code == 404
    assert read_feed(f"/tasks/feed/{token}.ics")[0].status_code == 200


def test_the_secret_is_looked_up_by_its_digest_only(owner_feed: dict[str, Any]) -> None:
    # Compared as a digest, a guess's timing cannot tell how much of it was right.
    token = token_of(owner_feed)

    with CaptureQueriesContext(connection) as queries:
        read_feed(feed_path(owner_feed))

    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert token not in sql
    assert hashlib.sha256(token.encode()).hexdigest() in sql


def test_a_malformed_secret_costs_no_query(db: None, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert read_feed("/tasks/feed/not-a-secret.ics")[0].status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_the_feed_is_read_only(owner: User, owner_feed: dict[str, Any], method: str) -> None:
    make_task(owner)

    response = getattr(APIClient(), method)(feed_path(owner_feed), {"title": "x"})

    assert response.status_code == 405
    assert "detail" in response.json()
    assert Task.objects.count() == 1
    assert Feed.objects.count() == 1


# The feed's secret and the API's tokens are different credentials


def test_a_feed_secret_is_not_a_bearer_token(owner: User, owner_feed: dict[str, Any]) -> None:
    make_task(owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_of(owner_feed)}")

    assert client.get("/tasks/").status_code == 401
    assert client.get("/tasks/feeds/").status_code == 401
    assert client.get("/users/me/").status_code == 401


def test_a_bearer_token_is_not_a_feed_secret(owner: User) -> None:
    make_task(owner)
    pair = token_pair_issue(user=owner)

    for token in (pair["access"], pair["refresh"]):
        response, _ = read_feed(f"/tasks/feed/{token}.ics")
        assert response.status_code == 404


def test_a_bearer_token_does_not_open_a_revoked_feed(owner: User, owner_client: APIClient) -> None:
    feed = create_feed(owner_client)
    owner_client.delete(f"/tasks/feeds/{feed['id']}/")

    response, _ = read_feed(
        feed_path(feed), HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(user=owner)['access']}"
    )

    assert response.status_code == 404


# The owner's account


def test_deactivating_the_owner_stops_the_feed_at_once(owner: User, owner_feed: dict[str, Any]) -> None:
    assert read_feed(feed_path(owner_feed))[0].status_code == 200

    owner.is_active = False
    owner.save()

    assert read_feed(feed_path(owner_feed))[0].status_code == 404


def test_a_deactivation_that_bypasses_signals_stops_the_feed_too(
    owner: User, owner_feed: dict[str, Any]
) -> None:
    User.objects.filter(pk=owner.pk).update(is_active=False)

    assert read_feed(feed_path(owner_feed))[0].status_code == 404


def test_reactivating_the_owner_does_not_bring_the_feed_back(owner: User, owner_feed: dict[str, Any]) -> None:
    # As with the owner's tokens: a deactivation ends them; the owner makes new ones.
    owner.is_active = False
    owner.save()
    owner.is_active = True
    owner.save()

    assert read_feed(feed_path(owner_feed))[0].status_code == 404


def test_deleting_the_owner_deletes_the_feed(
    owner: User, staff_client: APIClient, owner_feed: dict[str, Any]
) -> None:
    assert staff_client.delete(f"/users/{owner.pk}/").status_code == 204

    assert read_feed(feed_path(owner_feed))[0].status_code == 404
    assert not Feed.objects.exists()


# Cost


def test_a_feed_read_costs_three_queries_however_many_tasks(
    owner: User, owner_feed: dict[str, Any], django_assert_num_queries: Any
) -> None:
    project_id = personal_project_id(owner.pk)  # bulk_create() skips Task.save(), which would find it
    Task.objects.bulk_create(
        Task(person=owner, project_id=project_id, title=f"t{n}", due_to=DUE) for n in range(50)
    )

    # 1: the feed and its owner, by the secret's digest; 2: its last_used; 3: the tasks,
    # read while the body is written.
    with django_assert_num_queries(3):
        _, body = read_feed(feed_path(owner_feed))

    assert len(todos(body)) == 50


def test_last_used_is_written_once_a_minute_at_most(
    owner_feed: dict[str, Any], django_assert_num_queries: Any
) -> None:
    read_feed(feed_path(owner_feed))
    first = Feed.objects.get().last_used

    # 1: the feed and its owner; 2: the tasks. last_used was written a moment ago.
    with django_assert_num_queries(2):
        read_feed(feed_path(owner_feed))

    assert Feed.objects.get().last_used == first
    Feed.objects.update(last_used=timezone.now() - timedelta(minutes=2))
    read_feed(feed_path(owner_feed))
    assert Feed.objects.get().last_used > first


def test_the_body_is_streamed_not_built_before_the_answer(
    owner: User, owner_feed: dict[str, Any], django_assert_num_queries: Any
) -> None:
    make_task(owner)

    # 1: the feed and its owner; 2: its last_used. The tasks are not read yet.
    with django_assert_num_queries(2):
        response = APIClient().get(feed_path(owner_feed))

    assert response.streaming
    assert not response.has_header("Content-Length")
    assert len(todos(b"".join(response.streaming_content))) == 1


def test_a_feed_made_by_the_service_works_like_one_made_over_http(owner: User) -> None:
    make_task(owner)
    created = feed_create(user_id=owner.pk, name="From a script")

    response, body = read_feed(f"/tasks/feed/{created.token}.ics")

    assert response.status_code == 200
    assert len(todos(body)) == 1
    assert client_for(owner).get("/tasks/feeds/").json()[0]["name"] == "From a script"
