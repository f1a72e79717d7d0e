"""A delivery: signed as Standard Webhooks specifies, logged, retried with growing jittered
delays, and the webhook disabled after the last failure."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook as Verifier

from events import delivery as rules
from events.models import Delivery, Event, Webhook
from events.services import delivery_redeliver
from tasks.services import task_create
from tests.events.conftest import FakeSender, failing, hook, run_worker
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def test_the_delivery_verifies_with_the_standard_webhooks_library(owner: User, sender: FakeSender) -> None:
    webhook = hook(owner)
    task = task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()

    [sent] = sender.sent
    body = Verifier(webhook.secret).verify(sent.body, sent.headers)
    assert body["type"] == "task.created"
    assert body["data"]["id"] == task.pk
    assert sent.headers["webhook-id"] == Event.objects.get().webhook_id
    assert sent.headers["content-type"] == "application/json"
    with pytest.raises(Exception, match="No matching signature"):
        Verifier(rules.secret_new()).verify(sent.body, sent.headers)


def test_a_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    import base64

    secret = rules.secret_new()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != rules.secret_new()


def test_the_log_records_status_latency_excerpt_and_the_next_attempt(owner: User, sender: FakeSender) -> None:
    hook(owner)
    sender.answers = [failing(503)]
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    before = timezone.now()
    run_worker()

    first = Delivery.objects.get()
    assert (first.attempt, first.succeeded, first.status_code) == (1, False, 503)
    assert (first.latency_ms, first.response_excerpt) == (3, "no")
    assert first.next_attempt is not None
    assert timedelta(seconds=4) <= first.next_attempt - before <= timedelta(seconds=7)
    retry = DBTaskResult.objects.filter(status="READY").get()
    assert retry.run_after == first.next_attempt
    assert not DBTaskResult.objects.ready().exists()  # scheduled, not yet due


def test_failures_are_retried_with_growing_jittered_delays_then_the_webhook_is_disabled(
    owner: User, sender: FakeSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = hook(owner)
    sender.answers = [failing(500) if n % 2 else failing(None) for n in range(len(rules.RETRY_DELAYS) + 1)]
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    start = timezone.now()
    clock = [start]
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock[0])

    run_worker()
    for _ in rules.RETRY_DELAYS:
        scheduled = DBTaskResult.objects.filter(status="READY").get()
        assert scheduled.run_after > clock[0]  # not due yet: nothing runs
        run_worker()
        assert DBTaskResult.objects.filter(status="READY").get() == scheduled
        clock[0] = scheduled.run_after
        run_worker()

    log = list(Delivery.objects.order_by("attempt"))
    assert [entry.attempt for entry in log] == list(range(1, len(rules.RETRY_DELAYS) + 2))
    assert len({entry.event_id for entry in log}) == 1
    assert len({sent.headers["webhook-id"] for sent in sender.sent}) == 1
    waits = [entry.next_attempt - entry.attempted for entry in log[:-1]]  # type: ignore[operator]
    for wait, base in zip(waits, rules.RETRY_DELAYS, strict=True):
        assert base * (1 - rules.JITTER) <= wait <= base * (1 + rules.JITTER)
    growing = [later > earlier for earlier, later in itertools.pairwise(waits)]
    assert growing[:5] == [True] * 5  # the last two delays are both 10 h, jittered apart
    assert timedelta(hours=20) < sum(waits, timedelta()) < timedelta(hours=34)  # about a day
    assert log[-1].next_attempt is None
    webhook.refresh_from_db()
    assert webhook.active is False
    assert "8 failed attempts" in webhook.disabled_reason
    assert webhook.disabled_at == clock[0]
    assert not DBTaskResult.objects.filter(status="READY").exists()

    task_create(person_id=owner.pk, title="After", due_to=DUE)
    run_worker()
    assert len(sender.sent) == len(rules.RETRY_DELAYS) + 1  # disabled: nothing more is sent


def test_the_jitter_varies_the_delays() -> None:
    delays = {rules.retry_delay(2) for _ in range(20)}
    assert len(delays) > 1
    assert all(delay is not None and 240 <= delay.total_seconds() <= 360 for delay in delays)
    assert rules.retry_delay(len(rules.RETRY_DELAYS) + 1) is None


def test_a_success_after_a_failure_schedules_nothing_more(
    owner: User, sender: FakeSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = hook(owner)
    sender.answers = [failing(500)]
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()
    later = timezone.now() + timedelta(minutes=1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    run_worker()

    assert [entry.succeeded for entry in Delivery.objects.order_by("attempt")] == [False, True]
    assert not DBTaskResult.objects.filter(status="READY").exists()
    webhook.refresh_from_db()
    assert webhook.active


def test_a_target_refused_at_delivery_is_a_failure_that_sends_nothing(
    owner: User, sender: FakeSender
) -> None:
    webhook = hook(owner)
    Webhook.objects.filter(pk=webhook.pk).update(url="https://rebound.refused.test/hook")
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()

    entry = Delivery.objects.get()
    assert entry.error.startswith("Target refused: it resolves to a private address")
    assert entry.next_attempt is not None
    assert sender.sent == []


def test_a_redelivery_carries_the_same_event_id_and_body(owner: User, sender: FakeSender) -> None:
    webhook = hook(owner)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()
    first = Delivery.objects.get()

    delivery_redeliver(delivery=first)
    run_worker()

    again = Delivery.objects.exclude(pk=first.pk).get()
    assert (again.event_id, again.redelivery, again.attempt) == (first.event_id, True, 1)
    assert [sent.headers["webhook-id"] for sent in sender.sent] == [first.event.webhook_id] * 2
    assert sender.sent[0].body == sender.sent[1].body
    Verifier(webhook.secret).verify(sender.sent[1].body, sender.sent[1].headers)


def test_a_failed_redelivery_neither_retries_nor_disables(owner: User, sender: FakeSender) -> None:
    webhook = hook(owner)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()
    sender.answers = [failing(500)]

    delivery_redeliver(delivery=Delivery.objects.get())
    run_worker()

    assert Delivery.objects.filter(redelivery=True).get().next_attempt is None
    assert not DBTaskResult.objects.filter(status="READY").exists()
    webhook.refresh_from_db()
    assert webhook.active


def test_a_sender_that_raises_is_logged_and_retried(
    owner: User, sender: FakeSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook(owner)

    def broken(url: str, *, body: bytes, headers: dict[str, str]) -> None:
        raise ValueError("unexpected")

    monkeypatch.setattr("events.sender.post", broken)
    task_create(person_id=owner.pk, title="Buy milk", due_to=DUE)
    run_worker()

    entry = Delivery.objects.get()
    assert entry.error == "ValueError: unexpected"
    assert entry.next_attempt is not None
