"""/webhooks/: each webhook its creator's; the secret shown once; targets checked; the
delivery log and redelivery."""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as Verifier

from events.models import Delivery, Webhook
from projects.models import Role
from projects.services import member_add, project_create
from tasks.services import task_create
from tests.events.conftest import FakeSender, failing, run_worker
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db
TARGET = "https://receiver.example/hook"


def create(client: APIClient, **fields: object) -> dict:
    response = client.post("/webhooks/", {"url": TARGET, "events": ["task.created"], **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_secret_is_shown_in_the_201_and_never_again(owner_client: APIClient, sender: FakeSender) -> None:
    created = create(owner_client)

    assert created["secret"].startswith("whsec_")
    assert created["secret"] == Webhook.objects.get().secret
    assert created["url"] == TARGET
    assert created["events"] == ["task.created"]
    assert created["project"] is None
    assert created["active"] is True
    assert created["self"] == f"http://testserver/webhooks/{created['id']}/"
    assert created["deliveries"] == f"http://testserver/webhooks/{created['id']}/deliveries/"
    for shown in (
        owner_client.get(created["self"]).json(),
        owner_client.get("/webhooks/").json()["results"][0],
        owner_client.patch(created["self"], {"events": ["task.deleted"]}, format="json").json(),
    ):
        assert "secret" not in shown
        assert created["secret"] not in str(shown)


def test_the_secret_shown_verifies_the_deliveries(
    owner: User, owner_client: APIClient, sender: FakeSender
) -> None:
    secret = create(owner_client)["secret"]
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()

    [sent] = sender.sent
    assert Verifier(secret).verify(sent.body, sent.headers)["type"] == "task.created"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "https://internal.refused.test/"}, "url"),
        ({"url": "ftp://receiver.example/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["task.exploded"]}, "events"),
        ({"events": "task.created"}, "events"),
        ({"events": [{}]}, "events"),
        ({"events": {"task.created": 1}}, "events"),
        ({"events": [["task.created"]]}, "events"),
        ({"project": "http://testserver/projects/999999/"}, "project"),
        ({"project": "http://testserver/tasks/1/"}, "project"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_a_bad_webhook_is_a_400_naming_the_field(
    owner_client: APIClient, sender: FakeSender, fields: dict, field: str
) -> None:
    body = {"url": TARGET, "events": ["task.created"], **fields}
    response = owner_client.post("/webhooks/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    # As every 400 of the API: each field maps to a flat list of messages (or one message).
    errors = response.json()[field]
    assert isinstance(errors, list | str)
    assert all(isinstance(message, str) for message in errors)
    assert not Webhook.objects.exists()


def test_a_refused_target_says_why_at_creation_and_at_update(
    owner_client: APIClient, sender: FakeSender
) -> None:
    response = owner_client.post(
        "/webhooks/", {"url": "https://internal.refused.test/", "events": ["task.created"]}, format="json"
    )
    assert response.json()["url"] == ["This target is refused: it resolves to a private address (10.0.0.1)"]

    created = create(owner_client)
    response = owner_client.patch(created["self"], {"url": "https://internal.refused.test/"}, format="json")
    assert response.status_code == 400
    assert "refused" in response.json()["url"][0]
    assert Webhook.objects.get().url == TARGET


def test_another_user_sees_404_for_someone_elses_webhook(
    owner_client: APIClient, other_client: APIClient, staff_client: APIClient, sender: FakeSender
) -> None:
    created = create(owner_client)
    delivery_path = f"{created['self']}deliveries/"

    for client in (other_client, staff_client):
        assert client.get("/webhooks/").json()["results"] == []
        assert client.get(created["self"]).status_code == 404
        assert client.patch(created["self"], {"active": False}, format="json").status_code == 404
        assert client.delete(created["self"]).status_code == 404
        assert client.get(delivery_path).status_code == 404
    assert Webhook.objects.get().active


def test_anonymous_callers_are_refused(anon: APIClient) -> None:
    assert anon.get("/webhooks/").status_code == 401


def test_a_project_webhook_is_its_owners_not_an_editors(
    owner: User, other: User, owner_client: APIClient, other_client: APIClient, sender: FakeSender
) -> None:
    team = project_create(owner_id=owner.pk, name="Team")
    member_add(project=team, user_id=other.pk, role=Role.EDITOR)
    project_url = f"http://testserver/projects/{team.pk}/"

    created = create(owner_client, project=project_url)
    assert created["project"] == project_url
    assert Webhook.objects.get().project_id == team.pk

    response = other_client.post(
        "/webhooks/", {"url": TARGET, "events": ["task.created"], "project": project_url}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["project"] == [
        "Only a project you own: a webhook of a project receives its members' changes."
    ]
    mine = create(other_client)
    response = other_client.patch(f"/webhooks/{mine['id']}/", {"project": project_url}, format="json")
    assert response.status_code == 400


def test_the_delivery_log_lists_every_attempt_with_its_fields(
    owner: User, owner_client: APIClient, sender: FakeSender
) -> None:
    created = create(owner_client)
    sender.answers = [failing(502)]
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()

    page = owner_client.get(created["deliveries"]).json()
    [entry] = page["results"]
    delivery = Delivery.objects.get()
    assert entry["id"] == delivery.pk
    assert entry["event_id"] == delivery.event.webhook_id
    assert entry["event_type"] == "task.created"
    assert (entry["attempt"], entry["succeeded"], entry["status_code"]) == (1, False, 502)
    assert (entry["latency_ms"], entry["response_excerpt"]) == (3, "no")
    assert entry["next_attempt"] is not None
    assert entry["redeliver"] == f"{created['self']}deliveries/{delivery.pk}/redeliver/"


def test_redeliver_sends_the_same_event_id_again(
    owner: User, owner_client: APIClient, sender: FakeSender
) -> None:
    created = create(owner_client)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()
    entry = owner_client.get(created["deliveries"]).json()["results"][0]

    response = owner_client.post(entry["redeliver"])
    assert response.status_code == 202
    assert response.json() == {"event_id": entry["event_id"]}
    run_worker()

    assert [sent.headers["webhook-id"] for sent in sender.sent] == [entry["event_id"]] * 2
    newest = owner_client.get(created["deliveries"]).json()["results"][0]
    assert (newest["event_id"], newest["redelivery"]) == (entry["event_id"], True)


def test_redeliver_is_404_for_another_users_webhook_or_delivery(
    owner: User, owner_client: APIClient, other_client: APIClient, sender: FakeSender
) -> None:
    created = create(owner_client)
    theirs = create(other_client)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()
    delivery = Delivery.objects.get()

    assert other_client.post(f"{created['self']}deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert (
        other_client.post(f"/webhooks/{theirs['id']}/deliveries/{delivery.pk}/redeliver/").status_code == 404
    )
    assert owner_client.post(f"{created['self']}deliveries/999999/redeliver/").status_code == 404


def test_patch_active_true_enables_a_disabled_webhook_and_clears_its_notice(
    owner_client: APIClient, sender: FakeSender
) -> None:
    created = create(owner_client)
    Webhook.objects.update(active=False, disabled_reason="Disabled after 8 failed attempts", disabled_at=DUE)
    shown = owner_client.get(created["self"]).json()
    assert (shown["active"], shown["disabled_reason"]) == (False, "Disabled after 8 failed attempts")

    response = owner_client.patch(created["self"], {"active": True}, format="json")

    assert response.status_code == 200
    assert (
        response.json()["active"],
        response.json()["disabled_reason"],
        response.json()["disabled_at"],
    ) == (
        True,
        "",
        None,
    )


def test_the_owner_deletes_a_webhook(owner_client: APIClient, sender: FakeSender) -> None:
    created = create(owner_client)
    assert owner_client.delete(created["self"]).status_code == 204
    assert not Webhook.objects.exists()
