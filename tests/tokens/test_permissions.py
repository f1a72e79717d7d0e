"""tokens.permissions: a session is seen and revoked by its own user only, staff included."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.helpers.accounts import client_for, personas
from tokens.models import Session
from tokens.permissions import may_revoke_session, sessions_revocable_by, sessions_visible_to
from tokens.services import session_revoke
from users.models import User
from users.principal import Principal

ROLES = ["owner", "other", "staff", "root"]


@pytest.fixture
def people(owner: User, other: User, staff: User) -> dict[str, User]:
    return personas(owner, other, staff)


@pytest.fixture
def clients(people: dict[str, User]) -> dict[str, APIClient]:
    """Each persona signed in: one session each."""
    return {name: client_for(user) for name, user in people.items()}


def session_of(user: User) -> Session:
    return Session.objects.get(user=user)


@pytest.mark.parametrize("caller", ROLES)
def test_the_list_holds_the_callers_sessions_only(
    people: dict[str, User], clients: dict[str, APIClient], caller: str
) -> None:
    listed = [session["id"] for session in clients[caller].get("/auth/sessions/").json()]

    assert listed == [str(session_of(people[caller]).pk)]


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("caller", ROLES)
def test_revoking_a_session(
    people: dict[str, User], clients: dict[str, APIClient], caller: str, target: str
) -> None:
    session = session_of(people[target])

    response = clients[caller].delete(f"/auth/sessions/{session.pk}/")

    assert response.status_code == (204 if caller == target else 404)
    session.refresh_from_db()
    assert (session.revoked is not None) is (caller == target)
    # The target's token stops at once when its session is revoked, and only then.
    assert clients[target].get("/users/me/").status_code == (401 if caller == target else 200)


def test_sessions_have_no_admin_page(people: dict[str, User]) -> None:
    client = Client()
    client.force_login(people["root"])

    assert client.get("/admin/tokens/session/").status_code == 404


# The rules themselves


def test_sessions_visible_to_are_the_callers_live_ones(owner: User, other: User) -> None:
    now = timezone.now()
    live, expired, revoked = (
        Session.objects.create(user=owner, last_used=now, expires=now + timedelta(hours=1)),
        Session.objects.create(user=owner, last_used=now, expires=now - timedelta(hours=1)),
        Session.objects.create(user=owner, last_used=now, expires=now + timedelta(hours=1), revoked=now),
    )
    Session.objects.create(user=other, last_used=now, expires=now + timedelta(hours=1))
    caller = Principal.of(owner)

    assert list(sessions_visible_to(caller)) == [live]
    assert set(sessions_revocable_by(caller)) == {live, expired}
    assert [may_revoke_session(caller, s) for s in (live, expired, revoked)] == [True, True, False]
    assert not any(may_revoke_session(caller, s) for s in Session.objects.filter(user=other))


def test_session_revoke_ends_the_session_it_is_given(owner: User) -> None:
    client = client_for(owner)
    session = session_of(owner)

    session_revoke(session=session, reason=Session.Reason.REVOKED)

    session.refresh_from_db()
    assert session.revoked_reason == Session.Reason.REVOKED
    assert client.get("/users/me/").status_code == 401
