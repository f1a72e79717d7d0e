"""users.permissions: who sees, creates and changes which account, through every door."""

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import Client
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD, client_for, personas
from users.models import User
from users.permissions import (
    may_change_user,
    may_create_users,
    may_see_user,
    privileges_refused_to,
    users_visible_to,
)
from users.principal import Principal

ROLES = ["owner", "other", "staff", "root"]
# Who sees whom (GET /users/{id}/): staff and superusers everyone, anyone else themselves.
SEES = {
    "owner": {"owner"},
    "other": {"other"},
    "staff": set(ROLES),
    "root": set(ROLES),
}
# Who changes or deletes whom: a superuser only a superuser; the rest staff; anyone themselves.
CHANGES = {
    "owner": {"owner"},
    "other": {"other"},
    "staff": {"owner", "other", "staff"},
    "root": set(ROLES),
}


@pytest.fixture
def people(owner: User, other: User, staff: User) -> dict[str, User]:
    return personas(owner, other, staff)


def expected(caller: str, target: str, success: int) -> int:
    if target not in SEES[caller]:
        return 404  # an account the caller may not see is not there for them
    return success if target in CHANGES[caller] else 403


# The API, role by role


@pytest.mark.parametrize("caller", ROLES)
def test_the_list_holds_the_accounts_the_caller_sees(people: dict[str, User], caller: str) -> None:
    listed = {user["username"] for user in client_for(people[caller]).get("/users/").json()["results"]}

    assert listed == SEES[caller]


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ROLES)
def test_reading_an_account(people: dict[str, User], caller: str, target: str) -> None:
    response = client_for(people[caller]).get(f"/users/{people[target].pk}/")

    assert response.status_code == (200 if target in SEES[caller] else 404)


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ROLES)
def test_changing_an_account(people: dict[str, User], caller: str, target: str) -> None:
    response = client_for(people[caller]).patch(f"/users/{people[target].pk}/", {"first_name": "Changed"})

    assert response.status_code == expected(caller, target, 200)
    if response.status_code == 403:
        assert response.json() == {"detail": "Only a superuser may change or delete a superuser."}
    changed = User.objects.get(pk=people[target].pk).first_name == "Changed"
    assert changed is (response.status_code == 200)


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ROLES)
def test_deleting_an_account(people: dict[str, User], caller: str, target: str) -> None:
    response = client_for(people[caller]).delete(f"/users/{people[target].pk}/")

    assert response.status_code == expected(caller, target, 204)
    assert User.objects.filter(pk=people[target].pk).exists() is (response.status_code != 204)


@pytest.mark.parametrize("caller", ROLES)
def test_me_and_my_password_are_the_callers_own_account(people: dict[str, User], caller: str) -> None:
    client = client_for(people[caller])

    assert client.get("/users/me/").json()["username"] == caller
    response = client.post(
        "/users/me/password/", {"old_password": PASSWORD, "new_password": "a-brand-new-passphrase"}
    )
    assert response.status_code == 204
    assert User.objects.get(pk=people[caller].pk).check_password("a-brand-new-passphrase")


@pytest.mark.parametrize(
    ("signup_open", "caller", "status"),
    [
        (True, None, 201),
        (True, "owner", 201),
        (False, None, 401),
        (False, "owner", 403),
        (False, "staff", 201),
        (False, "root", 201),
    ],
)
def test_who_creates_accounts(
    people: dict[str, User], settings: Settings, signup_open: bool, caller: str | None, status: int
) -> None:
    settings.SIGNUP_OPEN = signup_open
    client = APIClient() if caller is None else client_for(people[caller])

    response = client.post("/users/", {"username": "newcomer", "password": "a-long-enough-passphrase"})

    assert response.status_code == status
    assert User.objects.filter(username="newcomer").exists() is (status == 201)


@pytest.mark.parametrize(
    ("caller", "refused"),
    [("owner", {"is_staff", "is_superuser", "is_active"}), ("staff", {"is_superuser"}), ("root", set())],
)
def test_which_privileges_a_caller_may_change_through_the_api(
    people: dict[str, User], caller: str, refused: set[str]
) -> None:
    client = client_for(people[caller])
    target = people[caller] if caller == "owner" else people["other"]

    for flag in ("is_staff", "is_superuser", "is_active"):
        flipped = not getattr(User.objects.get(pk=target.pk), flag)
        response = client.patch(f"/users/{target.pk}/", {flag: flipped})
        assert response.status_code == (403 if flag in refused else 200), flag
        assert (getattr(User.objects.get(pk=target.pk), flag) == flipped) is (flag not in refused)
        if flag not in refused:
            User.objects.filter(pk=target.pk).update(**{flag: not flipped})  # back, for the next flag


# The admin, role by role


def admin_client(user: User) -> Client:
    if user.is_staff and not user.is_superuser:
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="users", codename__in=["view_user", "change_user", "delete_user"]
            )
        )
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("caller", "status"), [("owner", 302), ("staff", 200), ("root", 200)])
def test_the_admin_changelist(people: dict[str, User], caller: str, status: int) -> None:
    response = admin_client(people[caller]).get("/admin/users/user/")

    assert response.status_code == status  # 302: to the admin's login, which non-staff never pass
    if status == 200:
        assert {user.username for user in response.context["cl"].result_list} == set(ROLES)


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ["staff", "root"])
def test_the_admin_offers_to_change_whom_the_api_lets_change(
    people: dict[str, User], caller: str, target: str
) -> None:
    response = admin_client(people[caller]).get(f"/admin/users/user/{people[target].pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is (target in CHANGES[caller])
    # Superuser-granted fields are an input for a superuser only.
    assert (b'name="is_superuser"' in response.content) is (caller == "root" and target in CHANGES[caller])


# The rules themselves


def caller(pk: int, *, staff: bool = False, superuser: bool = False) -> Principal:
    return Principal(id=pk, username=f"user{pk}", is_staff=staff or superuser, is_superuser=superuser)


def account(pk: int, *, staff: bool = False, superuser: bool = False) -> User:
    return User(pk=pk, username=f"user{pk}", is_staff=staff or superuser, is_superuser=superuser)


def test_may_change_user() -> None:
    assert may_change_user(caller(1), account(1))
    assert not may_change_user(caller(1), account(2))
    assert may_change_user(caller(1, staff=True), account(2, staff=True))
    assert not may_change_user(caller(1, staff=True), account(2, superuser=True))
    assert may_change_user(caller(1, superuser=True), account(2, superuser=True))
    assert may_change_user(caller(1, superuser=True), account(1, superuser=True))


def test_may_see_user_is_the_predicate_of_users_visible_to(people: dict[str, User]) -> None:
    for name in ROLES:
        seen = set(users_visible_to(people[name]))
        assert seen == {user for user in people.values() if may_see_user(people[name], user)}, name


def test_users_visible_to_narrows_what_it_is_given(people: dict[str, User]) -> None:
    among = User.objects.filter(username__in=["owner", "root"])

    assert set(users_visible_to(people["owner"], among=among)) == {people["owner"]}
    assert set(users_visible_to(people["staff"], among=among)) == {people["owner"], people["root"]}


def test_may_create_users(settings: Settings) -> None:
    settings.SIGNUP_OPEN = False
    assert not may_create_users(AnonymousUser())
    assert not may_create_users(caller(1))
    assert may_create_users(caller(1, staff=True))
    settings.SIGNUP_OPEN = True
    assert may_create_users(AnonymousUser())


def test_privileges_refused_to() -> None:
    assert set(privileges_refused_to(None)) == {
        "is_staff",
        "is_active",
        "is_superuser",
        "groups",
        "user_permissions",
    }
    assert set(privileges_refused_to(caller(1))) == set(privileges_refused_to(None))
    assert set(privileges_refused_to(caller(1, staff=True))) == {"is_superuser", "groups", "user_permissions"}
    assert privileges_refused_to(caller(1, superuser=True)) == ()
