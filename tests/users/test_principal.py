"""The caller: one immutable Principal per request, whichever way the request authenticated."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from tokens import codec
from tokens.authentication import BearerTokenAuthentication
from tokens.revocation import UserState, memo, token_principal
from tokens.services import token_pair_issue
from users.models import User
from users.principal import Principal, caller_of


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
    with pytest.raises(AttributeError):
        caller.is_staff = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        caller.password = "x"  # type: ignore[attr-defined]
    assert not hasattr(caller, "save")
    assert not hasattr(caller, "password")


def test_the_token_session_client_and_binding_reach_the_caller(owner: User) -> None:
    claims = codec.decode(token_pair_issue(user=owner)["access"], token_use="access")
    caller = token_principal({**claims, "client_id": "cli", "cnf": {"jkt": "thumb"}})
    assert (caller.session_id, caller.client_id, caller.binding) == (claims["sid"], "cli", "thumb")
    assert token_principal(claims).binding is None


def test_views_refuse_a_caller_that_is_not_a_principal(owner: User) -> None:
    request = Request(APIRequestFactory().get("/tasks/"))
    request.user = owner
    with pytest.raises(TypeError, match="not a Principal"):
        caller_of(request)
