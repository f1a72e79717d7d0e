"""tasks.serializers.plain_create_data reads a plain create's body as TaskSerializer does, and
declines every body it is not sure of."""

from datetime import UTC, timedelta, timezone
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from tasks.models import TITLE_MAX_LENGTH
from tasks.serializers import TaskSerializer, plain_create_data

REQUEST = Request(APIRequestFactory().post("/tasks/"), parsers=[JSONParser()])
OTHER_NAMES = ["project", "person", "recurrence", "url", "id", "colour"]


def serializer_reading(body: Any) -> tuple[bool, list[tuple[str, Any, Any]]]:
    """Whether TaskSerializer takes ``body``, and what it read, each value with its time zone."""
    serializer = TaskSerializer(data=body, context={"request": REQUEST})
    if not serializer.is_valid():
        return False, []
    return True, described(serializer.validated_data)


def described(data: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    # Equal datetimes in two zones are equal in Python: the zone is compared as well.
    return sorted((name, value, getattr(value, "tzinfo", None)) for name, value in data.items())


def instants() -> st.SearchStrategy[str]:
    zones = st.one_of(
        st.none(),
        st.just(UTC),
        st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    )
    written = st.datetimes(timezones=zones)  # years 1 to 9999
    aware = st.datetimes(timezones=zones.filter(bool))
    return st.one_of(
        aware.map(lambda d: d.isoformat()),
        written.map(lambda d: d.isoformat()),
        written.map(lambda d: d.isoformat(sep=" ", timespec="minutes")),
        written.map(lambda d: d.isoformat().replace("+00:00", "Z")),
        st.sampled_from(
            [
                "2030-02-30T00:00:00Z",  # no such day
                "0001-01-01T00:00:00+01:00",  # UTC before year 1
                "9999-12-31T23:59:59-01:00",  # UTC after year 9999
                "2030-01-01",
                "2030-01-01T25:00:00Z",
                "2030-01-01T12:00:00+24:00",
                "20300101T120000Z",
                " 2030-01-01T12:00:00Z",
                "2030-01-01T12:00:00.1234567Z",
                "",
            ]
        ),
        st.text(max_size=30),
    )


def titles() -> st.SearchStrategy[str]:
    # Whitespace of every kind, NUL, lone surrogates (category Cs), and lengths about the limit.
    letters = st.characters(codec=None, categories=None)
    return st.one_of(
        st.text(alphabet=letters, max_size=12),
        st.text(alphabet=st.sampled_from("ab \t\n\u00a0\u2003\x00\ud800é"), max_size=12),
        st.integers(min_value=TITLE_MAX_LENGTH - 3, max_value=TITLE_MAX_LENGTH + 3).flatmap(
            lambda n: st.tuples(st.sampled_from(["x", "é", " "]), st.sampled_from(["", " ", "\n"])).map(
                lambda parts: parts[1] + "a" * (n - 1) + parts[0] + parts[1]
            )
        ),
    )


values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.text(max_size=3), max_size=2)
)
completions = st.one_of(st.booleans(), st.sampled_from([0, 1, "true", "false", None]))
# Near misses of the plain body: each field of the plain kind, each check met or just missed.
near_plain = st.fixed_dictionaries(
    {"title": titles(), "due_to": instants()}, optional={"completed": completions}
)
anything = st.fixed_dictionaries(
    {},
    optional={
        "title": st.one_of(titles(), values),
        "due_to": st.one_of(instants(), values),
        "completed": completions,
    },
)
with_another = st.one_of(near_plain, anything).flatmap(
    lambda body: st.sampled_from(OTHER_NAMES).map(lambda name: {**body, name: "2030-01-01T00:00:00Z"})
)


@settings(max_examples=600, deadline=None)
@given(body=st.one_of(near_plain, near_plain, anything, with_another, values))
@example(body={"title": "plain", "due_to": "2030-01-02T03:04:05Z"})
@example(body={"title": "  trimmed  ", "due_to": "2030-01-02T05:04:05.5+02:00", "completed": True})
@example(body={"title": "a" * TITLE_MAX_LENGTH + " ", "due_to": "2030-01-02T03:04:05Z"})
@example(body={"title": "a" * TITLE_MAX_LENGTH + "b", "due_to": "2030-01-02T03:04:05Z"})
@example(body={"title": "late", "due_to": "9999-12-31T23:59:59-01:00"})
def test_what_it_reads_the_serializer_reads_alike(body: Any) -> None:
    read = plain_create_data(body)

    if read is not None:
        assert serializer_reading(body) == (True, described(read))


@pytest.mark.parametrize(
    "body",
    [
        {"title": "plain", "due_to": "2030-01-02T03:04:05Z"},
        {"title": " Née ", "due_to": "2030-01-02T05:04:05.123456+02:00", "completed": False},
        {"title": "x" * TITLE_MAX_LENGTH, "due_to": "2030-01-02 03:04+00:00", "completed": True},
    ],
)
def test_it_reads_the_plain_bodies(body: dict[str, Any]) -> None:
    read = plain_create_data(body)

    assert read is not None
    assert described(read) == serializer_reading(body)[1]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x" * (TITLE_MAX_LENGTH + 1), "due_to": "2030-01-02T03:04:05Z"},
        {"title": " \u2003 ", "due_to": "2030-01-02T03:04:05Z"},
        {"title": "nul\x00", "due_to": "2030-01-02T03:04:05Z"},
        {"title": "half \ud83d", "due_to": "2030-01-02T03:04:05Z"},
        {"title": "naive", "due_to": "2030-01-02T03:04:05"},
        {"title": "no day", "due_to": "2030-02-30T03:04:05Z"},
        {"title": "before year 1", "due_to": "0001-01-01T00:00:00+01:00"},
        {"title": "typed", "due_to": "2030-01-02T03:04:05Z", "completed": "true"},
        {"title": "read only", "due_to": "2030-01-02T03:04:05Z", "id": 7},
        {"due_to": "2030-01-02T03:04:05Z"},
        ["title", "due_to"],
    ],
)
def test_it_declines_what_it_is_not_sure_of(body: Any) -> None:
    assert plain_create_data(body) is None


@pytest.mark.django_db
def test_a_plain_create_builds_no_serializer_and_answers_alike(owner_client: APIClient) -> None:
    plain = {"title": " Buy milk ", "due_to": "2030-01-01T14:00:00+02:00", "completed": True}

    with mock.patch("tasks.views.TaskViewSet.get_serializer", side_effect=AssertionError) as made:
        response = owner_client.post("/tasks/", plain, format="json")
    # What the fast path declines still goes through the serializer and its errors.
    refused = owner_client.post("/tasks/", {**plain, "title": " "}, format="json")

    assert not made.called
    assert response.status_code == 201
    assert (response.json()["title"], response.json()["due_to"], response.json()["completed"]) == (
        "Buy milk",
        "2030-01-01T12:00:00Z",
        True,
    )
    assert refused.status_code == 400
    assert refused.json()["title"] == ["This field may not be blank."]
