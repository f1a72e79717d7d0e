"""The admin lists, renames and revokes feeds, and never shows a digest or makes a secret."""

import pytest
from django.test import Client

from feeds.models import Feed
from feeds.services import feed_create
from users.models import User


@pytest.fixture
def admin_client_(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(username="root", password="unused-password-1"))
    return client


def test_the_admin_lists_and_shows_feeds_without_their_digest(admin_client_: Client, owner: User) -> None:
    created = feed_create(user_id=owner.pk, name="Phone")

    listing = admin_client_.get("/admin/feeds/feed/")
    detail = admin_client_.get(f"/admin/feeds/feed/{created.feed.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert b"Phone" in listing.content
    for page in (listing, detail):
        assert created.feed.token_digest.encode() not in page.content
        assert created.token.encode() not in page.content


def test_the_admin_cannot_add_a_feed(admin_client_: Client) -> None:
    assert admin_client_.get("/admin/feeds/feed/add/").status_code == 403


def test_deleting_in_the_admin_revokes_the_feed(admin_client_: Client, owner: User) -> None:
    created = feed_create(user_id=owner.pk)

    response = admin_client_.post(f"/admin/feeds/feed/{created.feed.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Feed.objects.exists()
    assert admin_client_.get(f"/tasks/feed/{created.token}.ics").status_code == 404


def test_the_admin_cannot_rename_a_feed_to_more_than_one_line(admin_client_: Client, owner: User) -> None:
    created = feed_create(user_id=owner.pk, name="Phone")

    response = admin_client_.post(f"/admin/feeds/feed/{created.feed.pk}/change/", {"name": "Work\nphone"})

    assert response.status_code == 200  # the form again, with its error
    assert b"A name may not hold line breaks" in response.content
    created.feed.refresh_from_db()
    assert created.feed.name == "Phone"
