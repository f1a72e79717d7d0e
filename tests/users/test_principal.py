"""The caller: one immutable Principal per request, whichever way the request authenticated."""

from dataclasses import FrozenInstanceError

import pytest
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from tokens import codec
from tokens.authentication import BearerTokenAuthentication
from tokens.revocation import UserState, memo, token_principal
from tokens.services import token_pair_issue
from users.models import User
from users.principal import Principal, SessionCallerAuthentication, caller_of


def bearer_request(token: str) -> Request:
    return Request(APIRequestFactory().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {token}"))


def test_a_token_yields_a_principal_of_its_own_per_request(owner: User) -> None:
    access = token_pair_issue(user=owner)["access"]
    first = BearerTokenAuthentication().authenticate(bearer_request(access))
    second = BearerTokenAuthentication().authenticate(bearer_request(access))
    assert first is not None
    assert second is not None
    caller, claims = first
    assert isinstance(caller, Principal)
    assert caller == second[0]
    assert caller is not second[0]
    assert (caller.id, caller.pk, caller.username, caller.is_staff) == (owner.pk, owner.pk, "owner", False)
    assert caller.session_id == claims["sid"]
    assert caller.is_authenticated
    assert not caller.is_anonymous
    assert str(caller) == "owner"


def test_the_process_memo_keeps_the_users_state_not_a_caller(owner: User) -> None:
    token_principal(codec.decode(token_pair_issue(user=owner)["access"], token_use="access"))
    remembered = [memo.entries.get(key) for key in memo.entries]
    assert remembered
    assert all(isinstance(entry[1], UserState) for entry in remembered if entry)


def test_a_principal_cannot_be_changed_or_saved(owner: User) -> None:
    caller = Principal.of(owner)
    with pytest.raises(FrozenInstanceError):
        caller.is_staff = True  # type: ignore[misc]
    assert not hasattr(caller, "save")
    assert not hasattr(caller, "password")


def test_the_token_session_client_and_binding_reach_the_caller(owner: User) -> None:
    claims = codec.decode(token_pair_issue(user=owner)["access"], token_use="access")
    caller = token_principal({**claims, "client_id": "cli", "cnf": {"jkt": "thumb"}})
    assert (caller.session_id, caller.client_id, caller.binding) == (claims["sid"], "cli", "thumb")
    assert token_principal(claims).binding is None


def test_a_cookie_session_yields_a_principal(owner: User) -> None:
    django_request = APIRequestFactory().get("/tasks/")
    django_request.user = owner  # what Django's session middleware sets
    found = SessionCallerAuthentication().authenticate(Request(django_request))
    assert found is not None
    caller, _ = found
    assert caller == Principal.of(owner)
    assert caller.session_id is None


def test_an_inactive_cookie_session_is_no_caller(owner: User) -> None:
    owner.is_active = False
    django_request = APIRequestFactory().get("/tasks/")
    django_request.user = owner
    assert SessionCallerAuthentication().authenticate(Request(django_request)) is None


def test_views_refuse_a_caller_that_is_not_a_principal(owner: User) -> None:
    request = Request(APIRequestFactory().get("/tasks/"))
    request.user = owner
    with pytest.raises(TypeError, match="not a Principal"):
        caller_of(request)


@pytest.mark.parametrize("path", ["/tasks/", "/users/me/", "/auth/sessions/", "/tasks/feeds/"])
def test_the_browsable_api_signed_in_by_cookie_answers(owner: User, path: str) -> None:
    client = APIClient()
    client.force_login(owner)
    assert client.get(path, HTTP_ACCEPT="text/html").status_code == 200
    assert client.get(path).status_code == 200
