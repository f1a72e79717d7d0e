"""What the ledger and the events received must agree on; every disagreement is a violation.

Webhooks (one per client, receiving the events of its own tasks), for each task and each
type: the distinct webhook-ids accepted are at least the acknowledged writes of that type,
and the distinct webhook-ids that arrived at all at most the acknowledged plus the unknown
ones. Creates and updates are also matched one by one, by title (each write sets a title
of its own, which the event's data carries): an event for a refused write is a violation,
and a create's event must name the task the create answered. Every repetition of a
webhook-id carries the same bytes, every signature verifies, and no client's webhook hears
of another client's task.

Security Event Tokens: every acknowledged logout has at least one session-revoked SET
naming its session (or, when the SETs name no sessions, at least as many naming its user);
every SET verifies against the server's JWKS, and the attempts of one jti differ in their
``iat`` at most (each attempt is signed when it is made).

Pure functions over recorded data: tests/soak/test_events_ledger.py.
"""

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from soak.receivers import Arrival, SetArrival
from soak.verify import Violations
from soak.workload import ACKNOWLEDGED, REFUSED, UNKNOWN, Entry

TYPES = {"task.created": "create", "task.updated": "update", "task.deleted": "delete"}
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
SET_MEDIA_TYPE = "application/secevent+jwt"


@dataclass
class Received:
    """One webhook-id, with every attempt that arrived."""

    webhook_id: str
    attempts: list[Arrival] = field(default_factory=list)

    @property
    def first(self) -> Arrival:
        return self.attempts[0]

    @property
    def accepted(self) -> bool:
        return any(200 <= a.status < 300 for a in self.attempts)


def distinct(arrivals: Iterable[Arrival], violations: Violations) -> dict[str, Received]:
    """The arrivals by webhook-id, in order of arrival; a bad signature, or a webhook-id whose
    attempts differ in bytes or were sent to two webhooks, is a violation."""
    by_id: dict[str, Received] = {}
    for arrival in sorted(arrivals, key=lambda a: a.t):
        if not arrival.verified:
            violations.add(
                "event_bad_signature",
                f"{arrival.webhook_id or '(no webhook-id)'} at /hook/{arrival.client}: {arrival.error}",
            )
        if not arrival.webhook_id:
            continue
        by_id.setdefault(arrival.webhook_id, Received(arrival.webhook_id)).attempts.append(arrival)
    for received in by_id.values():
        first = received.first
        if any(a.body != first.body for a in received.attempts[1:]):
            violations.add(
                "event_bytes_differ",
                f"{received.webhook_id}: {len({a.body for a in received.attempts})} different bodies "
                f"in {len(received.attempts)} attempts",
            )
        clients = sorted({a.client for a in received.attempts})
        if len(clients) > 1:
            violations.add("event_to_two_webhooks", f"{received.webhook_id} reached {clients}")
    return by_id


def check_webhooks(
    ledgers: Mapping[str, list[Entry]],
    arrivals: Iterable[Arrival],
    violations: Violations,
    *,
    present_titles: set[str] | None = None,
) -> dict[str, Any]:
    """Every client's ledger (client name -> its entries) against the events its webhook
    received. ``present_titles``: the titles of the tasks that exist at the end (an unknown
    create whose task exists happened, and its event must have come). The summary's numbers."""
    arrivals = list(arrivals)
    events = distinct(arrivals, violations)
    owner: dict[int, str] = {}  # task id -> the client whose task it is
    by_title: dict[str, Entry] = {}  # the create or update that set each title
    for client, entries in ledgers.items():
        for e in entries:
            if e.op in ("create", "update", "delete") and e.task_id is not None:
                owner[e.task_id] = client
            if e.op in ("create", "update") and e.title:
                by_title[e.title] = e

    # Each event to the task and type it is about, once it makes sense.
    bucket: dict[tuple[int, str], list[Received]] = defaultdict(list)
    of_write: dict[tuple[str, int], Received] = {}  # (client, seq) -> its event, by title
    for received in events.values():
        first = received.first
        where = f"{received.webhook_id} {first.type} of task {first.data_id} at /hook/{first.client}"
        op = TYPES.get(first.type or "")
        if op is None or first.data_id is None:
            violations.add("event_unexpected", f"{where}: not a task event with an id")
            continue
        if op in ("create", "update"):
            entry = by_title.get(first.title or "")
            if entry is None or entry.op != op:
                violations.add("event_unexpected", f"{where}: no {op} set the title {first.title!r}")
                continue
            if entry.client != first.client:
                violations.add("event_for_other_client", f"{where}: {entry.client}'s {op} #{entry.seq}")
                continue
            if entry.outcome == REFUSED:
                violations.add(
                    "event_for_refused_write", f"{where}: {op} #{entry.seq} was refused ({entry.status})"
                )
                continue
            if entry.task_id is not None and entry.task_id != first.data_id:
                violations.add("event_wrong_task", f"{where}: {op} #{entry.seq} was of task {entry.task_id}")
                continue
            if (entry.client, entry.seq) in of_write:
                violations.add(
                    "event_extra",
                    f"{where}: {op} #{entry.seq} already had {of_write[entry.client, entry.seq].webhook_id}",
                )
                continue
            of_write[entry.client, entry.seq] = received
            owner.setdefault(first.data_id, entry.client)  # an unknown create's task
        elif owner.get(first.data_id) != first.client:
            whose = owner.get(first.data_id)
            kind = "event_unexpected" if whose is None else "event_for_other_client"
            violations.add(kind, f"{where}: the task is {whose or 'no client'}'s")
            continue
        bucket[first.data_id, op].append(received)

    # What each task's writes of each type allow: (acknowledged, unknown).
    expected: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    delays: list[float] = []
    checked = unknown_seen = 0
    for client, entries in ledgers.items():
        for e in entries:
            if e.op not in TYPES.values() or e.outcome == REFUSED:
                continue
            task_id = e.task_id
            if e.op == "create" and task_id is None:  # unknown: its task id, if it happened
                event = of_write.get((client, e.seq))
                if event is None:
                    if present_titles is not None and e.title in present_titles:
                        violations.add(
                            "event_missing",
                            f"{client} create #{e.seq} {e.title!r}: its task exists, no task.created came",
                        )
                    continue
                task_id = event.first.data_id
            assert task_id is not None  # noqa: S101  acknowledged creates, updates and deletes have one
            expected[task_id, e.op][0 if e.outcome == ACKNOWLEDGED else 1] += 1
            if e.outcome == UNKNOWN:
                continue
            checked += 1
            found = of_write.get((client, e.seq))
            if e.op == "delete":
                found = next(iter(bucket.get((task_id, "delete"), [])), None)
            if found is not None:
                delays.append(found.first.t - e.t1)
    for key in sorted(expected.keys() | bucket.keys()):
        task_id, op = key
        acknowledged, unknown = expected.get(key, (0, 0))
        events_of = bucket.get(key, [])
        accepted = [r for r in events_of if r.accepted]
        if len(accepted) < acknowledged:
            violations.add(
                "event_missing",
                f"task {task_id} ({owner.get(task_id)}): {len(accepted)} task.{op}d accepted, "
                f"{acknowledged} acknowledged {op}s",
            )
        if len(events_of) > acknowledged + unknown:
            violations.add(
                "event_extra",
                f"task {task_id} ({owner.get(task_id)}): {len(events_of)} task.{op}d, "
                f"{acknowledged} acknowledged and {unknown} unknown {op}s",
            )
        unknown_seen += max(0, min(unknown, len(events_of) - acknowledged))
    duplicates = sum(max(0, sum(1 for a in r.attempts if 200 <= a.status < 300) - 1) for r in events.values())
    return {
        "received": len(arrivals),
        "distinct": len(events),
        "duplicates": duplicates,
        "retried": sum(1 for r in events.values() if len(r.attempts) > 1),
        "failed_on_purpose": sum(1 for a in arrivals if a.status == 500),
        "never_accepted": sum(1 for r in events.values() if not r.accepted),
        "bad_signatures": sum(1 for a in arrivals if not a.verified),
        "checked": checked,
        "unknown_writes_seen": unknown_seen,
        "max_delay_s": round(max(delays), 3) if delays else None,
        "median_delay_s": round(statistics.median(delays), 3) if delays else None,
    }


def _session_revoked(claims: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """(user id, session id) a session-revoked SET names; None for another event."""
    events = claims.get("events")
    if not isinstance(events, dict) or SESSION_REVOKED not in events:
        return None
    subject = claims.get("sub_id")
    if not isinstance(subject, dict):
        return (None, None)
    user, session = subject.get("user"), subject.get("session")
    user_id = user.get("id") if isinstance(user, dict) else subject.get("id")
    session_id = session.get("id") if isinstance(session, dict) else None
    return (None if user_id is None else str(user_id), None if session_id is None else str(session_id))


def check_security_events(
    ledgers: Mapping[str, list[Entry]],
    user_ids: Mapping[str, int],
    sets: Iterable[SetArrival],
    violations: Violations,
    *,
    verify: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    """Every acknowledged logout of the clients (client name -> entries; their user ids)
    against the SETs received. ``verify(token)``: why a SET does not verify, or None."""
    sets = list(sets)
    by_jti: dict[str, list[SetArrival]] = defaultdict(list)
    sessions: set[str] = set()
    per_user: dict[str, set[str]] = defaultdict(set)  # user id -> jtis of session-revoked SETs
    unverified = resigned = 0
    for s in sets:
        if not s.content_type.startswith(SET_MEDIA_TYPE):
            violations.add("set_wrong_content_type", f"jti {s.jti}: {s.content_type!r}")
        if s.claims is None:
            violations.add("set_not_a_jwt", f"at {s.t:.2f}s: {s.token[:60]!r}")
            continue
        jti = str(s.jti)
        if jti not in by_jti and verify is not None:
            problem = verify(s.token)
            if problem is not None:
                unverified += 1
                violations.add("set_bad_signature", f"jti {jti}: {problem}")
        if by_jti[jti] and by_jti[jti][0].token != s.token:
            # Each attempt is signed when it is made (tokens.secevents): its iat may move on,
            # nothing else may.
            resigned += 1
            earlier = by_jti[jti][0].claims or {}
            differ = sorted(
                k
                for k in earlier.keys() | s.claims.keys()
                if k != "iat" and earlier.get(k) != s.claims.get(k)
            )
            if differ:
                violations.add("set_claims_differ", f"jti {jti}: attempts differ in {differ}")
        by_jti[jti].append(s)
        named = _session_revoked(s.claims)
        if named is None:
            continue
        user_id, session_id = named
        if session_id is not None:
            sessions.add(session_id)
        if user_id is not None:
            per_user[user_id].add(jti)
    name_sessions = bool(sessions)
    matched: dict[str, int] = defaultdict(int)
    logouts: dict[str, int] = defaultdict(int)  # user id -> acknowledged logouts without a session id
    checked = 0
    for client, entries in ledgers.items():
        for e in entries:
            if e.op != "logout" or e.outcome != ACKNOWLEDGED:
                continue
            checked += 1
            if e.session and name_sessions:
                if e.session in sessions:
                    matched["session"] += 1
                else:
                    violations.add(
                        "set_missing",
                        f"{client} logout #{e.seq} at {e.t1:.2f}s: no SET for session {e.session}",
                    )
            else:
                logouts[str(user_ids.get(client))] += 1
    for user_id, count in logouts.items():
        have = len(per_user.get(user_id, ()))
        if have < count:
            violations.add(
                "set_missing", f"user {user_id}: {count} acknowledged logouts, {have} session-revoked SETs"
            )
        matched["user"] += min(count, have)
    return {
        "received": len(sets),
        "distinct": len(by_jti),
        "duplicates": sum(len(v) - 1 for v in by_jti.values()),
        "resigned": resigned,  # attempts of one jti as another token (a later iat)
        "failed_on_purpose": sum(1 for s in sets if s.status == 500),
        "unverified": unverified if verify is not None else None,
        "logouts_checked": checked,
        "matched_on": dict(matched),
    }
