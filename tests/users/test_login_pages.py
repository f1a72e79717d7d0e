"""The HTML pages that take a password: the browsable API's login, the admin's login and
password change."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers.accounts import PASSWORD
from users.models import User

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def staff_session(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_the_browsable_api_login_and_logout_keep_their_names_and_work(owner: User) -> None:
    client = Client()
    assert reverse("rest_framework:login") == "/api-auth/login/"
    assert client.get("/api-auth/login/").status_code == 200

    response = client.post("/api-auth/login/?next=/tasks/", {"username": "owner", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/tasks/"
    assert client.session["_auth_user_id"] == str(owner.pk)
    assert client.post(reverse("rest_framework:logout")).status_code == 200  # "Logged out"
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_on_the_login_page_is_refused_as_before(owner: User) -> None:
    response = Client().post("/api-auth/login/", {"username": "owner", "password": "wrong"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_the_admin_login_still_lets_staff_in_and_only_staff(staff: User, owner: User) -> None:
    client = Client()
    assert client.get("/admin/login/").status_code == 200

    refused = client.post("/admin/login/", {"username": "owner", "password": PASSWORD})
    response = client.post("/admin/login/?next=/admin/", {"username": "staff", "password": PASSWORD})

    assert refused.status_code == 200
    assert b"Please enter the correct username and password for a staff account" in refused.content
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(staff.pk)
    assert client.get("/admin/login/")["Location"] == reverse("admin:index")  # already in


def test_the_admin_password_change_still_changes_the_password(staff: User, staff_session: Client) -> None:
    response = staff_session.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:password_change_done")
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD)


def test_the_admin_password_change_is_for_staff_only(owner: User) -> None:
    client = Client()
    client.force_login(owner)

    response = client.get("/admin/password_change/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_guessing_the_old_password_in_the_admin_is_throttled(
    staff: User, staff_session: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"login": "100000/min", "login_username": "3/min", "signup": "1/min"},
    )
    change = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    guesses = [
        staff_session.post("/admin/password_change/", {"old_password": f"guess-{n}", **change})
        for n in range(3)
    ]
    right = staff_session.post("/admin/password_change/", {"old_password": PASSWORD, **change})

    assert [response.status_code for response in guesses] == [200, 200, 200]
    assert right.status_code == 429
    assert int(right["Retry-After"]) > 0
    assert b"Too many login attempts; try again in" in right.content
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
