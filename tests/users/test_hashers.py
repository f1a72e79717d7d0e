import pytest
from argon2 import PasswordHasher, extract_parameters
from django.contrib.auth.hashers import check_password, make_password
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from users.models import User

# What the service ships (conftest swaps in a fast hasher for everything else).
SHIPPED = "users.hashers.Argon2PasswordHasher"


@pytest.fixture
def argon2(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = [SHIPPED]


def parameters(encoded: str) -> tuple[str, int, int, int]:
    algorithm, argon2_hash = encoded.split("$", 1)
    found = extract_parameters("$" + argon2_hash)
    return algorithm, found.memory_cost, found.time_cost, found.parallelism


def test_the_shipped_hasher_is_the_first_in_the_settings() -> None:
    from config import settings as shipped

    assert shipped.PASSWORD_HASHERS[0] == SHIPPED


@pytest.mark.usefixtures("argon2")
def test_a_new_hash_is_argon2id_with_djangos_cost_in_one_lane() -> None:
    encoded = make_password(PASSWORD)

    assert encoded.startswith("argon2$argon2id$")
    assert parameters(encoded) == ("argon2", 102400, 2, 1)
    assert check_password(PASSWORD, encoded)
    assert not check_password(PASSWORD + "x", encoded)


@pytest.mark.django_db
@pytest.mark.usefixtures("argon2")
def test_a_hash_made_with_eight_lanes_still_logs_in_and_is_rehashed_in_one() -> None:
    # Django's own default before: 8 lanes. Such users keep working, and move over at login.
    eight_lanes = "argon2" + PasswordHasher(time_cost=2, memory_cost=102400, parallelism=8).hash(PASSWORD)
    user = User.objects.create_user(username="old-hash")
    User.objects.filter(pk=user.pk).update(password=eight_lanes)

    response = APIClient().post("/auth/token/", {"username": "old-hash", "password": PASSWORD})

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.password != eight_lanes
    assert parameters(user.password) == ("argon2", 102400, 2, 1)
    assert check_password(PASSWORD, user.password)
