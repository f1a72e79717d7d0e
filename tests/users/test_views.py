from datetime import UTC, datetime

import pytest
from django.contrib.auth.hashers import check_password
from pytest_django import Settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tasks.models import Task
from tests.helpers.accounts import PASSWORD, client_for
from users.models import User

NEW_PASSWORD = "a-brand-new-passphrase"
# What a leaked hash (or the password field itself) would look like in a body.
SECRETS = (b"password", b"argon2", b"md5$", b"pbkdf2", b"scrypt")


def assert_no_secret(content: bytes) -> None:
    lowered = content.lower()
    for secret in SECRETS:
        assert secret not in lowered, secret


def user_url(user: User) -> str:
    return f"http://testserver/users/{user.pk}/"


def logs_in(username: str, password: str) -> bool:
    response = APIClient().post("/auth/token/", {"username": username, "password": password})
    assert response.status_code in (200, 401), response.content
    return response.status_code == 200


# Signing up


def test_anyone_may_sign_up(anon: APIClient, db: None) -> None:
    response = anon.post("/users/", {"username": "newbie", "password": PASSWORD, "email": "n@example.com"})

    assert response.status_code == 201
    user = User.objects.get(username="newbie")
    body = response.json()
    assert body["id"] == user.pk
    assert body["url"] == user_url(user)
    assert response["Location"] == body["url"]
    assert body["email"] == "n@example.com"
    assert body["is_staff"] is False
    assert body["is_superuser"] is False


def test_sign_up_answers_no_password_nor_hash(anon: APIClient, db: None) -> None:
    response = anon.post("/users/", {"username": "newbie", "password": PASSWORD})

    assert response.status_code == 201
    assert_no_secret(response.content)


def test_sign_up_stores_the_password_hashed(anon: APIClient, db: None) -> None:
    anon.post("/users/", {"username": "newbie", "password": PASSWORD})

    user = User.objects.get(username="newbie")
    assert user.password != PASSWORD
    assert user.password.startswith("md5$")  # the hasher the test settings name
    assert check_password(PASSWORD, user.password)
    assert logs_in("newbie", PASSWORD)


def test_sign_up_hashes_with_argon2_in_production_settings(
    anon: APIClient, db: None, settings: Settings
) -> None:
    settings.PASSWORD_HASHERS = ["users.hashers.Argon2PasswordHasher"]

    anon.post("/users/", {"username": "newbie", "password": PASSWORD})

    assert User.objects.get(username="newbie").password.startswith("argon2$")


@pytest.mark.parametrize("password", ["123", "password", "12345678901", "newbie-x"])
def test_sign_up_refuses_a_weak_password(anon: APIClient, db: None, password: str) -> None:
    response = anon.post("/users/", {"username": "newbie-x", "password": password})

    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(username="newbie-x").exists()


def test_sign_up_refuses_a_taken_username(anon: APIClient, owner: User) -> None:
    response = anon.post("/users/", {"username": "owner", "password": PASSWORD})

    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.filter(username="owner").count() == 1


@pytest.mark.parametrize("missing", ["username", "password"])
def test_sign_up_requires_username_and_password(anon: APIClient, db: None, missing: str) -> None:
    body = {"username": "newbie", "password": PASSWORD}
    del body[missing]

    response = anon.post("/users/", body)

    assert response.status_code == 400
    assert missing in response.json()
    assert not User.objects.exists()


@pytest.mark.parametrize("privilege", ["is_staff", "is_superuser"])
def test_sign_up_asking_for_a_privilege_is_refused(anon: APIClient, db: None, privilege: str) -> None:
    # Refused, not silently dropped: the client must not believe it got what it asked for.
    response = anon.post("/users/", {"username": "newbie", "password": PASSWORD, privilege: True})

    assert response.status_code == 403
    assert not User.objects.filter(username="newbie").exists()


def test_sign_up_may_send_the_privileges_it_gets_anyway(anon: APIClient, db: None) -> None:
    response = anon.post(
        "/users/",
        {"username": "newbie", "password": PASSWORD, "is_staff": False, "is_superuser": False},
    )

    assert response.status_code == 201
    user = User.objects.get(username="newbie")
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_staff_cannot_create_a_superuser(staff_client: APIClient) -> None:
    response = staff_client.post(
        "/users/", {"username": "root2", "password": PASSWORD, "is_staff": True, "is_superuser": True}
    )

    assert response.status_code == 403
    assert not User.objects.filter(username="root2").exists()


def test_a_superuser_creates_a_superuser(db: None) -> None:
    root = User.objects.create_superuser(username="root", password=PASSWORD)

    response = client_for(root).post(
        "/users/", {"username": "root2", "password": PASSWORD, "is_staff": True, "is_superuser": True}
    )

    assert response.status_code == 201
    assert User.objects.get(username="root2").is_superuser is True


def test_sign_up_refuses_an_unknown_field(anon: APIClient, db: None) -> None:
    response = anon.post("/users/", {"username": "newbie", "password": PASSWORD, "role": "admin"})

    assert response.status_code == 400
    assert "role" in response.json()
    assert not User.objects.exists()


def test_closed_sign_up_refuses_anonymous_callers(anon: APIClient, db: None, settings: Settings) -> None:
    settings.SIGNUP_OPEN = False

    response = anon.post("/users/", {"username": "newbie", "password": PASSWORD})

    assert response.status_code in (401, 403)
    assert not User.objects.filter(username="newbie").exists()


def test_closed_sign_up_refuses_non_staff(owner_client: APIClient, settings: Settings) -> None:
    settings.SIGNUP_OPEN = False

    response = owner_client.post("/users/", {"username": "newbie", "password": PASSWORD})

    assert response.status_code == 403
    assert not User.objects.filter(username="newbie").exists()


def test_closed_sign_up_still_lets_staff_create_users(staff_client: APIClient, settings: Settings) -> None:
    settings.SIGNUP_OPEN = False

    response = staff_client.post("/users/", {"username": "hired", "password": PASSWORD, "is_staff": True})

    assert response.status_code == 201
    assert User.objects.get(username="hired").is_staff is True
    assert logs_in("hired", PASSWORD)


# Reading


def test_non_staff_list_only_themselves(owner: User, other: User, owner_client: APIClient) -> None:
    response = owner_client.get("/users/")

    assert response.status_code == 200
    assert [user["id"] for user in response.json()["results"]] == [owner.pk]


def test_staff_list_everyone(owner: User, other: User, staff: User, staff_client: APIClient) -> None:
    response = staff_client.get("/users/")

    assert [user["id"] for user in response.json()["results"]] == [owner.pk, other.pk, staff.pk]


def test_unauthenticated_list_is_401(anon: APIClient, owner: User) -> None:
    assert anon.get("/users/").status_code == 401
    assert anon.get(f"/users/{owner.pk}/").status_code == 401
    assert anon.get("/users/me/").status_code == 401


def test_me_is_the_caller(owner: User, other: User, owner_client: APIClient) -> None:
    response = owner_client.get("/users/me/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == owner.pk
    assert body["url"] == user_url(owner)
    assert body["username"] == "owner"
    assert body["email"] == "owner@example.com"


def test_a_user_reads_themselves(owner: User, owner_client: APIClient) -> None:
    response = owner_client.get(f"/users/{owner.pk}/")

    assert response.status_code == 200
    assert response.json()["username"] == "owner"


def test_staff_read_anyone(owner: User, staff_client: APIClient) -> None:
    assert staff_client.get(f"/users/{owner.pk}/").json()["username"] == "owner"


def test_no_user_answer_carries_a_password_or_hash(
    owner: User, other: User, owner_client: APIClient, staff_client: APIClient, anon: APIClient
) -> None:
    answers = [
        owner_client.get("/users/"),
        owner_client.get("/users/me/"),
        owner_client.get(f"/users/{owner.pk}/"),
        owner_client.patch(f"/users/{owner.pk}/", {"first_name": "Ann"}),
        staff_client.get("/users/"),
        staff_client.get(f"/users/{other.pk}/"),
        staff_client.post("/users/", {"username": "hired", "password": PASSWORD}),
        anon.post("/users/", {"username": "newbie", "password": PASSWORD}),
    ]

    for response in answers:
        assert response.status_code in (200, 201), response.content
        assert_no_secret(response.content)


# Someone else's account


def test_another_users_account_is_404_to_non_staff(owner: User, other: User, other_client: APIClient) -> None:
    url = f"/users/{owner.pk}/"
    before = User.objects.values().get(pk=owner.pk)

    assert other_client.get(url).status_code == 404
    assert other_client.put(url, {"username": "taken", "email": "x@example.com"}).status_code == 404
    assert other_client.patch(url, {"email": "x@example.com"}).status_code == 404
    assert other_client.delete(url).status_code == 404
    assert User.objects.values().get(pk=owner.pk) == before


# Changing oneself


def test_a_user_patches_their_own_details(owner: User, owner_client: APIClient) -> None:
    response = owner_client.patch(f"/users/{owner.pk}/", {"first_name": "Ann", "email": "ann@example.com"})

    assert response.status_code == 200
    owner.refresh_from_db()
    assert (owner.first_name, owner.email) == ("Ann", "ann@example.com")


def test_put_of_what_get_returned_works(owner: User, owner_client: APIClient) -> None:
    body = owner_client.get(f"/users/{owner.pk}/").json()
    body["last_name"] = "Smith"

    response = owner_client.put(f"/users/{owner.pk}/", body)

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.last_name == "Smith"
    assert owner.check_password(PASSWORD)


@pytest.mark.parametrize("privilege", ["is_staff", "is_superuser"])
def test_non_staff_cannot_grant_themselves_privileges(
    owner: User, owner_client: APIClient, privilege: str
) -> None:
    response = owner_client.patch(f"/users/{owner.pk}/", {privilege: True})

    assert response.status_code == 403
    owner.refresh_from_db()
    assert getattr(owner, privilege) is False


def test_non_staff_cannot_deactivate_themselves_by_patch(owner: User, owner_client: APIClient) -> None:
    response = owner_client.patch(f"/users/{owner.pk}/", {"is_active": False})

    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.is_active is True


def test_the_password_cannot_be_patched(owner: User, owner_client: APIClient) -> None:
    # It would bypass the old-password check of POST /users/me/password/.
    response = owner_client.patch(f"/users/{owner.pk}/", {"password": NEW_PASSWORD})

    assert response.status_code == 400
    assert "password" in response.json()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_staff_can_make_someone_staff(owner: User, staff_client: APIClient) -> None:
    response = staff_client.patch(f"/users/{owner.pk}/", {"is_staff": True})

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.is_staff is True
    # And it takes effect: the new staff member sees every user.
    listed = client_for(owner).get("/users/").json()["results"]
    assert sorted(user["username"] for user in listed) == ["owner", "staff"]


def test_staff_can_deactivate_someone(owner: User, owner_client: APIClient, staff_client: APIClient) -> None:
    response = staff_client.patch(f"/users/{owner.pk}/", {"is_active": False})

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.is_active is False
    assert owner_client.get("/tasks/").status_code == 401
    assert not logs_in("owner", PASSWORD)


def test_staff_who_are_not_superusers_cannot_grant_superuser(
    owner: User, staff: User, staff_client: APIClient
) -> None:
    assert staff_client.patch(f"/users/{owner.pk}/", {"is_superuser": True}).status_code == 403
    assert staff_client.patch(f"/users/{staff.pk}/", {"is_superuser": True}).status_code == 403

    owner.refresh_from_db()
    staff.refresh_from_db()
    assert owner.is_superuser is False
    assert staff.is_superuser is False


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")


@pytest.mark.parametrize(
    "change",
    [{"is_staff": False}, {"is_active": False}, {"is_superuser": False}, {"username": "taken-over"}],
    ids=["demote", "deactivate", "unsuper", "rename"],
)
def test_staff_cannot_change_a_superuser(
    root: User, staff_client: APIClient, change: dict[str, object]
) -> None:
    response = staff_client.patch(f"/users/{root.pk}/", change)

    assert response.status_code == 403
    changed = User.objects.get(pk=root.pk)
    assert (changed.username, changed.is_staff, changed.is_superuser, changed.is_active) == (
        "root",
        True,
        True,
        True,
    )
    assert logs_in("root", PASSWORD)


def test_staff_cannot_put_a_superuser_back_unchanged_either(root: User, staff_client: APIClient) -> None:
    body = staff_client.get(f"/users/{root.pk}/").json()

    assert staff_client.put(f"/users/{root.pk}/", body).status_code == 403


def test_staff_cannot_delete_a_superuser(root: User, staff_client: APIClient) -> None:
    response = staff_client.delete(f"/users/{root.pk}/")

    assert response.status_code == 403
    assert User.objects.filter(pk=root.pk).exists()


def test_staff_still_read_a_superuser(root: User, staff_client: APIClient) -> None:
    response = staff_client.get(f"/users/{root.pk}/")

    assert response.status_code == 200
    assert response.json()["is_superuser"] is True


def test_a_superuser_changes_and_deletes_another_superuser(root: User) -> None:
    second = User.objects.create_superuser(username="root2", password=PASSWORD)
    client = client_for(root)

    assert client.patch(f"/users/{second.pk}/", {"is_active": False}).status_code == 200
    assert client.delete(f"/users/{second.pk}/").status_code == 204


def test_superusers_can_grant_superuser(owner: User, db: None) -> None:
    root = User.objects.create_superuser(username="root", password=PASSWORD)

    response = client_for(root).patch(f"/users/{owner.pk}/", {"is_superuser": True})

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.is_superuser is True


# Passwords


def test_password_change_with_the_old_password(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post(
        "/users/me/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert logs_in("owner", NEW_PASSWORD)
    assert not logs_in("owner", PASSWORD)


def test_password_change_with_a_wrong_old_password_is_400(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post(
        "/users/me/password/", {"old_password": "not-" + PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert "old_password" in response.json()
    assert logs_in("owner", PASSWORD)


def test_password_change_to_a_weak_password_is_400(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post("/users/me/password/", {"old_password": PASSWORD, "new_password": "123"})

    assert response.status_code == 400
    assert "new_password" in response.json()
    assert logs_in("owner", PASSWORD)


def test_password_change_needs_authentication(anon: APIClient, owner: User) -> None:
    response = anon.post("/users/me/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 401
    assert logs_in("owner", PASSWORD)


# Leaving


def test_a_user_deletes_themselves_and_their_tasks(owner: User, other: User, owner_client: APIClient) -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC)
    Task.objects.create(person=owner, title="mine", due_to=due)
    kept = Task.objects.create(person=other, title="theirs", due_to=due)

    response = owner_client.delete(f"/users/{owner.pk}/")

    assert response.status_code == 204
    assert not User.objects.filter(pk=owner.pk).exists()
    assert list(Task.objects.all()) == [kept]
    # The token of a deleted user no longer works.
    assert owner_client.get("/users/me/").status_code == 401


def test_staff_delete_someone(owner: User, staff_client: APIClient) -> None:
    assert staff_client.delete(f"/users/{owner.pk}/").status_code == 204
    assert not User.objects.filter(pk=owner.pk).exists()


def test_guessing_the_old_password_is_throttled(
    owner: User, owner_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stolen access token must not buy unlimited guesses at the password behind it."""
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"login": "100000/min", "login_username": "3/min", "signup": "1/min"},
    )
    guesses = [
        owner_client.post("/users/me/password/", {"old_password": f"guess-{n}", "new_password": NEW_PASSWORD})
        for n in range(3)
    ]
    right = owner_client.post("/users/me/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert [response.status_code for response in guesses] == [400, 400, 400]
    assert right.status_code == 429
    assert int(right["Retry-After"]) > 0
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_guessing_the_old_password_is_throttled_per_address(
    owner: User, other: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"login": "2/min", "login_username": "100000/min", "signup": "1/min"},
    )
    for user in (owner, other):
        client_for(user).post(
            "/users/me/password/",
            {"old_password": "guess", "new_password": NEW_PASSWORD},
            REMOTE_ADDR="198.51.100.7",
        )

    response = client_for(owner).post(
        "/users/me/password/",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 429
