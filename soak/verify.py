"""What the ledger and the final state must agree on; every disagreement is a violation."""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from soak.http import Http, path_of
from soak.workload import ACKNOWLEDGED, REFUSED, UNKNOWN, Entry


@dataclass
class Window:
    kind: str  # worker_kill, postgres, redis
    start: float
    end: float  # recovered, plus a grace period

    def holds(self, t0: float, t1: float) -> bool:
        return t0 <= self.end and t1 >= self.start


@dataclass
class Violations:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, detail: str, **extra: Any) -> None:
        self.items.append({"kind": kind, "detail": detail, **extra})

    def counts(self) -> dict[str, int]:
        return dict(Counter(item["kind"] for item in self.items))


def check_answers(entries: Iterable[Entry], windows: list[Window], violations: Violations) -> dict[str, Any]:
    """No 500 anywhere; errors are JSON; 503s only while PostgreSQL is away, with Retry-After;
    no request left unanswered except when a worker was killed under it."""
    per_window: dict[int, Counter[str]] = defaultdict(Counter)
    for e in entries:
        inside = [n for n, w in enumerate(windows) if w.holds(e.t0, e.t1)]
        for n in inside:
            per_window[n][str(e.status) if e.status is not None else "no answer"] += 1
        kinds = {windows[n].kind for n in inside}
        where = f"{e.client} {e.op} #{e.seq} at {e.t0:.2f}s"
        if e.status is None:
            if "worker_kill" not in kinds:
                violations.add("unanswered", f"{where}: {e.detail}", windows=sorted(kinds))
            continue
        if 200 <= e.status < 300:
            continue
        if not e.json_body:
            violations.add("error_not_json", f"{where}: {e.status} {e.detail}")
        if e.status == 503:
            if not e.retry_after:
                violations.add("503_without_retry_after", f"{where}: {e.detail}")
            if "postgres" not in kinds:
                violations.add("503_without_database_outage", f"{where}: {e.detail}", windows=sorted(kinds))
        elif e.status >= 500:
            violations.add("server_error", f"{where}: {e.status} {e.detail}")
    return {f"{w.kind}@{w.start:.1f}s": dict(per_window[n]) for n, w in enumerate(windows)}


def fetch_tasks(port: int, username: str, password: str) -> list[dict[str, Any]]:
    http = Http("127.0.0.1", port, timeout=30)
    try:
        login = http.post("/auth/token/", {"username": username, "password": password})
        if login.status != 200:
            raise RuntimeError(f"{username}: final login answered {login.status} {login.body[:200]!r}")
        token = login.json()["access"]
        tasks: list[dict[str, Any]] = []
        path: str | None = "/tasks/?page_size=1000&ordering=id"
        while path:
            page = http.get(path, token=token)
            if page.status != 200:
                raise RuntimeError(f"{username}: listing answered {page.status} {page.body[:200]!r}")
            body = page.json()
            tasks.extend(body["results"])
            path = path_of(body["next"]) if body.get("next") else None
        return tasks
    finally:
        http.close()


def check_state(entries: list[Entry], final: list[dict[str, Any]], violations: Violations) -> dict[str, int]:
    """One client's ledger (in its order) against the tasks the API holds for it at the end."""
    checked: Counter[str] = Counter()
    by_title: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in final:
        by_title[task["title"]].append(task)
    by_id = {task["id"]: task for task in final}
    for title, same in by_title.items():
        if len(same) > 1:
            violations.add("duplicate", f"{len(same)} tasks titled {title!r}: ids {[t['id'] for t in same]}")
    explained: set[int] = set()
    history: dict[int, list[Entry]] = defaultdict(list)
    for e in entries:
        if e.op in ("update", "delete") and e.task_id is not None:
            history[e.task_id].append(e)

    for e in entries:
        if e.op != "create":
            continue
        found = by_title.get(e.title or "", [])
        if e.outcome == REFUSED:
            checked["refused creates absent"] += 1
            if found:
                violations.add(
                    "refused_create_present", f"{e.client} create #{e.seq} {e.title!r} ({e.status})"
                )
            continue
        if e.outcome == UNKNOWN:
            checked["unknown creates (either way)"] += 1
            explained.update(task["id"] for task in found)
            continue
        checked["acknowledged creates"] += 1
        task_id = e.task_id
        assert task_id is not None  # noqa: S101
        ops = history.get(task_id, [])
        # Every acknowledged update is checked: by the value below, or (superseded by a later
        # acknowledged update or delete) by that later operation's check.
        checked["acknowledged updates"] += sum(
            1 for op in ops if op.op == "update" and op.outcome == ACKNOWLEDGED
        )
        deletes = [op for op in ops if op.op == "delete"]
        current = by_id.get(task_id)
        if any(op.outcome == ACKNOWLEDGED for op in deletes):
            checked["acknowledged deletes"] += 1
            if current is not None:
                violations.add("deleted_task_present", f"{e.client} task {task_id}: {current['title']!r}")
            continue
        if current is None:
            if any(op.outcome == UNKNOWN for op in deletes):
                checked["unknown deletes (either way)"] += 1
            else:
                violations.add("acknowledged_task_missing", f"{e.client} task {task_id} ({e.title!r})")
            continue
        explained.add(task_id)
        # What the task may read now: the last acknowledged value, or the value of any
        # update after it whose outcome is unknown (or that timed out: it may land late).
        allowed = {(e.title, e.completed)}
        refused = set()
        for op in ops:
            if op.op != "update":
                continue
            value = (op.title, op.completed)
            if op.outcome == ACKNOWLEDGED:
                allowed = {value}
            elif op.outcome == UNKNOWN:
                allowed.add(value)
            else:
                refused.add(value)
        late = {(op.title, op.completed) for op in ops if op.op == "update" and "timed out" in op.detail}
        now = (current["title"], current["completed"])
        if now in refused:
            violations.add("refused_update_applied", f"{e.client} task {task_id} reads {now}")
        elif now not in allowed | late:
            violations.add(
                "update_lost", f"{e.client} task {task_id} reads {now}, expected one of {sorted(allowed)}"
            )
    for task in final:
        if task["id"] not in explained:
            violations.add("unexpected_task", f"task {task['id']} {task['title']!r} matches no create")
    return dict(checked)
