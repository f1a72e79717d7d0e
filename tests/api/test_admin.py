"""The admin's search, bounded as ?search= is (api/filters.py): a flood of words is a message, not a 500."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from api.filters import MAX_SEARCH_TERMS
from tasks.models import Task
from users.models import User

CHANGE_LISTS = ["/admin/tasks/task/", "/admin/feeds/feed/", "/admin/users/user/"]


@pytest.fixture
def admin_client_(db: None) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser(username="root", password="unused-password-1"))
    return client


@pytest.mark.parametrize("path", CHANGE_LISTS)
def test_too_many_search_words_are_refused_with_a_message(admin_client_: Client, path: str) -> None:
    # 1,100 words passed SQLite's expression depth: "Expression tree is too large", a 500.
    response = admin_client_.get(path, {"q": " ".join(f"w{n}" for n in range(1_100))})

    assert response.status_code == 200
    assert f"Search with at most {MAX_SEARCH_TERMS} words." in response.content.decode()


def test_a_search_within_the_bound_still_finds(admin_client_: Client, owner: User) -> None:
    Task.objects.create(person=owner, title="needle " * 10, due_to=datetime(2030, 1, 1, tzinfo=UTC))
    Task.objects.create(person=owner, title="hay", due_to=datetime(2030, 1, 1, tzinfo=UTC))

    response = admin_client_.get("/admin/tasks/task/", {"q": " ".join(["needle"] * MAX_SEARCH_TERMS)})

    assert response.status_code == 200
    assert "1 result" in response.content.decode()
