"""?search= within bounds: a few words are searched, a flood of them is a 400, not a 500."""

from datetime import UTC, datetime

import pytest
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from api.filters import MAX_SEARCH_TERM_LENGTH, MAX_SEARCH_TERMS, BoundedSearchFilter
from tasks.models import Task
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def searched(client: APIClient, search: str) -> list[str]:
    response = client.get("/tasks/", {"search": search})
    assert response.status_code == 200, response.json()
    return [task["title"] for task in response.json()["results"]]


def test_every_term_up_to_the_limit_must_be_found(owner: User, owner_client: APIClient) -> None:
    words = [f"w{n}" for n in range(MAX_SEARCH_TERMS)]
    Task.objects.create(person=owner, title=" ".join(words), due_to=DUE)
    Task.objects.create(person=owner, title=" ".join(words[1:]), due_to=DUE)

    assert searched(owner_client, " ".join(words)) == [" ".join(words)]


def test_a_quoted_phrase_is_one_term(owner: User, owner_client: APIClient) -> None:
    phrase = "a b " * MAX_SEARCH_TERMS  # twice as many words as terms allowed
    Task.objects.create(person=owner, title=phrase, due_to=DUE)

    assert searched(owner_client, f'"{phrase}"') == [phrase]


@pytest.mark.parametrize(
    "search",
    [
        " ".join(["milk"] * (MAX_SEARCH_TERMS + 1)),
        ",".join(["milk"] * (MAX_SEARCH_TERMS + 1)),  # commas split terms too
        " ".join(f"w{n}" for n in range(1_100)),  # SQLite: "Expression tree is too large", a 500
    ],
)
def test_too_many_terms_are_a_400(owner_client: APIClient, search: str) -> None:
    response = owner_client.get("/tasks/", {"search": search})

    assert response.status_code == 400
    assert response.json() == {"search": [f"Give at most {MAX_SEARCH_TERMS} search terms."]}


@pytest.mark.parametrize("search", ["x" * (MAX_SEARCH_TERM_LENGTH + 1), "x" * 60_000, f'"{"x " * 60}"'])
def test_a_term_longer_than_any_title_is_a_400(owner_client: APIClient, search: str) -> None:
    response = owner_client.get("/tasks/", {"search": search})

    assert response.status_code == 400
    assert response.json() == {"search": [f"A search term has at most {MAX_SEARCH_TERM_LENGTH} characters."]}


def test_the_longest_term_allowed_is_searched(owner: User, owner_client: APIClient) -> None:
    title = "x" * MAX_SEARCH_TERM_LENGTH
    Task.objects.create(person=owner, title=title, due_to=DUE)

    assert searched(owner_client, title) == [title]


def test_a_view_without_search_fields_neither_reads_nor_refuses_the_search(db: None) -> None:
    request = Request(APIRequestFactory().get("/", {"search": "w " * 1_100}))
    tasks = Task.objects.all()

    assert BoundedSearchFilter().filter_queryset(request, tasks, APIView()) is tasks
