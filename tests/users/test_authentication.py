"""The browsable API's cookie session yields a Principal, like a token does."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from users.authentication import SessionCallerAuthentication
from users.models import User
from users.principal import Principal


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


@pytest.mark.parametrize("path", ["/tasks/", "/users/me/", "/auth/sessions/", "/tasks/feeds/"])
def test_the_browsable_api_signed_in_by_cookie_answers(owner: User, path: str) -> None:
    client = APIClient()
    client.force_login(owner)
    assert client.get(path, HTTP_ACCEPT="text/html").status_code == 200
    assert client.get(path).status_code == 200
