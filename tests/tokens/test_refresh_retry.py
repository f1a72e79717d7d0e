"""Refresh retries: within JWT_REFRESH_RETRY_SECONDS of a rotation, the token it spent may be
presented again and gets a pair of its own (a response lost on the way, two tabs at once);
outside the window, or once the family has moved on, presenting it is reuse and ends the
session (RFC 9700 §4.14.2; FAPI 2.0 Security Profile §5.3.2.1)."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from django.db import transaction
from django.utils import timezone
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.concurrency import at_once
from tests.helpers.processes import ROOT, RunDjango
from tokens.codec import InvalidToken
from tokens.models import REFRESH_RETRIES, Session
from tokens.services import refresh_rotate, session_start
from users.models import User

pytestmark = pytest.mark.django_db
WINDOW = 10


class ServiceClock:
    """Stands in for ``django.utils.timezone`` in tokens.services: the service's time moves
    only when told to, while tokens are still made and checked on the real clock."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return timezone.now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> ServiceClock:
    settings.JWT_REFRESH_RETRY_SECONDS = WINDOW
    fake = ServiceClock()
    monkeypatch.setattr("tokens.services.timezone", fake)
    return fake


def refresh(token: str) -> Any:
    return APIClient().post("/auth/token/refresh/", {"refresh": token})


def pair_after(token: str) -> dict[str, str]:
    response = refresh(token)
    assert response.status_code == 200, response.content
    return dict(response.json())


def works(access: str) -> bool:
    return APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200


def session_of(token: str) -> Session:
    return Session.objects.get(pk=jwt.decode(token, options={"verify_signature": False})["sid"])


def assert_ended_for_reuse(response: Any, *pairs: dict[str, str]) -> None:
    assert response.status_code == 401
    assert session_of(pairs[0]["refresh"]).revoked_reason == Session.Reason.REUSE
    for pair in pairs:  # every token of the family, the access tokens too
        assert not works(pair["access"])
        assert refresh(pair["refresh"]).status_code == 401


class Undone(Exception):
    pass


def rotates(token: str) -> bool:
    """Whether ``token`` would get a new pair now; the rotation is undone, so each token of a
    family can be tried in turn. (Not a refusal: that ends the session in the cache too,
    which no rollback undoes.)"""
    try:
        with transaction.atomic():
            refresh_rotate(refresh=token)
            raise Undone
    except Undone:
        return True
    except InvalidToken:
        return False


def test_a_retry_within_the_window_gets_a_working_pair_and_the_session_lives(
    owner: User, clock: ServiceClock
) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])  # its response lost on the way, say
    clock.advance(WINDOW - 1)

    c = pair_after(a["refresh"])

    assert c["refresh"] not in (a["refresh"], b["refresh"])
    assert works(b["access"])
    assert works(c["access"])
    assert session_of(a["refresh"]).revoked is None
    # Whichever response the client kept, its refresh token works.
    assert rotates(b["refresh"])
    assert rotates(c["refresh"])


@pytest.mark.parametrize("kept", ["rotation", "retry"])
def test_after_the_window_either_pair_works_once_and_the_family_is_one_line_again(
    owner: User, clock: ServiceClock, kept: str
) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    c = pair_after(a["refresh"])
    kept_pair, dropped = (b, c) if kept == "rotation" else (c, b)
    clock.advance(WINDOW + 1)

    d = pair_after(kept_pair["refresh"])

    assert works(d["access"])
    assert rotates(d["refresh"])
    # The sibling was not used before the family moved on: presenting it now is reuse.
    assert_ended_for_reuse(refresh(dropped["refresh"]), a, b, c, d)


@pytest.mark.parametrize("kept", ["rotation", "retry"])
def test_a_pair_of_the_window_rotated_twice_is_reuse(owner: User, clock: ServiceClock, kept: str) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    c = pair_after(a["refresh"])
    kept_pair = b if kept == "rotation" else c
    clock.advance(WINDOW + 1)
    d = pair_after(kept_pair["refresh"])
    clock.advance(WINDOW + 1)

    assert_ended_for_reuse(refresh(kept_pair["refresh"]), a, b, c, d)


def test_the_spent_token_after_the_window_ends_the_session(owner: User, clock: ServiceClock) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    clock.advance(WINDOW + 1)

    assert_ended_for_reuse(refresh(a["refresh"]), a, b)


def test_the_spent_token_after_the_window_ends_the_session_though_it_was_retried(
    owner: User, clock: ServiceClock
) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    clock.advance(WINDOW - 4)
    c = pair_after(a["refresh"])
    clock.advance(5)  # the window runs from the rotation, and a retry does not extend it

    assert_ended_for_reuse(refresh(a["refresh"]), a, b, c)


def test_a_third_presentation_within_the_window_is_a_retry_too_up_to_the_limit(
    owner: User, clock: ServiceClock
) -> None:
    # A retry can lose its response as well, and two tabs can each retry: a few retries of
    # one spent token are allowed; past REFRESH_RETRIES the client is looping or is not
    # alone with the token, and reuse ends the session.
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    retries = [pair_after(a["refresh"]) for _ in range(REFRESH_RETRIES)]

    assert len({pair["refresh"] for pair in [b, *retries]}) == REFRESH_RETRIES + 1
    assert all(works(pair["access"]) and rotates(pair["refresh"]) for pair in [b, *retries])
    assert_ended_for_reuse(refresh(a["refresh"]), a, b, *retries)


@pytest.mark.parametrize("presented", ["spent", "sibling"])
def test_once_a_pair_of_the_window_is_rotated_the_others_are_reuse_within_the_window(
    owner: User, clock: ServiceClock, presented: str
) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    c = pair_after(a["refresh"])
    d = pair_after(c["refresh"])  # the family moved on from the retry, still within A's window

    assert rotates(c["refresh"])  # within the window of D's rotation, C is the one spent token
    stale = a if presented == "spent" else b
    assert_ended_for_reuse(refresh(stale["refresh"]), a, b, c, d)


def test_an_older_token_within_the_window_is_reuse(owner: User, clock: ServiceClock) -> None:
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    c = pair_after(b["refresh"])  # only B, the last spent token, may be retried

    assert_ended_for_reuse(refresh(a["refresh"]), a, b, c)


def test_a_retry_of_an_ended_session_is_refused(owner: User, clock: ServiceClock) -> None:
    a = session_start(user=owner)
    pair_after(a["refresh"])
    assert APIClient().post("/auth/logout/", {"refresh": a["refresh"]}).status_code == 204

    assert refresh(a["refresh"]).status_code == 401
    assert session_of(a["refresh"]).revoked_reason == Session.Reason.LOGOUT


def test_with_a_window_of_zero_a_spent_token_at_once_ends_the_session(
    owner: User, clock: ServiceClock, settings: Settings
) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = 0
    a = session_start(user=owner)
    b = pair_after(a["refresh"])

    assert_ended_for_reuse(refresh(a["refresh"]), a, b)


def test_the_window_is_the_setting(owner: User, clock: ServiceClock, settings: Settings) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = 30
    a = session_start(user=owner)
    b = pair_after(a["refresh"])
    clock.advance(25)
    c = pair_after(a["refresh"])
    clock.advance(6)

    assert_ended_for_reuse(refresh(a["refresh"]), a, b, c)


# Two refreshes with one token at the same moment: both get working tokens, the session lives.


def race(token: str, contenders: int) -> list[str]:
    """``contenders`` threads, each with its own connection, refresh with ``token`` at once:
    the refresh token each got, or "refused"."""

    def attempt(n: int) -> str:
        try:
            return str(refresh_rotate(refresh=token)["refresh"])
        except InvalidToken:
            return "refused"

    return at_once(attempt, contenders)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("contenders", [2, REFRESH_RETRIES + 1])
def test_concurrent_refreshes_with_one_token_all_get_working_pairs(
    owner: User, settings: Settings, contenders: int
) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = WINDOW
    for _ in range(5):
        token = session_start(user=owner)["refresh"]

        issued = race(token, contenders)

        assert "refused" not in issued
        assert len(set(issued)) == contenders
        assert session_of(token).revoked is None
        # No retry lost another's token: every one issued in the race rotates.
        assert all(rotates(refresh) for refresh in issued)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_past_the_retry_limit_end_the_session(owner: User, settings: Settings) -> None:
    settings.JWT_REFRESH_RETRY_SECONDS = WINDOW
    token = session_start(user=owner)["refresh"]

    issued = race(token, REFRESH_RETRIES + 2)

    # One rotation and REFRESH_RETRIES retries get through, whatever the order; the last is reuse.
    assert issued.count("refused") == 1
    assert session_of(token).revoked_reason == Session.Reason.REUSE


# The same race between two processes on the embedded default, SQLite (whose in-memory test
# database threads cannot share): each refresh one statement, queued on the write lock.

SETUP = """
import django
django.setup()
from tokens.services import session_start
from users.models import User
print(session_start(user=User.objects.create_user(username="racer"))["refresh"])
"""

CONTENDER = """
import json, sys
import django
django.setup()
from tokens.codec import InvalidToken
from tokens.keys import key_ring
from tokens.models import Session
from tokens.services import refresh_rotate
key_ring(), Session.objects.exists()  # the keys read and the database open before the start
print("ready", flush=True)
sys.stdin.readline()
try:
    print(json.dumps(refresh_rotate(refresh=sys.argv[1])))
except InvalidToken:
    print("refused")
"""

CHECK = """
import json, sys
import django
django.setup()
from django.db import transaction
from tokens.codec import InvalidToken
from tokens.models import Session
from tokens.services import refresh_rotate, token_verify

class Undone(Exception):
    pass

def rotates(token):
    try:
        with transaction.atomic():
            refresh_rotate(refresh=token)
            raise Undone
    except Undone:
        return True
    except InvalidToken:
        return False

pairs = json.loads(sys.argv[1])
print(json.dumps({
    "revoked": [str(s.revoked) for s in Session.objects.exclude(revoked=None)],
    "access": [token_verify(token=pair["access"])["token_use"] for pair in pairs],
    "rotates": [rotates(pair["refresh"]) for pair in pairs],
}))
"""


def test_two_processes_refreshing_one_token_on_sqlite_both_get_working_pairs(
    run_django: RunDjango, tmp_path: Path
) -> None:
    settings_env = {"JWT_REFRESH_RETRY_SECONDS": str(WINDOW)}
    assert run_django("manage.py", "migrate", "-v0", **settings_env).returncode == 0
    setup = run_django("-c", SETUP, **settings_env)
    assert setup.returncode == 0, setup.stderr
    token = setup.stdout.strip()
    environment = {
        "PATH": os.environ["PATH"],
        "STATE_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **settings_env,
    }
    contenders = [
        subprocess.Popen(  # noqa: S603  our own interpreter and code
            [sys.executable, "-c", CONTENDER, token],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for contender in contenders:
        assert contender.stdout is not None
        assert contender.stdout.readline().strip() == "ready", contender.stderr
    for contender in contenders:  # both ready: released together
        assert contender.stdin is not None
        contender.stdin.write("go\n")
        contender.stdin.flush()
    outputs = [contender.communicate(timeout=120) for contender in contenders]

    assert [contender.returncode for contender in contenders] == [0, 0], [err for _, err in outputs]
    pairs = [json.loads(out) for out, _ in outputs]
    check = run_django("-c", CHECK, json.dumps(pairs), **settings_env)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout) == {"revoked": [], "access": ["access"] * 2, "rotates": [True] * 2}
