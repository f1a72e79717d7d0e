"""Every password check is counted: the backend, password_verify, and the code held to them."""

import ast
import asyncio
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import aauthenticate, authenticate
from django.utils.module_loading import import_string
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers.accounts import PASSWORD
from users.models import User
from users.passwords import CountedModelBackend, password_verify
from users.throttling import PasswordAttemptsExceeded

ROOT = Path(__file__).resolve().parents[2]
SERVED = ("api", "config", "feeds", "tasks", "tokens", "users")  # the packages the server runs
# Names that check a password without counting it: a user's check_password, the hashers'
# function of that name, and Django's password change form and view (the old password).
UNCOUNTED = frozenset({"check_password", "acheck_password", "PasswordChangeForm", "PasswordChangeView"})
# The two modules that route those through the counters, and the User model's own
# check_password, which only extends Django's (a hash upgrade at login is no new password).
ALLOWED = frozenset({"users/passwords.py", "users/login_pages.py", "users/models.py"})


@pytest.fixture
def tight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"login": "100000/min", "login_username": "2/min", "signup": "100000/min"},
    )


def test_every_configured_backend_counts() -> None:
    for path in settings.AUTHENTICATION_BACKENDS:
        assert issubclass(import_string(path), CountedModelBackend), path


def uncounted_uses(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        name = (
            node.id
            if isinstance(node, ast.Name)
            else node.attr
            if isinstance(node, ast.Attribute)
            else node.name
            if isinstance(node, ast.alias)
            else node.value
            if isinstance(node, ast.Constant) and node.value == "django.contrib.auth.urls"
            else None
        )
        if name in UNCOUNTED or name == "django.contrib.auth.urls":
            found.append(f"line {getattr(node, 'lineno', '?')}: {name}")
    return found


def test_no_served_code_checks_a_password_around_the_counters() -> None:
    offenders = {
        str(path.relative_to(ROOT)): uses
        for package in SERVED
        for path in sorted((ROOT / package).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in ALLOWED and (uses := uncounted_uses(path.read_text()))
    }

    assert offenders == {}


def test_the_scan_finds_what_it_looks_for() -> None:
    assert uncounted_uses("if not user.check_password(old): pass")
    assert uncounted_uses("from django.contrib.auth.hashers import check_password")
    assert uncounted_uses("from django.contrib.auth.forms import PasswordChangeForm")
    assert uncounted_uses('path("accounts/", include("django.contrib.auth.urls"))')
    assert not uncounted_uses("user = authenticate(request, username=name, password=password)")


def test_authenticate_without_a_request_counts_the_account(owner: User, tight: None) -> None:
    """A management command or a script has no request: the account's limit still holds."""
    assert authenticate(None, username="owner", password="wrong") is None
    assert authenticate(None, username="owner", password=PASSWORD) == owner

    with pytest.raises(PasswordAttemptsExceeded) as refused:
        authenticate(None, username=" OWNER\n", password=PASSWORD)
    assert refused.value.wait > 0


def test_the_async_path_counts_too(transactional_db: None, owner: User, tight: None) -> None:
    # ModelBackend.aauthenticate compares the password without going through authenticate().
    # (transactional_db: its query runs on another thread's connection, which sees committed rows.)
    authenticate(None, username="owner", password="wrong")
    authenticate(None, username="owner", password="wrong")

    with pytest.raises(PasswordAttemptsExceeded):
        asyncio.run(aauthenticate(None, username="owner", password=PASSWORD))


def test_password_verify_counts_with_logins(owner: User, tight: None) -> None:
    assert password_verify(user=owner, password="wrong", address="192.0.2.1") is False
    assert password_verify(user=owner, password=PASSWORD, address=None) is True

    with pytest.raises(PasswordAttemptsExceeded):
        authenticate(None, username="owner", password=PASSWORD)
