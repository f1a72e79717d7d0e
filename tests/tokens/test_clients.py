"""OAuth 2.0 clients: registering, listing and revoking them; who a request's client is."""

import base64
import hashlib
import io
import json
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client as DjangoClient
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from tokens import clients
from tokens.clients import InvalidClient, client_authenticate, client_create
from tokens.models import Client, Session
from users.models import User

pytestmark = pytest.mark.django_db


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_create_client_prints_a_confidential_clients_secret_once_and_keeps_only_its_digest() -> None:
    answer = json.loads(command("create_client", "billing service", "--confidential"))
    assert set(answer) == {"client_id", "client_secret"}
    stored = Client.objects.get(pk=answer["client_id"])
    assert stored.name == "billing service"
    assert stored.confidential
    assert stored.secret_digest == hashlib.sha256(answer["client_secret"].encode()).hexdigest()
    assert answer["client_secret"] not in json.dumps(list(Client.objects.values()), default=str)
    assert len(answer["client_secret"]) >= 43  # 256 bits, base64url


def test_create_client_makes_a_public_client_without_a_secret() -> None:
    answer = json.loads(command("create_client", "cli"))
    assert set(answer) == {"client_id"}
    assert not Client.objects.get(pk=answer["client_id"]).confidential


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_create_client_refuses_a_bad_name(name: str) -> None:
    with pytest.raises(CommandError, match="NAME"):
        command("create_client", name)
    assert not Client.objects.exists()


def test_list_clients_shows_live_clients_and_never_a_secret() -> None:
    kept = client_create(name="kept", confidential=True)
    gone = client_create(name="gone", confidential=False)
    command("revoke_client", gone.client_id)
    listed = [json.loads(line) for line in command("list_clients").splitlines()]
    assert [row["client_id"] for row in listed] == [kept.client_id]
    everything = command("list_clients", "--all")
    assert gone.client_id in everything
    assert kept.client_secret not in everything
    assert "secret" not in everything


def test_revoking_a_client_ends_its_sessions_and_refuses_it(owner: User, anon: APIClient) -> None:
    registered = client_create(name="service", confidential=True)
    auth = basic(registered.client_id, registered.client_secret or "")
    granted = anon.post(
        "/auth/token/",
        {"grant_type": "password", "username": "owner", "password": PASSWORD},
        HTTP_AUTHORIZATION=auth,
    ).json()
    first_party = anon.post("/auth/token/", {"username": "owner", "password": PASSWORD}).json()
    assert "1 session(s) ended" in command("revoke_client", registered.client_id)

    assert (
        APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {granted['access_token']}").status_code == 401
    )
    assert APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {first_party['access']}").status_code == 200
    again = anon.post(
        "/auth/token/",
        {"grant_type": "password", "username": "owner", "password": PASSWORD},
        HTTP_AUTHORIZATION=auth,
    )
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
    ended = Session.objects.get(client_id=registered.client_id)
    assert ended.revoked_reason == Session.Reason.CLIENT_REVOKED
    with pytest.raises(CommandError, match="No live client"):
        command("revoke_client", registered.client_id)


def test_the_first_party_client_is_made_by_the_first_login_and_named_in_its_tokens(
    owner: User, anon: APIClient
) -> None:
    assert not Client.objects.exists()
    access = anon.post("/auth/token/", {"username": "owner", "password": PASSWORD}).json()["access"]
    assert jwt.decode(access, options={"verify_signature": False})["client_id"] == settings.DEFAULT_CLIENT_ID
    default = Client.objects.get(pk=settings.DEFAULT_CLIENT_ID)
    assert not default.confidential
    assert default.secret_digest == ""


# client_authenticate: RFC 6749 §2.3.1


def authenticate(
    authorization: str = "", client_id: str | None = None, secret: str | None = None, *, default: bool = True
) -> Any:
    return client_authenticate(
        authorization=authorization, form_client_id=client_id, form_secret=secret, default=default
    )


def test_a_confidential_client_authenticates_by_basic_or_by_post() -> None:
    registered = client_create(name="service", confidential=True)
    secret = registered.client_secret or ""
    assert authenticate(basic(registered.client_id, secret)).method == "client_secret_basic"
    assert authenticate(client_id=registered.client_id, secret=secret).method == "client_secret_post"
    # The same client id named in the form beside Basic is allowed (§2.3.1 does not forbid it).
    assert authenticate(
        basic(registered.client_id, secret), client_id=registered.client_id
    ).client.confidential


def test_basic_credentials_are_form_decoded() -> None:
    # RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic's base64.
    registered = client_create(name="service", confidential=True)
    Client.objects.filter(pk=registered.client_id).update(id="id with:colon")
    clients._clients.clear()
    header = basic("id+with%3Acolon", registered.client_secret or "")
    assert authenticate(header).client.id == "id with:colon"


@pytest.mark.parametrize(
    ("case", "basic_challenge"),
    [
        ("wrong secret by basic", True),
        ("wrong secret by post", False),
        ("no secret", False),
        ("unknown client", False),
        ("two methods", True),
        ("public client with a secret", False),
        ("malformed basic", True),
        ("revoked", False),
        ("nobody, where a client must be named", False),
    ],
)
def test_client_authentication_fails_as_invalid_client(case: str, basic_challenge: bool) -> None:
    confidential = client_create(name="service", confidential=True)
    public = client_create(name="app", confidential=False)
    revoked = client_create(name="old", confidential=True)
    command("revoke_client", revoked.client_id)
    attempts = {
        "wrong secret by basic": lambda: authenticate(basic(confidential.client_id, "nope")),
        "wrong secret by post": lambda: authenticate(client_id=confidential.client_id, secret="nope"),
        "no secret": lambda: authenticate(client_id=confidential.client_id),
        "unknown client": lambda: authenticate(client_id="nobody"),
        "two methods": lambda: authenticate(
            basic(confidential.client_id, confidential.client_secret or ""),
            client_id=confidential.client_id,
            secret=confidential.client_secret,
        ),
        "public client with a secret": lambda: authenticate(client_id=public.client_id, secret="anything"),
        "malformed basic": lambda: authenticate("Basic !!!"),
        "revoked": lambda: authenticate(client_id=revoked.client_id, secret=revoked.client_secret),
        "nobody, where a client must be named": lambda: authenticate(default=False),
    }
    with pytest.raises(InvalidClient) as refused:
        attempts[case]()
    assert refused.value.basic is basic_challenge


def test_a_request_naming_no_client_is_the_first_party_clients() -> None:
    assert authenticate().client.id == settings.DEFAULT_CLIENT_ID


def test_a_client_lookup_is_remembered_for_at_most_a_second(django_assert_num_queries: Any) -> None:
    registered = client_create(name="service", confidential=True)
    authenticate(client_id=registered.client_id, secret=registered.client_secret)
    with django_assert_num_queries(0):
        authenticate(client_id=registered.client_id, secret=registered.client_secret)
    clients._clients.put(registered.client_id, (0.0, None))  # its second has passed
    with django_assert_num_queries(1):  # the client, read again
        authenticate(client_id=registered.client_id, secret=registered.client_secret)


# The admin


def test_the_admin_lists_clients_and_revokes_them(owner: User) -> None:
    root = User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")
    registered = client_create(name="service", confidential=True)
    browser = DjangoClient()
    browser.force_login(root)
    page = browser.get("/admin/tokens/client/")
    assert page.status_code == 200
    assert registered.client_id in page.content.decode()
    assert (registered.client_secret or "") not in page.content.decode()
    assert browser.get("/admin/tokens/client/add/").status_code == 403
    browser.post(
        "/admin/tokens/client/",
        {"action": "revoke", "_selected_action": [registered.client_id]},
    )
    assert Client.objects.get(pk=registered.client_id).revoked is not None
