"""The soak's events check (soak/events_ledger.py) over small synthetic ledgers: what is a
violation, and what is not."""

import json
import threading
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from soak.events_ledger import SESSION_REVOKED, check_security_events, check_webhooks
from soak.receivers import Arrival, SetArrival, WebhookReceiver, fails_first
from soak.verify import Violations
from soak.workload import ACKNOWLEDGED, REFUSED, UNKNOWN, Entry

A, B = "soak0-abc", "soak1-abc"


def entry(
    client: str,
    seq: int,
    op: str,
    outcome: str,
    *,
    task_id: int | None = None,
    title: str | None = None,
    t1: float = 1.0,
    session: str | None = None,
) -> Entry:
    status = {ACKNOWLEDGED: 201, REFUSED: 400, UNKNOWN: None}[outcome]
    return Entry(
        seq, client, op, t1 - 0.1, t1, status, outcome, task_id=task_id, title=title, session=session
    )


def arrival(
    client: str,
    webhook_id: str,
    type: str,
    task_id: int,
    *,
    title: str | None = None,
    t: float = 2.0,
    status: int = 204,
    body: bytes | None = None,
    verified: bool = True,
) -> Arrival:
    data: dict[str, object] = {"id": task_id}
    if title is not None:
        data["title"] = title
    body = body if body is not None else json.dumps({"type": type, "data": data}).encode()
    return Arrival(t, client, webhook_id, type, task_id, title, body, verified, status)


def kinds(violations: Violations) -> list[str]:
    return sorted(item["kind"] for item in violations.items)


def created(client: str, seq: int, task_id: int) -> Entry:
    return entry(client, seq, "create", ACKNOWLEDGED, task_id=task_id, title=f"{client}-c{seq}")


def test_every_write_with_its_event_is_no_violation() -> None:
    ledgers = {
        A: [
            created(A, 0, 7),
            entry(A, 1, "update", ACKNOWLEDGED, task_id=7, title=f"{A}-c7-u1"),
            entry(A, 2, "delete", ACKNOWLEDGED, task_id=7),
        ]
    }
    arrivals = [
        arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", t=1.5),
        arrival(A, "msg_2", "task.updated", 7, title=f"{A}-c7-u1", t=1.7),
        arrival(A, "msg_3", "task.deleted", 7, t=1.2),
    ]
    violations = Violations()
    summary = check_webhooks(ledgers, arrivals, violations)
    assert violations.items == []
    assert summary["checked"] == 3
    assert summary["distinct"] == 3
    assert summary["max_delay_s"] == 0.7


def test_a_missing_event_is_a_violation() -> None:
    ledgers = {A: [created(A, 0, 7), entry(A, 1, "update", ACKNOWLEDGED, task_id=7, title=f"{A}-c7-u1")]}
    violations = Violations()
    check_webhooks(ledgers, [arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0")], violations)
    assert kinds(violations) == ["event_missing"]


def test_an_event_answered_500_and_never_again_is_missing() -> None:
    violations = Violations()
    check_webhooks(
        {A: [created(A, 0, 7)]},
        [arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", status=500)],
        violations,
    )
    assert kinds(violations) == ["event_missing"]


def test_a_duplicate_with_the_same_id_and_bytes_is_fine() -> None:
    first = arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", t=1.5, status=500)
    again = arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", t=6.5)
    twice = arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", t=7.0)
    violations = Violations()
    summary = check_webhooks({A: [created(A, 0, 7)]}, [first, again, twice], violations)
    assert violations.items == []
    assert (summary["received"], summary["distinct"], summary["duplicates"], summary["retried"]) == (
        3,
        1,
        1,
        1,
    )


def test_a_duplicate_id_with_different_bytes_is_a_violation() -> None:
    first = arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0")
    again = arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", body=b'{"type": "task.created"}')
    violations = Violations()
    check_webhooks({A: [created(A, 0, 7)]}, [first, again], violations)
    assert kinds(violations) == ["event_bytes_differ"]


def test_an_event_for_a_refused_write_is_a_violation() -> None:
    ledgers = {
        A: [
            entry(A, 0, "create", REFUSED, title=f"{A}-c0"),
            created(A, 1, 8),
            entry(A, 2, "update", REFUSED, task_id=8, title=f"{A}-c8-u1"),
        ]
    }
    arrivals = [
        arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0"),
        arrival(A, "msg_2", "task.created", 8, title=f"{A}-c1"),
        arrival(A, "msg_3", "task.updated", 8, title=f"{A}-c8-u1"),
    ]
    violations = Violations()
    check_webhooks(ledgers, arrivals, violations)
    assert kinds(violations) == ["event_for_refused_write", "event_for_refused_write"]


def test_a_delete_refused_then_acknowledged_has_one_event() -> None:
    ledgers = {
        A: [
            created(A, 0, 7),
            entry(A, 1, "delete", REFUSED, task_id=7),
            entry(A, 2, "delete", ACKNOWLEDGED, task_id=7),
        ]
    }
    arrivals = [
        arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0"),
        arrival(A, "msg_2", "task.deleted", 7),
        arrival(A, "msg_3", "task.deleted", 7),
    ]
    violations = Violations()
    check_webhooks(ledgers, arrivals, violations)
    assert kinds(violations) == ["event_extra"]


def test_unknown_writes_may_or_may_not_have_their_event() -> None:
    ledgers = {
        A: [
            entry(A, 0, "create", UNKNOWN, title=f"{A}-c0"),
            entry(A, 1, "create", UNKNOWN, title=f"{A}-c1"),
            created(A, 2, 9),
            entry(A, 3, "update", UNKNOWN, task_id=9, title=f"{A}-c9-u1"),
            entry(A, 4, "delete", UNKNOWN, task_id=9),
        ]
    }
    arrivals = [
        arrival(A, "msg_1", "task.created", 8, title=f"{A}-c1"),
        arrival(A, "msg_2", "task.created", 9, title=f"{A}-c2"),
        arrival(A, "msg_3", "task.deleted", 9),
    ]
    violations = Violations()
    summary = check_webhooks(ledgers, arrivals, violations)
    assert violations.items == []
    assert summary["unknown_writes_seen"] == 2


def test_an_unknown_create_whose_task_exists_must_have_its_event() -> None:
    ledgers = {A: [entry(A, 0, "create", UNKNOWN, title=f"{A}-c0")]}
    violations = Violations()
    check_webhooks(ledgers, [], violations, present_titles={f"{A}-c0"})
    assert kinds(violations) == ["event_missing"]


def test_a_create_event_naming_another_task_is_a_violation() -> None:
    violations = Violations()
    check_webhooks(
        {A: [created(A, 0, 7)]}, [arrival(A, "msg_1", "task.created", 6, title=f"{A}-c0")], violations
    )
    assert "event_wrong_task" in kinds(violations)


def test_another_clients_task_at_my_webhook_is_a_violation() -> None:
    ledgers = {A: [created(A, 0, 7), entry(A, 1, "delete", ACKNOWLEDGED, task_id=7)], B: []}
    arrivals = [
        arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0"),
        arrival(B, "msg_2", "task.created", 7, title=f"{A}-c0"),
        arrival(B, "msg_3", "task.deleted", 7),
    ]
    violations = Violations()
    check_webhooks(ledgers, arrivals, violations)
    # A's delete came to B alone: B heard of A's task, and A missed it.
    assert kinds(violations) == ["event_for_other_client", "event_for_other_client", "event_missing"]


def test_one_webhook_id_at_two_webhooks_is_a_violation() -> None:
    violations = Violations()
    check_webhooks(
        {A: [created(A, 0, 7)], B: []},
        [
            arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", t=1.0),
            arrival(B, "msg_1", "task.created", 7, title=f"{A}-c0"),
        ],
        violations,
    )
    assert kinds(violations) == ["event_to_two_webhooks"]


def test_a_bad_signature_is_a_violation() -> None:
    violations = Violations()
    check_webhooks(
        {A: [created(A, 0, 7)]},
        [arrival(A, "msg_1", "task.created", 7, title=f"{A}-c0", verified=False)],
        violations,
    )
    assert kinds(violations) == ["event_bad_signature"]


def test_the_receiver_checks_signatures_and_fails_first_attempts() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = WebhookReceiver(lambda: 1.0, fail_fraction=0.5)
    receiver.secrets[A] = secret
    body = json.dumps({"type": "task.created", "data": {"id": 7, "title": f"{A}-c0"}}).encode()
    ids = [f"msg_{n}" for n in range(20)]
    for webhook_id in ids:
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
            "webhook-signature": Webhook(secret).sign(webhook_id, datetime.now(UTC), body.decode()),
        }
        first = receiver.handle(f"/hook/{A}", headers, body)
        assert first == (500 if fails_first(webhook_id, 0.5) else 204)
        assert receiver.handle(f"/hook/{A}", headers, body) == 204
        assert receiver.handle(f"/hook/{B}", headers, body) == 401
        assert receiver.handle(f"/hook/{A}", headers, body + b" ") == 401
    assert 0 < len(receiver.failed) < len(ids)
    good = [a for a in receiver.arrivals if a.verified]
    assert {(a.type, a.data_id, a.title) for a in good} == {("task.created", 7, f"{A}-c0")}
    receiver.httpd.server_close()


def pushed(claims: dict[str, object], content_type: str = "application/secevent+jwt") -> SetArrival:
    return SetArrival(3.0, f"token-{claims.get('jti')}", content_type, 202, claims)


def revoked(jti: str, user: str, session: str | None) -> dict[str, object]:
    subject: dict[str, object] = {"format": "complex", "user": {"format": "opaque", "id": user}}
    if session is not None:
        subject["session"] = {"format": "opaque", "id": session}
    return {"jti": jti, "sub_id": subject, "events": {SESSION_REVOKED: {"event_timestamp": 1}}}


def test_every_acknowledged_logout_has_a_set_for_its_session() -> None:
    ledgers = {
        A: [
            entry(A, 0, "logout", ACKNOWLEDGED, session="s1"),
            entry(A, 1, "logout", ACKNOWLEDGED, session="s2"),
            entry(A, 2, "logout", REFUSED, session="s3"),
        ]
    }
    violations = Violations()
    summary = check_security_events(ledgers, {A: 5}, [pushed(revoked("j1", "5", "s1"))], violations)
    assert kinds(violations) == ["set_missing"]
    assert "s2" in violations.items[0]["detail"]
    assert summary["matched_on"] == {"session": 1}
    assert summary["logouts_checked"] == 2


def test_sets_without_sessions_are_matched_by_user() -> None:
    ledgers = {A: [entry(A, 0, "logout", ACKNOWLEDGED, session="s1"), entry(A, 1, "logout", ACKNOWLEDGED)]}
    sets = [
        pushed(revoked("j1", "5", None)),
        pushed(revoked("j1", "5", None)),
        pushed(revoked("j2", "5", None)),
    ]
    violations = Violations()
    summary = check_security_events(ledgers, {A: 5}, sets, violations, verify=lambda token: None)
    assert violations.items == []
    assert summary["matched_on"] == {"user": 2}
    assert summary["duplicates"] == 1


def test_a_set_that_does_not_verify_or_is_not_a_set_is_a_violation() -> None:
    sets = [
        pushed(revoked("j1", "5", "s1")),
        pushed(revoked("j2", "5", "s2"), content_type="application/json"),
    ]
    violations = Violations()
    check_security_events(
        {A: []}, {A: 5}, sets, violations, verify=lambda token: "bad" if "j1" in token else None
    )
    assert kinds(violations) == ["set_bad_signature", "set_wrong_content_type"]


def test_a_held_delivery_whose_sender_was_killed_is_not_accepted() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = WebhookReceiver(lambda: 1.0)
    receiver.secrets[A] = secret
    body = json.dumps({"type": "task.created", "data": {"id": 7, "title": f"{A}-c0"}}).encode()
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", now, body.decode()),
    }
    hold = receiver.hold()
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(receiver.handle(f"/hook/{A}", headers, body)))
    thread.start()
    assert hold.arrived.wait(timeout=5)
    hold.release(lost=True)
    thread.join(timeout=5)
    assert answers == [0]
    violations = Violations()
    check_webhooks({A: [created(A, 0, 7)]}, receiver.arrivals, violations)
    assert kinds(violations) == ["event_missing"]
    assert receiver.handle(f"/hook/{A}", headers, body) == 204  # the redelivery
    violations = Violations()
    check_webhooks({A: [created(A, 0, 7)]}, receiver.arrivals, violations)
    assert violations.items == []
    receiver.httpd.server_close()


def test_attempts_of_one_set_may_differ_in_iat_alone() -> None:
    first = revoked("j1", "5", "s1") | {"iat": 1}
    later = SetArrival(4.0, "token-j1-again", "application/secevent+jwt", 202, first | {"iat": 6})
    other = SetArrival(5.0, "token-j1-other", "application/secevent+jwt", 202, first | {"txn": "x"})
    ledgers = {A: [entry(A, 0, "logout", ACKNOWLEDGED, session="s1")]}
    violations = Violations()
    summary = check_security_events(ledgers, {A: 5}, [pushed(first), later], violations)
    assert violations.items == []
    assert summary["resigned"] == 1
    check_security_events(ledgers, {A: 5}, [pushed(first), other], violations)
    assert kinds(violations) == ["set_claims_differ"]
