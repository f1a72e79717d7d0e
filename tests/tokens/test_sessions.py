"""Sessions: one per login, refresh rotation with reuse detection, logout, instant revocation."""

import logging
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from tests.helpers.concurrency import at_once
from tokens.codec import InvalidToken
from tokens.models import Session
from tokens.services import refresh_rotate, session_start
from users.models import User


def login(client: APIClient, user: User, **headers: str) -> dict[str, Any]:
    response = client.post("/auth/token/", {"username": user.username, "password": PASSWORD}, **headers)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(client: APIClient, token: str) -> Any:
    return client.post("/auth/token/refresh/", {"refresh": token})


def test_login_starts_a_session_listed_as_current(anon: APIClient, owner: User) -> None:
    pair = login(anon, owner, HTTP_USER_AGENT="curl/8.0", REMOTE_ADDR="192.0.2.7")
    login(anon, owner)  # a second device

    response = bearer(pair["access"]).get("/auth/sessions/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    sessions = response.json()
    assert len(sessions) == 2
    [current] = [session for session in sessions if session["current"]]
    assert current["user_agent"] == "curl/8.0"
    assert current["ip"] == "192.0.2.7"
    assert current["id"] == jwt.decode(pair["access"], options={"verify_signature": False})["sid"]


def test_only_a_digest_of_the_refresh_token_is_stored(anon: APIClient, owner: User) -> None:
    pair = login(anon, owner)
    claims = jwt.decode(pair["refresh"], options={"verify_signature": False})

    stored = Session.objects.values().get(pk=claims["sid"])

    assert pair["refresh"] not in str(stored)
    assert claims["jti"] not in str(stored)
    assert len(stored["refresh_digest"]) == 64


def test_refresh_rotates_and_the_new_refresh_token_works(anon: APIClient, owner: User) -> None:
    first = login(anon, owner)
    second = refresh(anon, first["refresh"]).json()
    third = refresh(anon, second["refresh"])

    assert third.status_code == 200
    assert len({first["refresh"], second["refresh"], third.json()["refresh"]}) == 3
    assert bearer(third.json()["access"]).get("/tasks/").status_code == 200


def test_replaying_a_rotated_refresh_token_revokes_the_whole_session(
    anon: APIClient, owner: User, settings: Any
) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = 0  # no retries (tests/tokens/test_refresh_retry.py has them)
    first = login(anon, owner)
    second = refresh(anon, first["refresh"]).json()

    replay = refresh(anon, first["refresh"])

    assert replay.status_code == 401
    # Every token descended from that login is dead, the thief's and the owner's alike.
    assert refresh(anon, second["refresh"]).status_code == 401
    assert bearer(second["access"]).get("/tasks/").status_code == 401
    assert bearer(first["access"]).get("/tasks/").status_code == 401
    sid = jwt.decode(first["refresh"], options={"verify_signature": False})["sid"]
    assert Session.objects.get(pk=sid).revoked_reason == Session.Reason.REUSE


def test_replay_leaves_the_users_other_sessions_alone(anon: APIClient, owner: User, settings: Any) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = 0
    laptop, phone = login(anon, owner), login(anon, owner)
    refresh(anon, laptop["refresh"])
    refresh(anon, laptop["refresh"])  # replay: the laptop's session ends

    assert bearer(phone["access"]).get("/tasks/").status_code == 200
    assert refresh(anon, phone["refresh"]).status_code == 200


def test_logout_ends_that_sessions_tokens_at_once(anon: APIClient, owner: User) -> None:
    pair = login(anon, owner)
    other_device = login(anon, owner)
    assert bearer(pair["access"]).get("/tasks/").status_code == 200  # warm the cache

    response = anon.post("/auth/logout/", {"refresh": pair["refresh"]})

    assert response.status_code == 204
    assert bearer(pair["access"]).get("/tasks/").status_code == 401
    assert refresh(anon, pair["refresh"]).status_code == 401
    assert bearer(other_device["access"]).get("/tasks/").status_code == 200


def test_logout_with_a_bad_token_is_401(anon: APIClient) -> None:
    assert anon.post("/auth/logout/", {"refresh": "not.a.token"}).status_code == 401
    assert anon.post("/auth/logout/", {}).status_code == 400


def test_logout_all_ends_every_session_of_the_caller_only(anon: APIClient, owner: User, other: User) -> None:
    laptop, phone, others = login(anon, owner), login(anon, owner), login(anon, other)
    assert bearer(phone["access"]).get("/tasks/").status_code == 200

    assert bearer(laptop["access"]).post("/auth/logout-all/").status_code == 204

    for pair in (laptop, phone):
        assert bearer(pair["access"]).get("/tasks/").status_code == 401
        assert refresh(anon, pair["refresh"]).status_code == 401
    assert bearer(others["access"]).get("/tasks/").status_code == 200
    fresh = login(anon, owner)
    assert bearer(fresh["access"]).get("/tasks/").status_code == 200


def test_revoking_one_session_by_id(anon: APIClient, owner: User, other: User) -> None:
    laptop, phone = login(anon, owner), login(anon, owner)
    phone_sid = jwt.decode(phone["access"], options={"verify_signature": False})["sid"]
    intruder = bearer(login(anon, other)["access"])

    assert intruder.delete(f"/auth/sessions/{phone_sid}/").status_code == 404
    assert bearer(phone["access"]).get("/tasks/").status_code == 200

    assert bearer(laptop["access"]).delete(f"/auth/sessions/{phone_sid}/").status_code == 204
    assert bearer(phone["access"]).get("/tasks/").status_code == 401
    assert bearer(laptop["access"]).get("/tasks/").status_code == 200
    assert bearer(laptop["access"]).delete(f"/auth/sessions/{phone_sid}/").status_code == 404


def test_expired_sessions_are_pruned_at_the_next_login(anon: APIClient, owner: User, settings: Any) -> None:
    settings.JWT_REFRESH_TTL = 1
    stale = login(anon, owner)
    Session.objects.filter(user=owner).update(expires="2000-01-01T00:00:00Z")
    settings.JWT_REFRESH_TTL = 3600

    login(anon, owner)

    sid = jwt.decode(stale["refresh"], options={"verify_signature": False})["sid"]
    assert not Session.objects.filter(pk=sid).exists()
    assert Session.objects.filter(user=owner).count() == 1


def test_steady_state_authentication_asks_the_database_nothing(
    owner: User, django_assert_num_queries: Callable[..., Any]
) -> None:
    client = bearer(session_start(user=owner)["access"])
    client.get("/tasks/")  # the first request loads the session and user state

    with django_assert_num_queries(1):  # the page of tasks, and nothing for authentication
        assert client.get("/tasks/").status_code == 200


class UnreachableCache:
    def __getattr__(self, name: str) -> Callable[..., None]:
        def unreachable(*args: object, **kwargs: object) -> None:
            raise ConnectionError("cache gone")

        return unreachable


def test_with_the_cache_down_tokens_are_checked_against_the_database(
    anon: APIClient,
    owner: User,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The shared cache is asked on the embedded default too (local memory standing in for
    # Redis), so the fallback runs in every run, not only where REDIS_URL is set.
    settings.REVOCATION_SHARED_CACHE = True
    pair = login(anon, owner)
    revoked = login(anon, owner)
    anon.post("/auth/logout/", {"refresh": revoked["refresh"]})

    monkeypatch.setattr("tokens.revocation.cache", UnreachableCache())

    with caplog.at_level(logging.WARNING, logger="tokens.revocation"):
        assert bearer(pair["access"]).get("/tasks/").status_code == 200
        assert bearer(revoked["access"]).get("/tasks/").status_code == 401
    # Each answer came after the cache was asked and failed, from the database.
    assert caplog.text.count("cache unavailable; checking tokens against the database") == 2


def race(token: str, contenders: int) -> list[str]:
    """``contenders`` threads, each with its own connection, refresh with ``token`` at once."""

    def attempt(n: int) -> str:
        try:
            refresh_rotate(refresh=token)
        except InvalidToken:
            return "refused"
        return "rotated"

    return at_once(attempt, contenders)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_retries_concurrent_refreshes_with_one_token_let_exactly_one_through(
    owner: User, settings: Any
) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = 0
    for _ in range(5):
        token = session_start(user=owner)["refresh"]
        # The winner's compare-and-swap spends the token; each loser sees reuse.
        assert race(token, 4) == ["refused", "refused", "refused", "rotated"]


def test_a_password_change_ends_every_token_of_the_user(anon: APIClient, owner: User) -> None:
    laptop, phone = login(anon, owner), login(anon, owner)
    assert bearer(phone["access"]).get("/tasks/").status_code == 200

    changed = bearer(laptop["access"]).post(
        "/users/me/password/", {"old_password": PASSWORD, "new_password": "another-long-passphrase"}
    )

    assert changed.status_code == 204
    for pair in (laptop, phone):
        assert bearer(pair["access"]).get("/tasks/").status_code == 401
        assert refresh(anon, pair["refresh"]).status_code == 401
    fresh = anon.post("/auth/token/", {"username": owner.username, "password": "another-long-passphrase"})
    assert bearer(fresh.json()["access"]).get("/tasks/").status_code == 200


def test_deactivating_a_user_ends_their_tokens_at_once(anon: APIClient, owner: User, staff: User) -> None:
    pair = login(anon, owner)
    assert bearer(pair["access"]).get("/tasks/").status_code == 200

    staff_pair = login(anon, staff)
    assert bearer(staff_pair["access"]).patch(f"/users/{owner.pk}/", {"is_active": False}).status_code == 200

    assert bearer(pair["access"]).get("/tasks/").status_code == 401
    assert refresh(anon, pair["refresh"]).status_code == 401


def test_a_deleted_users_tokens_die_with_them(anon: APIClient, owner: User) -> None:
    pair = login(anon, owner)
    assert bearer(pair["access"]).delete(f"/users/{owner.pk}/").status_code == 204

    assert bearer(pair["access"]).get("/tasks/").status_code == 401
    assert refresh(anon, pair["refresh"]).status_code == 401
