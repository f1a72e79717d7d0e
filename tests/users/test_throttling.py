"""Login throttling per client address and per account, with a fallback when the cache is away."""

from collections.abc import Callable
from typing import Any

import argon2
import pytest
from argon2 import _password_hasher
from django.http import HttpResponse
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers.accounts import PASSWORD
from users.models import User


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def set_rates(**rates: str) -> None:
        defaults = {"login": "100000/min", "login_username": "100000/min", "signup": "100000/min"}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**defaults, **rates})

    return set_rates


def attempt(client: APIClient, username: str, address: str, password: str = "wrong-password") -> int:
    response = client.post("/auth/token/", {"username": username, "password": password}, REMOTE_ADDR=address)
    return response.status_code


def test_one_account_is_throttled_across_many_addresses(
    anon: APIClient, owner: User, rates: Callable[..., None]
) -> None:
    rates(login_username="3/min")
    codes = [attempt(anon, "owner", f"198.51.100.{n}") for n in range(1, 5)]

    assert codes == [401, 401, 401, 429]
    # The name is matched without regard to case, so OWNER is the same account.
    response = anon.post("/auth/token/", {"username": "OWNER", "password": "x"}, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # Other accounts are not held up.
    assert attempt(anon, "someone-else", "198.51.100.10") == 401


def test_unknown_user_and_wrong_password_get_the_same_answer(anon: APIClient, owner: User) -> None:
    unknown = anon.post("/auth/token/", {"username": "nobody", "password": PASSWORD})
    wrong = anon.post("/auth/token/", {"username": "owner", "password": "not-the-password"})

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


class UnreachableCache:
    def get(self, *args: object, **kwargs: object) -> None:
        raise ConnectionError("cache gone")

    set = get


def test_with_the_cache_down_logins_are_still_counted(
    anon: APIClient, owner: User, rates: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    rates(login="2/min")
    monkeypatch.setattr(SimpleRateThrottle, "cache", UnreachableCache())

    codes = [attempt(anon, "owner", "203.0.113.77", password=PASSWORD) for _ in range(3)]

    assert codes == [200, 200, 429]


def test_unknown_user_and_wrong_password_cost_the_same_hashing(
    db: None, anon: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both pay for one Argon2 hash of the same cost (Django hashes the password for a user
    that does not exist), so the time of an answer does not tell whether an account exists.
    Counted, not timed: wall-clock ratios are noise under parallel test workers."""
    settings.PASSWORD_HASHERS = ["users.hashers.Argon2PasswordHasher"]
    User.objects.create_user(username="real", password=PASSWORD)
    computed: list[tuple[int, int, int]] = []  # (passes, memory KiB, lanes) per Argon2 run

    def counted(real: Callable[..., Any], cost: Callable[..., tuple[int, int, int]]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            computed.append(cost(*args, **kwargs))
            return real(*args, **kwargs)

        return run

    def cost_of_hash(
        *_: Any, time_cost: int, memory_cost: int, parallelism: int, **__: Any
    ) -> tuple[int, int, int]:
        return time_cost, memory_cost, parallelism

    def cost_of_verify(hash: bytes, *_: Any) -> tuple[int, int, int]:
        params = argon2.extract_parameters(hash.decode())
        return params.time_cost, params.memory_cost, params.parallelism

    # Django hashes through argon2.low_level and verifies through argon2.PasswordHasher.
    monkeypatch.setattr(argon2.low_level, "hash_secret", counted(argon2.low_level.hash_secret, cost_of_hash))
    monkeypatch.setattr(
        _password_hasher, "verify_secret", counted(_password_hasher.verify_secret, cost_of_verify)
    )

    def hashing_of(username: str) -> list[tuple[int, int, int]]:
        computed.clear()
        response = anon.post("/auth/token/", {"username": username, "password": "not-it"})
        assert response.status_code == 401
        return list(computed)

    unknown, wrong = hashing_of("nobody-at-all"), hashing_of("real")
    assert len(unknown) == 1
    assert unknown == wrong


# Every door that takes a password counts toward the same limits.

FULLWIDTH_OWNER = "\uff4f\uff57\uff4e\uff45\uff52"  # "owner" in fullwidth letters; NFKC makes it "owner"


def token_login(client: Client, username: str, password: str, address: str) -> HttpResponse:
    return client.post("/auth/token/", {"username": username, "password": password}, REMOTE_ADDR=address)


def page_login(path: str) -> Callable[[Client, str, str, str], HttpResponse]:
    def log_in(client: Client, username: str, password: str, address: str) -> HttpResponse:
        return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)

    return log_in


DOORS = {
    "token": token_login,
    "browsable-api": page_login("/api-auth/login/"),
    "admin": page_login("/admin/login/"),
}


def logged_in(client: Client, response: HttpResponse) -> bool:
    """The door let the person in: a token pair, or a session."""
    return b'"access"' in response.content or "_auth_user_id" in client.session


@pytest.mark.parametrize("door", ["browsable-api", "admin"])
def test_failures_at_a_login_page_count_toward_the_token_limit(
    door: str, staff: User, rates: Callable[..., None]
) -> None:
    rates(login_username="3/min")
    for n in range(3):
        DOORS[door](Client(), "staff", "wrong-password", f"198.51.100.{n}")

    response = token_login(Client(), "staff", PASSWORD, "198.51.100.9")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("door", ["browsable-api", "admin"])
def test_after_the_token_limit_a_login_page_refuses_the_right_password(
    door: str, staff: User, rates: Callable[..., None]
) -> None:
    rates(login_username="3/min")
    for n in range(3):
        token_login(Client(), "staff", "wrong-password", f"198.51.100.{n}")
    client = Client()

    response = DOORS[door](client, "staff", PASSWORD, "198.51.100.9")

    assert "_auth_user_id" not in client.session
    assert b"Too many login attempts; try again in" in response.content
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("door", ["token", "browsable-api"])
@pytest.mark.parametrize("spelling", [" owner", "owner ", "\towner", "owner\n", "OWNER", FULLWIDTH_OWNER])
def test_every_spelling_of_an_account_shares_its_counter(
    door: str, spelling: str, owner: User, rates: Callable[..., None]
) -> None:
    rates(login_username="3/min")
    for n in range(3):
        token_login(Client(), "owner", "wrong-password", f"198.51.100.{n}")
    client = Client()

    response = DOORS[door](client, spelling, PASSWORD, "198.51.100.9")

    assert response.status_code == 429
    assert not logged_in(client, response)


def test_the_spellings_that_log_in_are_the_ones_counted(owner: User) -> None:
    """The test above is only worth something if these spellings reach the account."""
    for spelling in (" owner", "owner ", "\towner", "owner\n"):
        assert token_login(Client(), spelling, PASSWORD, "198.51.100.1").status_code == 200
    client = Client()
    page_login("/api-auth/login/")(client, FULLWIDTH_OWNER, PASSWORD, "198.51.100.1")
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_wrong_old_passwords_count_toward_the_login_limit(
    owner: User, owner_client: APIClient, rates: Callable[..., None]
) -> None:
    rates(login_username="3/min")
    for _ in range(3):
        owner_client.post(
            "/users/me/password/", {"old_password": "wrong", "new_password": "a-new-passphrase-1"}
        )

    assert token_login(Client(), "owner", PASSWORD, "198.51.100.9").status_code == 429


def test_one_address_is_throttled_across_every_door(
    owner: User, other: User, staff: User, rates: Callable[..., None]
) -> None:
    rates(login="3/min")
    address = "203.0.113.5"
    token_login(Client(), "owner", "wrong-password", address)
    page_login("/api-auth/login/")(Client(), "other", "wrong-password", address)
    page_login("/admin/login/")(Client(), "nobody", "wrong-password", address)

    for door in DOORS.values():
        client = Client()
        response = door(client, "staff", PASSWORD, address)
        assert not logged_in(client, response)
        assert b"Too many login attempts" in response.content
    # Another address is not held up.
    assert token_login(Client(), "staff", PASSWORD, "203.0.113.6").status_code == 200


def test_with_the_cache_down_the_login_page_still_counts(
    owner: User, rates: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    rates(login="2/min")
    monkeypatch.setattr(SimpleRateThrottle, "cache", UnreachableCache())
    codes = [
        page_login("/api-auth/login/")(Client(), "owner", PASSWORD, "203.0.113.78").status_code
        for _ in range(3)
    ]

    assert codes == [302, 302, 429]
