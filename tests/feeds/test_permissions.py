"""feeds.permissions: through the API everyone sees and revokes only their own feeds; in the
admin a superuser administers every feed, other staff only their own."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from feeds.models import Feed
from feeds.permissions import feeds_administered_by, feeds_visible_to, may_administer_feed, may_see_feed
from feeds.services import feed_create
from tests.helpers.accounts import client_for, personas
from users.models import User

ROLES = ["owner", "other", "staff", "root"]
# Whose feeds each persona administers in the admin (non-staff never get in).
ADMINISTERS = {"staff": {"staff"}, "root": set(ROLES)}


@pytest.fixture
def people(owner: User, other: User, staff: User) -> dict[str, User]:
    return personas(owner, other, staff)


@pytest.fixture
def feeds(people: dict[str, User]) -> dict[str, Feed]:
    """One feed each, named after its owner."""
    return {name: feed_create(user_id=user.pk, name=name).feed for name, user in people.items()}


# The API, role by role


@pytest.mark.parametrize("caller", ROLES)
def test_the_list_holds_the_callers_feeds_only(
    people: dict[str, User], feeds: dict[str, Feed], caller: str
) -> None:
    listed = [feed["name"] for feed in client_for(people[caller]).get("/tasks/feeds/").json()]

    assert listed == [caller]


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ROLES)
def test_reading_and_revoking_a_feed(
    people: dict[str, User], feeds: dict[str, Feed], caller: str, target: str
) -> None:
    client = client_for(people[caller])
    url = f"/tasks/feeds/{feeds[target].pk}/"

    assert client.get(url).status_code == (200 if caller == target else 404)
    assert client.delete(url).status_code == (204 if caller == target else 404)
    assert Feed.objects.filter(pk=feeds[target].pk).exists() is (caller != target)


# The admin, role by role


def admin_client(user: User) -> Client:
    if user.is_staff and not user.is_superuser:
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="feeds", codename__in=["view_feed", "change_feed", "delete_feed"]
            )
        )
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("caller", "status"), [("owner", 302), ("staff", 200), ("root", 200)])
def test_the_admin_changelist(
    people: dict[str, User], feeds: dict[str, Feed], caller: str, status: int
) -> None:
    response = admin_client(people[caller]).get("/admin/feeds/feed/")

    assert response.status_code == status  # 302: to the admin's login, which non-staff never pass
    if status == 200:
        assert {feed.name for feed in response.context["cl"].result_list} == ADMINISTERS[caller]


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ["staff", "root"])
def test_the_admin_renames_only_the_feeds_the_caller_administers(
    people: dict[str, User], feeds: dict[str, Feed], caller: str, target: str
) -> None:
    response = admin_client(people[caller]).post(
        f"/admin/feeds/feed/{feeds[target].pk}/change/", {"name": "Renamed"}
    )

    administered = target in ADMINISTERS[caller]
    assert response.status_code == 302  # saved, or "no such feed" for one the caller may not see
    assert (Feed.objects.get(pk=feeds[target].pk).name == "Renamed") is administered


@pytest.mark.parametrize("caller", ["staff", "root"])
def test_the_admins_bulk_delete_revokes_only_the_feeds_the_caller_administers(
    people: dict[str, User], feeds: dict[str, Feed], caller: str
) -> None:
    admin_client(people[caller]).post(
        "/admin/feeds/feed/",
        {
            "action": "delete_selected",
            "_selected_action": [feed.pk for feed in feeds.values()],
            "post": "yes",
        },
    )

    assert {feed.name for feed in Feed.objects.all()} == set(ROLES) - ADMINISTERS[caller]


# The rules themselves


def test_feeds_visible_to_and_may_see_feed_agree(people: dict[str, User], feeds: dict[str, Feed]) -> None:
    for name, person in people.items():
        assert list(feeds_visible_to(person)) == [feeds[name]]
        assert {feed for feed in feeds.values() if may_see_feed(person, feed)} == {feeds[name]}


def test_feeds_visible_to_is_newest_first(owner: User) -> None:
    first, second = feed_create(user_id=owner.pk).feed, feed_create(user_id=owner.pk).feed

    assert list(feeds_visible_to(owner)) == [second, first]


def test_feeds_administered_by_and_may_administer_feed_agree(
    people: dict[str, User], feeds: dict[str, Feed]
) -> None:
    for name in ("owner", "staff", "root"):
        administered = set(feeds_administered_by(people[name]))
        assert administered == {feed for feed in feeds.values() if may_administer_feed(people[name], feed)}
    assert {feed.name for feed in feeds_administered_by(people["root"])} == set(ROLES)
    assert {feed.name for feed in feeds_administered_by(people["staff"])} == {"staff"}
    among = Feed.objects.filter(name__in=["owner", "staff"])
    assert {feed.name for feed in feeds_administered_by(people["staff"], among=among)} == {"staff"}
