"""User.save ends every credential of an account whose password changed or that was
deactivated, whatever the door: the API, the admin, manage.py changepassword, a shell."""

from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from feeds.models import Feed
from feeds.services import feed_create
from tests.helpers.accounts import PASSWORD, client_for
from tokens.models import Session
from tokens.services import token_pair_issue
from users.models import User

NEW_PASSWORD = "a-brand-new-passphrase"


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def works(pair: dict[str, Any]) -> bool:
    """Whether the access token still reads the tasks and the refresh token still refreshes."""
    reads = bearer(pair["access"]).get("/tasks/").status_code
    refreshes = APIClient().post("/auth/token/refresh/", {"refresh": pair["refresh"]}).status_code
    assert reads == refreshes, (reads, refreshes)
    return reads == 200


def revoked_reasons(user: User) -> list[str]:
    return sorted(Session.objects.filter(user=user).values_list("revoked_reason", flat=True))


@pytest.fixture
def root_admin(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(username="root", password=PASSWORD))
    return client


def test_a_password_set_in_the_admin_ends_the_tokens(owner: User, root_admin: Client) -> None:
    pair = token_pair_issue(user=owner)

    response = root_admin.post(
        f"/admin/users/user/{owner.pk}/password/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert not works(pair)
    assert revoked_reasons(owner) == ["password"]


def test_deactivating_in_the_admin_ends_the_tokens(owner: User, root_admin: Client) -> None:
    pair = token_pair_issue(user=owner)
    form = {
        "username": owner.username,
        "email": owner.email,
        "date_joined_0": owner.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": owner.date_joined.strftime("%H:%M:%S"),
    }  # is_active left out: the box unticked

    assert root_admin.post(f"/admin/users/user/{owner.pk}/change/", form).status_code == 302
    assert not works(pair)
    assert revoked_reasons(owner) == ["deactivated"]


def test_manage_py_changepassword_ends_the_tokens(owner: User) -> None:
    pair = token_pair_issue(user=owner)

    with mock.patch("getpass.getpass", return_value=NEW_PASSWORD):
        call_command("changepassword", owner.username, stdout=mock.Mock())

    assert not works(pair)
    assert User.objects.get(pk=owner.pk).check_password(NEW_PASSWORD)


def test_set_password_and_save_anywhere_ends_the_tokens(owner: User) -> None:
    pair = token_pair_issue(user=owner)
    user = User.objects.get(pk=owner.pk)

    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])

    assert not works(pair)


def test_an_unusable_password_ends_the_tokens(owner: User) -> None:
    pair = token_pair_issue(user=owner)
    user = User.objects.get(pk=owner.pk)

    user.set_unusable_password()
    user.save()

    assert not works(pair)


def test_deactivating_then_reactivating_does_not_bring_the_tokens_back(
    owner: User, staff_client: APIClient
) -> None:
    pair = token_pair_issue(user=owner)
    feed = feed_create(user_id=owner.pk)

    assert staff_client.patch(f"/users/{owner.pk}/", {"is_active": False}).status_code == 200
    assert staff_client.patch(f"/users/{owner.pk}/", {"is_active": True}).status_code == 200

    assert not works(pair)
    assert revoked_reasons(owner) == ["deactivated"]
    assert not Feed.objects.filter(pk=feed.feed.pk).exists()
    assert works(token_pair_issue(user=User.objects.get(pk=owner.pk)))  # a new login works


def test_other_changes_leave_the_tokens_alone(owner: User, staff_client: APIClient) -> None:
    pair = token_pair_issue(user=owner)

    assert (
        staff_client.patch(f"/users/{owner.pk}/", {"first_name": "Ann", "is_staff": True}).status_code == 200
    )
    owner.refresh_from_db()
    owner.last_name = "Smith"
    owner.save()

    assert works(pair)
    assert owner.token_generation == 0


def test_a_hash_upgrade_at_login_is_not_a_password_change(owner: User, settings: Any) -> None:
    pair = token_pair_issue(user=owner)
    # The stored MD5 hash is now an old scheme: the login rehashes the same password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    login = APIClient().post("/auth/token/", {"username": owner.username, "password": PASSWORD})

    assert login.status_code == 200
    assert User.objects.get(pk=owner.pk).password.startswith("pbkdf2_sha256$")
    assert works(pair)


def test_a_stale_copy_saved_after_a_logout_everywhere_does_not_revive_the_tokens(owner: User) -> None:
    stale = User.objects.get(pk=owner.pk)  # say, an admin form opened before the logout
    pair = token_pair_issue(user=owner)
    assert client_for(owner).post("/auth/logout-all/").status_code == 204
    assert not works(pair)

    stale.first_name = "Ann"
    stale.save()

    assert not works(pair)
    assert User.objects.get(pk=owner.pk).token_generation == 1


def test_a_password_change_through_the_api_ends_each_session_once(owner: User) -> None:
    token_pair_issue(user=owner)
    client = client_for(owner)

    response = client.post("/users/me/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 204
    assert revoked_reasons(owner) == ["password", "password"]
    assert User.objects.get(pk=owner.pk).token_generation > 0


# Browser sessions (/api-auth/login/): Django compares the session's stored hash with
# User.get_session_auth_hash() on every request.


@pytest.fixture
def browser(owner: User) -> Client:
    client = Client()
    response = client.post("/api-auth/login/", {"username": owner.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    assert client.get("/tasks/", HTTP_ACCEPT="application/json").status_code == 200
    return client


def test_logging_out_everywhere_ends_the_browser_sessions(owner: User, browser: Client) -> None:
    assert client_for(owner).post("/auth/logout-all/").status_code == 204

    assert browser.get("/tasks/", HTTP_ACCEPT="application/json").status_code == 401


def test_a_password_change_ends_the_browser_sessions(owner: User, browser: Client) -> None:
    response = client_for(owner).post(
        "/users/me/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert browser.get("/tasks/", HTTP_ACCEPT="application/json").status_code == 401


def test_a_deactivation_and_reactivation_ends_the_browser_sessions(
    owner: User, browser: Client, staff_client: APIClient
) -> None:
    staff_client.patch(f"/users/{owner.pk}/", {"is_active": False})
    staff_client.patch(f"/users/{owner.pk}/", {"is_active": True})

    assert browser.get("/tasks/", HTTP_ACCEPT="application/json").status_code == 401


def test_a_browser_session_survives_what_ends_nothing(owner: User, browser: Client) -> None:
    owner.first_name = "Ann"
    owner.save()

    assert browser.get("/tasks/", HTTP_ACCEPT="application/json").status_code == 200


def test_changing_ones_own_password_in_the_admin_keeps_that_browser_session(db: None) -> None:
    # Django's admin calls update_session_auth_hash(): the new hash, generation included.
    root = User.objects.create_superuser(username="root", password=PASSWORD)
    client = Client()
    client.force_login(root)

    response = client.post(
        f"/admin/users/user/{root.pk}/password/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
