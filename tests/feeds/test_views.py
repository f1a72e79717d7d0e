"""/tasks/feeds/: the caller creates, lists, reads and revokes their calendar feeds."""

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from feeds.models import Feed
from feeds.services import FEEDS_PER_USER
from tasks.models import Task
from tests.helpers.accounts import PASSWORD, client_for
from tests.helpers.feeds import create_feed, feed_path, read_feed, token_of
from users.models import User

# Creating


def test_create_answers_the_feed_url_with_its_secret(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/feeds/", {"name": "Phone"})

    assert response.status_code == 201
    body = response.json()
    feed = Feed.objects.get()
    assert body["id"] == feed.pk
    assert body["name"] == "Phone"
    assert body["last_used"] is None
    assert body["feed_url"].startswith("http://testserver/tasks/feed/")
    assert body["feed_url"].endswith(".ics")
    assert len(token_of(body)) == 43
    assert response["Location"] == f"http://testserver/tasks/feeds/{feed.pk}/"
    assert response["Cache-Control"] == "no-store"
    assert feed.user == owner


def test_create_needs_no_body(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/feeds/")

    assert response.status_code == 201
    assert response.json()["name"] == ""


def test_each_feed_gets_its_own_secret(owner_client: APIClient) -> None:
    urls = {create_feed(owner_client)["feed_url"] for _ in range(5)}

    assert len(urls) == 5


def test_the_database_holds_the_secrets_digest_not_the_secret(owner_client: APIClient) -> None:
    feed = create_feed(owner_client)
    token = token_of(feed)

    stored = Feed.objects.values().get(pk=feed["id"])

    assert token not in str(stored)
    assert stored["token_digest"] == hashlib.sha256(token.encode()).hexdigest()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": 0}, "name"),
        ({"name": None}, "name"),
        ({"name": ["Phone"]}, "name"),
        ({"token_digest": "0" * 64}, "token_digest"),
        ({"user": 1}, "user"),
    ],
)
def test_create_refuses_bad_or_unknown_fields(
    owner_client: APIClient, body: dict[str, Any], field: str
) -> None:
    response = owner_client.post("/tasks/feeds/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert not Feed.objects.exists()


@pytest.mark.parametrize(
    "name", ["Work\rphone", "Work\nphone", "Work\r\nphone", "Work\tphone", "Work\u2028phone"]
)
def test_create_refuses_a_name_that_is_not_one_line(owner_client: APIClient, name: str) -> None:
    response = owner_client.post("/tasks/feeds/", {"name": name}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["A name may not hold line breaks, tabs or other control characters."]}
    assert not Feed.objects.exists()


def test_create_keeps_a_name_of_any_script_and_emoji(owner_client: APIClient) -> None:
    name = "Téléphone 📱 👨‍👩‍👧 (работа), ; \\"

    assert create_feed(owner_client, name=name)["name"] == name


def test_create_is_refused_beyond_the_limit_until_one_is_revoked(owner_client: APIClient) -> None:
    feeds = [create_feed(owner_client) for _ in range(FEEDS_PER_USER)]

    refused = owner_client.post("/tasks/feeds/", {"name": "one too many"})

    assert refused.status_code == 400
    assert refused.json() == {
        "non_field_errors": [
            f"You already have {FEEDS_PER_USER} calendar feeds, the most allowed: revoke one first."
        ]
    }
    assert Feed.objects.count() == FEEDS_PER_USER
    owner_client.delete(f"/tasks/feeds/{feeds[0]['id']}/")
    assert owner_client.post("/tasks/feeds/").status_code == 201


def test_the_limit_is_per_user(owner_client: APIClient, other_client: APIClient) -> None:
    for _ in range(FEEDS_PER_USER):
        create_feed(owner_client)

    assert other_client.post("/tasks/feeds/").status_code == 201


# Listing and reading


def test_list_shows_the_callers_feeds_without_any_secret(owner_client: APIClient) -> None:
    created = [create_feed(owner_client, name=name) for name in ("Phone", "Laptop")]
    digests = list(Feed.objects.values_list("token_digest", flat=True))

    response = owner_client.get("/tasks/feeds/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    listed = response.json()
    assert [feed["name"] for feed in listed] == ["Laptop", "Phone"]  # newest first
    assert {tuple(feed) for feed in listed} == {("id", "name", "created", "last_used")}
    for secret in [token_of(feed) for feed in created] + digests:
        assert secret not in response.content.decode()


def test_retrieve_shows_one_feed_without_its_secret(
    owner_client: APIClient, owner_feed: dict[str, Any]
) -> None:
    response = owner_client.get(f"/tasks/feeds/{owner_feed['id']}/")

    assert response.status_code == 200
    assert response.json() == {key: owner_feed[key] for key in ("id", "name", "created", "last_used")}
    assert token_of(owner_feed) not in response.content.decode()
    assert Feed.objects.get().token_digest not in response.content.decode()


def test_list_shows_when_a_feed_was_last_read(owner_client: APIClient, owner_feed: dict[str, Any]) -> None:
    read_feed(feed_path(owner_feed))

    [listed] = owner_client.get("/tasks/feeds/").json()

    assert listed["last_used"] is not None


def test_staff_see_only_their_own_feeds(
    owner_client: APIClient, owner_feed: dict[str, Any], staff_client: APIClient
) -> None:
    mine = create_feed(staff_client, name="Staff phone")

    assert [feed["id"] for feed in staff_client.get("/tasks/feeds/").json()] == [mine["id"]]
    assert staff_client.get(f"/tasks/feeds/{owner_feed['id']}/").status_code == 404
    assert staff_client.delete(f"/tasks/feeds/{owner_feed['id']}/").status_code == 404


def test_another_user_can_neither_see_nor_revoke_my_feed(
    owner_feed: dict[str, Any], other_client: APIClient
) -> None:
    assert other_client.get("/tasks/feeds/").json() == []
    assert other_client.get(f"/tasks/feeds/{owner_feed['id']}/").status_code == 404

    response = other_client.delete(f"/tasks/feeds/{owner_feed['id']}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such feed."}
    assert read_feed(feed_path(owner_feed))[0].status_code == 200


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_feeds_need_authentication(anon: APIClient, owner_feed: dict[str, Any], method: str) -> None:
    path = "/tasks/feeds/" if method == "post" else f"/tasks/feeds/{owner_feed['id']}/"

    response = getattr(anon, method)(path)

    assert response.status_code == 401
    assert Feed.objects.count() == 1


@pytest.mark.parametrize("feed_id", ["999999", str(2**63), "9" * 40])
def test_unknown_feed_ids_are_404(owner_client: APIClient, feed_id: str) -> None:
    assert owner_client.get(f"/tasks/feeds/{feed_id}/").status_code == 404
    assert owner_client.delete(f"/tasks/feeds/{feed_id}/").status_code == 404


def test_feed_routes_live_beside_the_task_routes(
    owner: User, owner_client: APIClient, owner_feed: dict[str, Any]
) -> None:
    task = Task.objects.create(person=owner, title="Buy milk", due_to=datetime(2030, 1, 1, tzinfo=UTC))

    assert reverse("feed-list") == "/tasks/feeds/"
    assert [feed["id"] for feed in owner_client.get("/tasks/feeds/").json()] == [owner_feed["id"]]
    assert owner_client.get(f"/tasks/feeds/{owner_feed['id']}/").json()["name"] == "Phone"
    assert owner_client.get(f"/tasks/{task.pk}/").json()["id"] == task.pk
    assert [row["id"] for row in owner_client.get("/tasks/").json()["results"]] == [task.pk]


# Revoking


def test_revoking_stops_the_feed_at_once(owner_client: APIClient, owner_feed: dict[str, Any]) -> None:
    assert read_feed(feed_path(owner_feed))[0].status_code == 200

    response = owner_client.delete(f"/tasks/feeds/{owner_feed['id']}/")

    assert response.status_code == 204
    after, _ = read_feed(feed_path(owner_feed))
    assert after.status_code == 404
    assert after.json() == {"detail": "Not found."}
    assert owner_client.delete(f"/tasks/feeds/{owner_feed['id']}/").status_code == 404
    assert owner_client.get("/tasks/feeds/").json() == []


def test_revoking_one_feed_leaves_the_others(owner_client: APIClient) -> None:
    phone, laptop = create_feed(owner_client), create_feed(owner_client)

    owner_client.delete(f"/tasks/feeds/{phone['id']}/")

    assert read_feed(feed_path(laptop))[0].status_code == 200
    assert read_feed(feed_path(phone))[0].status_code == 404


def test_logging_out_everywhere_ends_the_feeds(owner: User, owner_feed: dict[str, Any]) -> None:
    # A feed made with a stolen token must not outlive the logout that ends the theft.
    assert read_feed(feed_path(owner_feed))[0].status_code == 200

    assert client_for(owner).post("/auth/logout-all/").status_code == 204

    assert read_feed(feed_path(owner_feed))[0].status_code == 404
    assert not Feed.objects.filter(user=owner).exists()


def test_a_password_change_ends_the_feeds(owner: User, owner_feed: dict[str, Any]) -> None:
    response = client_for(owner).post(
        "/users/me/password/", {"old_password": PASSWORD, "new_password": "a-brand-new-passphrase"}
    )

    assert response.status_code == 204
    assert read_feed(feed_path(owner_feed))[0].status_code == 404


def test_a_password_set_outside_the_api_ends_the_feeds(owner: User, owner_feed: dict[str, Any]) -> None:
    owner.set_password("a-brand-new-passphrase")  # as the admin and manage.py changepassword do
    owner.save()

    assert read_feed(feed_path(owner_feed))[0].status_code == 404


def test_a_new_feed_works_after_a_logout_everywhere(owner: User) -> None:
    client_for(owner).post("/auth/logout-all/")

    feed = create_feed(client_for(User.objects.get(pk=owner.pk)))  # a new login

    assert read_feed(feed_path(feed))[0].status_code == 200


def test_another_users_logout_everywhere_leaves_my_feeds(other: User, owner_feed: dict[str, Any]) -> None:
    client_for(other).post("/auth/logout-all/")

    assert read_feed(feed_path(owner_feed))[0].status_code == 200
