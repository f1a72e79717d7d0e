"""Account activation: SIGNUP_REQUIRE_ACTIVATION, the email, and POST /auth/activate/."""

import ipaddress
import re
import string
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.db import transaction
from django.utils.http import base36_to_int, int_to_base36, urlsafe_base64_decode, urlsafe_base64_encode
from pytest_django import Settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers.accounts import PASSWORD
from tokens.authentication import CHALLENGE
from tokens.services import token_pair_issue
from users.activation import activation_token_generator
from users.models import User
from users.services import user_signup

CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
TOKEN_IN_EMAIL = re.compile(r'"token": "([^"]+)"')


@pytest.fixture
def activation(settings: Settings, db: None) -> None:
    settings.SIGNUP_REQUIRE_ACTIVATION = True


def sign_up(
    capture: CaptureOnCommit, username: str = "newbie", client: APIClient | None = None, **body: Any
) -> Any:
    body = {"username": username, "password": PASSWORD, "email": f"{username}@example.com", **body}
    with capture(execute=True):
        return (client or APIClient()).post("/users/", body, format="json")


def emailed_token(capture: CaptureOnCommit, username: str = "newbie") -> str:
    """Sign ``username`` up and return the token from the one email it is sent."""
    assert sign_up(capture, username).status_code == 201
    messages = [m for m in mail.outbox if m.to == [f"{username}@example.com"]]
    assert len(messages) == 1
    found = TOKEN_IN_EMAIL.search(messages[0].body)
    assert found, messages[0].body
    return found[1]


def activate(token: Any, **extra: Any) -> Any:
    return APIClient().post("/auth/activate/", {"token": token}, format="json", **extra)


def logs_in(username: str) -> bool:
    response = APIClient().post("/auth/token/", {"username": username, "password": PASSWORD})
    assert response.status_code in (200, 401), response.content
    return response.status_code == 200


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == CHALLENGE  # the Bearer challenge of every 401


def is_active(username: str) -> bool:
    return User.objects.get(username=username).is_active


# Signing up


@pytest.mark.usefixtures("activation")
def test_sign_up_makes_an_inactive_user_and_emails_them_the_token(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    response = sign_up(django_capture_on_commit_callbacks)

    assert response.status_code == 201
    assert response.json()["is_active"] is False
    assert is_active("newbie") is False
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newbie@example.com"]
    assert message.from_email == "tasks@localhost"
    assert "http://testserver/auth/activate/" in message.body
    assert re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d UTC", message.body)
    token = TOKEN_IN_EMAIL.search(message.body)
    assert token
    assert "." in token[1]
    assert token[1] not in response.content.decode()  # only the mailbox's owner gets it


@pytest.mark.usefixtures("activation")
def test_the_email_waits_for_the_commit(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = APIClient().post(
            "/users/", {"username": "newbie", "password": PASSWORD, "email": "n@x.org"}
        )

    assert response.status_code == 201
    assert mail.outbox == []  # nothing is sent while the sign-up could still roll back
    for callback in callbacks:  # what the commit would run
        callback()
    assert [m.to for m in mail.outbox] == [["n@x.org"]]


def sign_up_then_fail() -> None:
    with transaction.atomic():
        user_signup(username="newbie", password=PASSWORD, email="n@x.org", activation_url="http://t/")
        raise RuntimeError("something later in the transaction failed")


@pytest.mark.usefixtures("activation")
def test_a_rolled_back_sign_up_sends_nothing(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        sign_up_then_fail()

    assert callbacks == []  # the rollback dropped what was to run on commit
    assert mail.outbox == []
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.usefixtures("activation")
@pytest.mark.parametrize("body", [{}, {"email": ""}])
def test_sign_up_without_an_email_is_400(
    django_capture_on_commit_callbacks: CaptureOnCommit, body: dict[str, str]
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = APIClient().post("/users/", {"username": "newbie", "password": PASSWORD, **body})

    assert response.status_code == 400
    assert "email" in response.json()
    assert not User.objects.filter(username="newbie").exists()
    assert (callbacks, mail.outbox) == ([], [])


def test_without_activation_sign_up_is_active_and_sends_nothing(
    db: None, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/users/", {"username": "newbie", "password": PASSWORD, "email": "n@x.org"}
        )

    assert response.status_code == 201
    assert response.json()["is_active"] is True
    assert mail.outbox == []
    assert logs_in("newbie")


@pytest.mark.usefixtures("activation")
@pytest.mark.parametrize("sent_active", [True, False])
def test_staff_create_users_as_they_send_them_without_email(
    staff_client: APIClient, django_capture_on_commit_callbacks: CaptureOnCommit, sent_active: bool
) -> None:
    response = sign_up(django_capture_on_commit_callbacks, "hired", staff_client, is_active=sent_active)

    assert response.status_code == 201
    assert is_active("hired") is sent_active
    assert mail.outbox == []


# Activating


@pytest.mark.usefixtures("activation")
def test_activation_lets_the_user_log_in(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)
    assert not logs_in("newbie")

    response = activate(token)

    assert response.status_code == 200
    body = response.json()
    user = User.objects.get(username="newbie")
    assert (body["id"], body["username"], body["is_active"]) == (user.pk, "newbie", True)
    assert body["url"] == f"http://testserver/users/{user.pk}/"
    assert "password" not in body
    assert user.is_active
    assert logs_in("newbie")


@pytest.mark.usefixtures("activation")
def test_a_token_activates_only_once(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)
    assert activate(token).status_code == 200

    assert_401(activate(token))


@pytest.mark.usefixtures("activation")
def test_a_used_token_does_not_undo_a_deactivation(
    django_capture_on_commit_callbacks: CaptureOnCommit, staff: User
) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)
    assert activate(token).status_code == 200
    pair = APIClient().post("/auth/token/", {"username": "newbie", "password": PASSWORD}).json()
    newbie = User.objects.get(username="newbie")
    staff_client = APIClient()
    staff_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(user=staff)['access']}")
    assert staff_client.patch(f"/users/{newbie.pk}/", {"is_active": False}).status_code == 200

    assert_401(activate(token))

    assert not is_active("newbie")
    assert not logs_in("newbie")
    refreshed = APIClient().post("/auth/token/refresh/", {"refresh": pair["refresh"]})
    assert refreshed.status_code == 401
    assert APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}").status_code == 401


@pytest.mark.usefixtures("activation")
def test_a_used_token_does_not_work_after_staff_reactivate_either(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)
    assert activate(token).status_code == 200
    newbie = User.objects.get(username="newbie")
    newbie.is_active = False
    newbie.save()
    newbie.is_active = True
    newbie.save()

    assert_401(activate(token))


@pytest.mark.usefixtures("activation")
def test_a_deactivation_that_bypasses_save_is_not_undone_by_a_used_token(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    # A queryset update sends no signal and bumps nothing: activating spent the token anyway.
    token = emailed_token(django_capture_on_commit_callbacks)
    assert activate(token).status_code == 200
    User.objects.filter(username="newbie").update(is_active=False)

    assert_401(activate(token))
    assert not is_active("newbie")


@pytest.mark.usefixtures("activation")
@pytest.mark.parametrize(
    ("ttl", "age", "works"),
    [
        (3600, 3600 - 5, True),
        (3600, 3600 + 5, False),
        # ACTIVATION_TTL rules, not PASSWORD_RESET_TIMEOUT (three days by default).
        (10 * 24 * 3600, 5 * 24 * 3600, True),
        (60, 120, False),
    ],
)
def test_a_token_expires_after_activation_ttl(
    django_capture_on_commit_callbacks: CaptureOnCommit,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    ttl: int,
    age: int,
    works: bool,
) -> None:
    settings.ACTIVATION_TTL = ttl
    token = emailed_token(django_capture_on_commit_callbacks)
    later = activation_token_generator._now() + timedelta(seconds=age)
    monkeypatch.setattr(activation_token_generator, "_now", lambda: later)

    response = activate(token)

    if works:
        assert response.status_code == 200
    else:
        assert_401(response)
    assert is_active("newbie") is works


@pytest.mark.usefixtures("activation")
def test_a_token_does_not_activate_another_user(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    token_a = emailed_token(django_capture_on_commit_callbacks, "alice")
    token_b = emailed_token(django_capture_on_commit_callbacks, "bob")
    uid_b, key_b = token_b.split(".")
    _, key_a = token_a.split(".")

    assert_401(activate(f"{uid_b}.{key_a}"))

    assert (is_active("alice"), is_active("bob")) == (False, False)
    assert activate(f"{uid_b}.{key_b}").status_code == 200  # bob's own still works


@pytest.mark.usefixtures("activation")
def test_a_token_for_a_changed_email_no_longer_activates(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)
    User.objects.filter(username="newbie").update(email="someone-else@example.com")

    assert_401(activate(token))


def non_canonical(uid: str) -> list[str]:
    """Other base64 spellings of the same id (they differ only in ignored trailing bits)."""
    return [
        alt
        for alt in (uid[:-1] + c for c in string.ascii_letters + string.digits + "-_")
        if alt != uid and urlsafe_base64_decode(alt) == urlsafe_base64_decode(uid)
    ]


def tamper(token: str) -> list[str]:
    uid, key = token.split(".")
    stamp, digest = key.split("-")
    flip = "1" if digest[-1] == "0" else "0"
    return [
        f"{uid}.{stamp}-{digest[:-1]}{flip}",  # the signature
        f"{uid}.{int_to_base36(base36_to_int(stamp) + 3600)}-{digest}",  # a later timestamp
        f"{uid}.{key}0",
        f"{uid}.{key}.{key}",
        f"{uid}=.{key}",
        f"{uid}{uid}.{key}",
        *(f"{alt}.{key}" for alt in non_canonical(uid)),
        f"{urlsafe_base64_encode(b'0')}.{key}",
        f"{urlsafe_base64_encode(b'0' + uid.encode())}.{key}",  # the same id, zero-padded
        f"{urlsafe_base64_encode(b'9' * 20)}.{key}",  # beyond any bigint
        f"{token}x",
        key,
        uid,
        token.replace(".", "-"),
        token.upper(),
        "x" * 8192,
    ]


@pytest.mark.usefixtures("activation")
def test_a_tampered_or_malformed_token_is_401(django_capture_on_commit_callbacks: CaptureOnCommit) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)

    for bad in tamper(token):
        assert_401(activate(bad))

    assert is_active("newbie") is False
    assert activate(token).status_code == 200  # the genuine one was never spent


@pytest.mark.usefixtures("activation")
@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": None}, {"token": ["a", "b"]}])
def test_a_missing_token_is_400(body: dict[str, Any]) -> None:
    response = APIClient().post("/auth/activate/", body, format="json")

    assert response.status_code == 400
    assert "token" in response.json()


def test_unknown_fields_are_400(db: None) -> None:
    response = APIClient().post("/auth/activate/", {"token": "MQ.x-1", "user": 1}, format="json")

    assert response.status_code == 400
    assert "user" in response.json()


def test_an_unknown_user_is_401(db: None) -> None:
    assert_401(activate("OTk5.cz5wq8-0123456789abcdef0123"))


# One kind of token never passes for another


@pytest.mark.usefixtures("activation")
def test_a_password_reset_token_does_not_activate(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    uid = emailed_token(django_capture_on_commit_callbacks).split(".")[0]
    reset = default_token_generator.make_token(User.objects.get(username="newbie"))

    assert_401(activate(f"{uid}.{reset}"))
    assert is_active("newbie") is False


@pytest.mark.usefixtures("activation")
@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_a_jwt_does_not_activate(django_capture_on_commit_callbacks: CaptureOnCommit, kind: str) -> None:
    sign_up(django_capture_on_commit_callbacks)
    jwt = token_pair_issue(user=User.objects.get(username="newbie"))[kind]

    assert_401(activate(jwt))
    assert is_active("newbie") is False


@pytest.mark.usefixtures("activation")
def test_an_activation_token_is_no_access_nor_refresh_token(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    token = emailed_token(django_capture_on_commit_callbacks)
    assert activate(token).status_code == 200  # the user is active: only the kind of token is wrong

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_401(bearer.get("/tasks/"))
    assert_401(APIClient().post("/auth/token/refresh/", {"refresh": token}, format="json"))
    assert_401(APIClient().post("/auth/token/verify/", {"token": token}, format="json"))


def test_activation_ignores_credentials_it_is_sent(owner: User, db: None) -> None:
    # The endpoint reads no Authorization header: a valid access token does not help, and
    # a broken one is not what the 401 is about.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(user=owner)['access']}")

    response = client.post("/auth/activate/", {"token": "MQ.x-1"}, format="json")

    assert_401(response)
    assert "activation token" in response.json()["detail"]


def test_activation_is_throttled(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"login": "100000/min", "signup": "2/min"})
    address = str(ipaddress.IPv6Address(uuid.uuid4().int))

    for _ in range(2):
        assert activate("MQ.x-1", REMOTE_ADDR=address).status_code == 401
    throttled = activate("MQ.x-1", REMOTE_ADDR=address)

    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
