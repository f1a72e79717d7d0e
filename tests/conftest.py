"""Personas, set up once per test: an owner, another user, and staff (healthchecks.io style)."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from api import caches
from tests.helpers.accounts import PASSWORD, client_for
from tests.helpers.processes import RunDjango, django_runner
from tests.helpers.projects import Team, make_team
from users.models import User


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--services",
        action="store_true",
        help="this run is on PostgreSQL and Redis (DATABASE_URL, REDIS_URL): run the tests marked for them",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_services = config.getoption("--services")
    if on_services:
        engine = settings.DATABASES["default"]["ENGINE"]
        cache = settings.CACHES["default"]["BACKEND"]
        if "postgresql" not in engine or "redis" not in cache.lower():
            raise pytest.UsageError(
                f"--services needs DATABASE_URL and REDIS_URL set (got {engine}, {cache})"
            )
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis: runs in `make pytest-services`")
    for item in items:
        if item.get_closest_marker("postgres") or item.get_closest_marker("redis"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_and_unthrottled(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Argon2 is deliberately slow; tests that care about the hasher ask for it by name.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # DRF binds the rates at import; tests of throttling set their own.
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {
            "login": "100000/min",
            "login_username": "100000/min",
            "signup": "100000/min",
            "introspection": "100000/min",
        },
    )


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Any) -> None:
    """A cache of this test's own: test databases reuse user ids, and xdist workers share Redis."""
    prefix = f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    settings.CACHES = {name: {**conf, "KEY_PREFIX": prefix} for name, conf in settings.CACHES.items()}
    caches.clear_all()
    if "locmem" in settings.CACHES["default"]["BACKEND"]:
        cache.clear()
    else:  # Redis, shared with the other workers: drop this worker's keys only
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


@pytest.fixture
def run_django(tmp_path: Path) -> RunDjango:
    """A setting's wiring from the environment, seen in a fresh process (tests.helpers.processes)."""
    return django_runner(tmp_path)


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user(username="owner", password=PASSWORD, email="owner@example.com")


@pytest.fixture
def other(db: None) -> User:
    return User.objects.create_user(username="other", password=PASSWORD, email="other@example.com")


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user(username="staff", password=PASSWORD, is_staff=True)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def team(owner: User, other: User, staff: User) -> Team:
    """The project "Launch" of owner's, with an editor, a viewer and a task; other a stranger to it."""
    return make_team(owner, other, staff)


@pytest.fixture
def owner_client(owner: User) -> APIClient:
    return client_for(owner)


@pytest.fixture
def other_client(other: User) -> APIClient:
    return client_for(other)


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    return client_for(staff)
