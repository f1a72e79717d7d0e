"""Security events pushed (RFC 8935) when a session ends: each change of tokens.secevents'
table enqueues one task in its own transaction (none when nothing changed, none when it
rolls back), and the worker delivers one SET per receiving client to a real HTTP receiver,
verified with joserfc through the published JWKS, retried on a 5xx and not on a refusal."""

import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from joserfc import jws
from joserfc.jwk import KeySet
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from tests.helpers.worker import run_due_tasks
from tokens import services
from tokens.clients import client_create, client_revoke
from tokens.models import Client, SecurityEventDelivery, Session
from tokens.tasks import security_event_fan_out
from users.models import User

pytestmark = pytest.mark.django_db

FAN_OUT = "tokens.tasks.security_event_fan_out"
DELIVER = "tokens.tasks.security_event_deliver"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"


# The receiver: a real HTTP server on loopback, answering what each test queues (202 by default).


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    answers: list[tuple[int, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers.items()), body))
        status, answer = Receiver.answers.pop(0) if Receiver.answers else (202, b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver_url(settings: Settings) -> Iterator[str]:
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    Receiver.received, Receiver.answers = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/events"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def resource_server(receiver_url: str) -> Client:
    """A confidential client that registered the receiver as its events URL."""
    registered = client_create(name="resource server", confidential=True)
    Client.objects.filter(pk=registered.client_id).update(events_url=receiver_url)
    return Client.objects.get(pk=registered.client_id)


def enqueued(path: str = FAN_OUT) -> list[dict[str, Any]]:
    """The arguments of every task of ``path`` enqueued, oldest first."""
    rows = DBTaskResult.objects.filter(task_path=path).order_by("enqueued_at")
    return [row.args_kwargs["kwargs"] for row in rows]


def verified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``token``, verified by joserfc with our published JWKS."""
    published = APIClient().get("/.well-known/jwks.json").json()
    keys = KeySet.import_key_set(published)
    result = jws.deserialize_compact(token, keys, algorithms=[k["alg"] for k in published["keys"]])
    return result.headers(), json.loads(result.payload)


def login(user: User, client_id: str | None = None) -> dict[str, Any]:
    return services.session_start(user=user, client_id=client_id)


def sid(pair: dict[str, Any]) -> str:
    return str(jwt.decode(pair["access"], options={"verify_signature": False})["sid"])


def bearer(pair: dict[str, Any]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    return client


# Recording: one task per change, in the change's transaction.


def reuse(owner: User, pair: dict[str, Any]) -> None:
    services.refresh_rotate(refresh=pair["refresh"])
    with override_settings(JWT_REFRESH_RETRY_SECONDS=0), pytest.raises(services.InvalidToken):
        services.refresh_rotate(refresh=pair["refresh"])  # spent, and no retry window


def password_change(owner: User, pair: dict[str, Any]) -> None:
    changed = bearer(pair).post(
        "/users/me/password/", {"old_password": PASSWORD, "new_password": "another-long-passphrase"}
    )
    assert changed.status_code == 204


def deactivation(owner: User, pair: dict[str, Any]) -> None:
    staff = User.objects.create_user(username="boss", password=PASSWORD, is_staff=True)
    assert bearer(login(staff)).patch(f"/users/{owner.pk}/", {"is_active": False}).status_code == 200


CHANGES: dict[str, tuple[Callable[[User, dict[str, Any]], Any], str, str, bool]] = {
    # change: (how, kind, reason, whether the event names the session)
    "logout": (
        lambda owner, pair: APIClient().post("/auth/logout/", {"refresh": pair["refresh"]}),
        "session-revoked",
        "logout",
        True,
    ),
    "token_revoke": (
        lambda owner, pair: services.token_revoke(
            token=pair["refresh"], client_id=django_settings.DEFAULT_CLIENT_ID
        ),
        "session-revoked",
        "revoked",
        True,
    ),
    "session_revoke": (
        lambda owner, pair: bearer(pair).delete(f"/auth/sessions/{sid(pair)}/"),
        "session-revoked",
        "revoked",
        True,
    ),
    "refresh reuse": (reuse, "session-revoked", "reuse", True),
    "logout everywhere": (
        lambda owner, pair: bearer(pair).post("/auth/logout-all/"),
        "session-revoked",
        "logout_all",
        False,
    ),
    "password change": (password_change, "credential-change", "password", False),
    "deactivation": (deactivation, "session-revoked", "deactivated", False),
    "deletion": (
        lambda owner, pair: bearer(pair).delete(f"/users/{owner.pk}/"),
        "session-revoked",
        "deleted",
        False,
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_each_change_enqueues_its_one_task(owner: User, change: str) -> None:
    how, kind, reason, names_session = CHANGES[change]
    pair = login(owner)
    before = timezone.now()

    how(owner, pair)

    [task] = enqueued()
    assert {name: task[name] for name in ("kind", "user_id", "session_id", "reason")} == {
        "kind": kind,
        "user_id": owner.pk,
        "session_id": sid(pair) if names_session else None,
        "reason": reason,
    }
    assert len(task["txn"]) == 32
    assert before <= datetime.fromisoformat(task["occurred"]) <= timezone.now()
    assert not enqueued(DELIVER)  # the request finds no receivers and sends nothing


def test_a_revoked_client_enqueues_one_task_per_session_it_ended(owner: User, other: User) -> None:
    registered = client_create(name="service", confidential=True)
    ended = {
        sid(login(owner, registered.client_id)): owner.pk,
        sid(login(other, registered.client_id)): other.pk,
    }
    login(owner)  # the first-party client's session: not ended, no event

    assert client_revoke(client_id=registered.client_id) == 2

    tasks = enqueued()
    assert {task["session_id"]: task["user_id"] for task in tasks} == ended
    assert {(task["kind"], task["reason"]) for task in tasks} == {("session-revoked", "client_revoked")}


def test_a_change_that_changed_nothing_enqueues_nothing(owner: User, other: User) -> None:
    pair = login(owner)
    assert APIClient().post("/auth/logout/", {"refresh": pair["refresh"]}).status_code == 204
    assert len(enqueued()) == 1

    # The session has already ended: logged out again, revoked, its token revoked.
    assert APIClient().post("/auth/logout/", {"refresh": pair["refresh"]}).status_code == 204
    services.session_revoke(session=Session.objects.get(pk=sid(pair)), reason=Session.Reason.REVOKED)
    services.token_revoke(token=pair["refresh"], client_id=django_settings.DEFAULT_CLIENT_ID)
    # Another client's token is not revoked (RFC 7009 §2.1); an inactive user deactivated again.
    services.token_revoke(token=login(owner)["refresh"], client_id="another-client")
    other.is_active = False
    other.save()
    [deactivated] = enqueued()[1:]
    other.save()

    assert len(enqueued()) == 2
    assert deactivated["user_id"] == other.pk


def test_a_rolled_back_change_enqueues_nothing(owner: User) -> None:
    pair = login(owner)

    def logout_then_fail() -> None:
        with transaction.atomic():
            services.logout(refresh=pair["refresh"])
            assert len(enqueued()) == 1  # in the change's transaction...
            raise RuntimeError("the caller fails after the change")

    with pytest.raises(RuntimeError):
        logout_then_fail()

    assert enqueued() == []  # ...and rolled back with it
    assert Session.objects.get(pk=sid(pair)).revoked is None


def test_the_logout_request_records_its_event_with_one_insert(
    owner: User, django_assert_num_queries: Any
) -> None:
    pair = login(owner)

    # 1: the savepoint that holds the session's end and its event together; 2: the session's
    # UPDATE (revoked, where it was live); 3: the INSERT of the event's task row
    # (tokens.tasks.security_event_record); 4: the savepoint's release. No receiver is looked up.
    with django_assert_num_queries(4):
        response = APIClient().post("/auth/logout/", {"refresh": pair["refresh"]})

    assert response.status_code == 204


# Delivery: the worker, a real receiver on loopback.


def test_a_logout_is_pushed_as_a_set_that_verifies_with_the_published_keys(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    pair = login(owner)
    assert APIClient().post("/auth/logout/", {"refresh": pair["refresh"]}).status_code == 204
    run_due_tasks()

    [(headers, body)] = Receiver.received
    assert headers["Content-Type"] == "application/secevent+jwt"  # RFC 8935 §2
    header, claims = verified(body.decode())
    assert header["typ"] == "secevent+jwt"
    assert claims["aud"] == resource_server.id
    assert claims["iss"] == ring.JWT_ISSUER
    assert claims["sub_id"]["session"] == {"format": "opaque", "id": sid(pair)}
    assert claims["sub_id"]["user"] == {"format": "opaque", "id": str(owner.pk)}
    assert list(claims["events"]) == [SESSION_REVOKED]
    [task] = DBTaskResult.objects.filter(task_path=FAN_OUT)
    assert claims["events"][SESSION_REVOKED]["event_timestamp"] == int(
        datetime.fromisoformat(task.args_kwargs["kwargs"]["occurred"]).timestamp()
    )
    log = SecurityEventDelivery.objects.get()
    assert (log.client_id, log.jti, log.attempt) == (resource_server.id, claims["jti"], 1)
    assert (log.succeeded, log.status_code, log.next_attempt) == (True, 202, None)
    assert (log.kind, log.reason, log.session_id, log.user_id) == (
        "session-revoked",
        "logout",
        sid(pair),
        owner.pk,
    )


def test_every_receiving_client_gets_a_set_of_its_own(
    ring: Settings, owner: User, resource_server: Client, receiver_url: str
) -> None:
    second = client_create(name="second", confidential=True).client_id
    Client.objects.filter(pk=second).update(events_url=receiver_url)
    client_create(name="no events url", confidential=True)

    services.logout(refresh=login(owner)["refresh"])
    run_due_tasks()

    claims = [verified(body.decode())[1] for _, body in Receiver.received]
    assert sorted(c["aud"] for c in claims) == sorted([resource_server.id, second])
    assert len({c["jti"] for c in claims}) == 2


def test_a_password_change_pushes_a_credential_change_and_a_session_revoked_of_one_txn(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    password_change(owner, login(owner))
    run_due_tasks()

    claims = [verified(body.decode())[1] for _, body in Receiver.received]
    assert sorted(next(iter(c["events"])) for c in claims) == [CREDENTIAL_CHANGE, SESSION_REVOKED]
    assert claims[0]["txn"] == claims[1]["txn"]
    assert all(
        c["sub_id"] == {"format": "complex", "user": {"format": "opaque", "id": str(owner.pk)}}
        for c in claims
    )


def test_without_receivers_the_worker_sends_nothing(ring: Settings, owner: User, receiver_url: str) -> None:
    client_create(name="no events url", confidential=True)
    services.logout(refresh=login(owner)["refresh"])
    run_due_tasks()

    assert Receiver.received == []
    assert enqueued(DELIVER) == []
    assert DBTaskResult.objects.get(task_path=FAN_OUT).return_value == 0


def test_a_5xx_is_retried_later_with_the_same_set(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    Receiver.answers = [(503, b"busy")]
    services.logout(refresh=login(owner)["refresh"])
    before = timezone.now()
    run_due_tasks()

    failed = SecurityEventDelivery.objects.get()
    assert (failed.attempt, failed.succeeded, failed.status_code, failed.response_excerpt) == (
        1,
        False,
        503,
        "busy",
    )
    assert failed.next_attempt is not None
    assert timedelta(seconds=4) <= failed.next_attempt - before <= timedelta(seconds=7)
    retry = DBTaskResult.objects.get(task_path=DELIVER, status="READY")
    assert retry.run_after == failed.next_attempt
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    run_due_tasks()
    assert len(Receiver.received) == 1  # not due yet

    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_due_tasks()

    first, second = (verified(body.decode())[1] for _, body in Receiver.received)
    assert first["jti"] == second["jti"] == failed.jti  # RFC 8417 §2.2: one SET, sent twice
    delivered = SecurityEventDelivery.objects.get(attempt=2)
    assert (delivered.succeeded, delivered.status_code, delivered.next_attempt) == (True, 202, None)


def test_a_definitive_refusal_is_not_retried(ring: Settings, owner: User, resource_server: Client) -> None:
    Receiver.answers = [(400, b'{"err": "invalid_audience", "description": "Not for us."}')]
    services.logout(refresh=login(owner)["refresh"])
    run_due_tasks()

    refused = SecurityEventDelivery.objects.get()
    assert (refused.succeeded, refused.status_code, refused.next_attempt) == (False, 400, None)
    assert refused.error == "Refused: invalid_audience"
    assert not DBTaskResult.objects.filter(status="READY").exists()
    assert len(Receiver.received) == 1


def test_a_private_target_is_refused_and_logged_unless_allowed(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    ring.WEBHOOK_ALLOW_PRIVATE = False
    services.logout(refresh=login(owner)["refresh"])
    run_due_tasks()

    assert Receiver.received == []
    refused = SecurityEventDelivery.objects.get()
    assert refused.error.startswith("Target refused: 127.0.0.1 is refused: 127.0.0.1 is loopback")
    assert (refused.succeeded, refused.status_code) == (False, None)


def test_a_fan_out_run_twice_sends_no_second_different_set(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    services.logout(refresh=login(owner)["refresh"])
    [arguments] = enqueued()
    run_due_tasks()
    # A worker killed after the fan-out committed, before it was marked done: it runs again,
    # once after the delivery and once beside the first run.
    security_event_fan_out.enqueue(**arguments)
    security_event_fan_out.enqueue(**arguments)
    run_due_tasks()

    [(_, body)] = Receiver.received
    assert SecurityEventDelivery.objects.get().jti == verified(body.decode())[1]["jti"]
    assert len({task["jti"] for task in enqueued(DELIVER)}) == 1


def test_a_client_revoked_before_the_delivery_receives_nothing(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    services.logout(refresh=login(owner)["refresh"])
    Client.objects.filter(pk=resource_server.pk).update(revoked=timezone.now())
    run_due_tasks()

    assert Receiver.received == []


def test_the_latest_deliveries_are_listed_newest_first(
    ring: Settings, owner: User, resource_server: Client
) -> None:
    Receiver.answers = [(500, b"down")]
    services.logout(refresh=login(owner)["refresh"])
    run_due_tasks()
    DBTaskResult.objects.filter(task_path=DELIVER, status="READY").update(run_after=timezone.now())
    run_due_tasks()
    out = io.StringIO()

    call_command("security_event_deliveries", stdout=out)

    second, first = (json.loads(line) for line in out.getvalue().splitlines())
    assert (second["attempt"], second["succeeded"], second["status_code"]) == (2, True, 202)
    assert (first["attempt"], first["succeeded"], first["status_code"]) == (1, False, 500)
    assert first["next_attempt"] is not None
    assert second["next_attempt"] is None
    assert first["jti"] == second["jti"]
    assert (first["client_id"], first["kind"], first["reason"]) == (
        resource_server.id,
        "session-revoked",
        "logout",
    )
    out = io.StringIO()
    call_command("security_event_deliveries", "--failed", stdout=out)
    assert [json.loads(line)["attempt"] for line in out.getvalue().splitlines()] == [1]
