"""The user admin: only a superuser changes, deletes or makes a superuser."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.helpers.accounts import PASSWORD
from users.models import User


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser(username="root", password=PASSWORD)


@pytest.fixture
def staff_admin(staff: User) -> Client:
    """A staff member allowed to view, change and delete users: Django's usual help desk."""
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="users", codename__in=["view_user", "change_user", "delete_user"]
        )
    )
    client = Client()
    client.force_login(staff)
    return client


def change_form(user: User, **changes: object) -> dict[str, object]:
    """What the admin's change form posts for ``user``, with ``changes``."""
    form: dict[str, object] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(user, flag):
            form[flag] = "on"
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def test_staff_cannot_deactivate_a_superuser_in_the_admin(root: User, staff_admin: Client) -> None:
    response = staff_admin.post(f"/admin/users/user/{root.pk}/change/", change_form(root, is_active=None))

    assert response.status_code == 403
    assert User.objects.get(pk=root.pk).is_active is True


def test_staff_cannot_set_a_superusers_password_in_the_admin(root: User, staff_admin: Client) -> None:
    response = staff_admin.post(
        f"/admin/users/user/{root.pk}/password/",
        {"password1": "taken-over-passphrase", "password2": "taken-over-passphrase"},
    )

    assert response.status_code == 403
    assert User.objects.get(pk=root.pk).check_password(PASSWORD)


def test_staff_cannot_delete_a_superuser_in_the_admin(root: User, staff_admin: Client) -> None:
    one = staff_admin.post(f"/admin/users/user/{root.pk}/delete/", {"post": "yes"})
    bulk = staff_admin.post(
        "/admin/users/user/", {"action": "delete_selected", "_selected_action": [root.pk], "post": "yes"}
    )

    assert one.status_code == 403
    assert bulk.status_code in (200, 403)  # Django answers its "permission needed" page
    assert User.objects.filter(pk=root.pk).exists()


def test_staff_cannot_make_themselves_superuser_in_the_admin(staff: User, staff_admin: Client) -> None:
    granted = Permission.objects.get(codename="delete_permission")

    response = staff_admin.post(
        f"/admin/users/user/{staff.pk}/change/",
        change_form(staff, is_superuser="on", user_permissions=[granted.pk]),
    )

    assert response.status_code == 302  # the rest of the form is saved; those fields are not in it
    staff.refresh_from_db()
    assert staff.is_superuser is False
    assert not staff.user_permissions.filter(pk=granted.pk).exists()


def test_staff_still_change_an_ordinary_account_in_the_admin(owner: User, staff_admin: Client) -> None:
    response = staff_admin.post(f"/admin/users/user/{owner.pk}/change/", change_form(owner, first_name="Ann"))

    assert response.status_code == 302
    assert User.objects.get(pk=owner.pk).first_name == "Ann"


def test_a_superuser_deactivates_a_superuser_in_the_admin(root: User) -> None:
    second = User.objects.create_superuser(username="root2", password=PASSWORD)
    client = Client()
    client.force_login(root)

    response = client.post(f"/admin/users/user/{second.pk}/change/", change_form(second, is_active=None))

    assert response.status_code == 302
    assert User.objects.get(pk=second.pk).is_active is False
