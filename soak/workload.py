"""Clients, each its own user in a thread of its own, and the ledger they write.

Every request goes into the ledger with its outcome:

- acknowledged: a 2xx answer; the server did it.
- refused: a 4xx, or a 503 with a JSON body; the server says it did not do it.
- unknown: no answer (a dropped connection, a timeout), or an answer that says nothing
  reliable (a 500, a 503 that is not JSON): it may or may not have happened.

A client tracks what it believes its tasks are (only from acknowledged answers) and notes
whatever contradicts that belief as it goes (a 404 for a task it owns, a 401 for a token it
has no reason to think revoked, a logged-out token still accepted).
"""

import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import jwt

from soak.http import Http, NoAnswer, Reply

ACKNOWLEDGED, REFUSED, UNKNOWN = "acknowledged", "refused", "unknown"
WRITES = ("create", "update", "delete")
# The workload's mix, in relative weights.
MIX = {
    "create": 28,
    "update": 22,
    "list": 15,
    "get": 10,
    "delete": 10,
    "refresh": 7,
    "login": 4,
    "logout": 4,
}
DUE = "2030-01-01T00:00:00Z"


@dataclass
class Entry:
    seq: int  # the client's own order
    client: str
    op: str
    t0: float  # seconds since the run started
    t1: float
    status: int | None
    outcome: str
    task_id: int | None = None
    title: str | None = None
    completed: bool | None = None
    json_body: bool = False
    retry_after: str | None = None
    detail: str = ""
    session: str | None = None  # a logout's: the session its refresh token names (``sid``)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(reply: Reply | None) -> str:
    if reply is None:
        return UNKNOWN
    if reply.ok:
        return ACKNOWLEDGED
    if 400 <= reply.status < 500 or (reply.status == 503 and reply.is_json):
        return REFUSED
    return UNKNOWN


@dataclass
class Finding:
    """Something a client saw that must not happen."""

    kind: str
    t: float
    client: str
    detail: str


@dataclass
class Clock:
    start: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.start


class Client(threading.Thread):
    def __init__(
        self,
        name: str,
        port: int,
        clock: Clock,
        stop: threading.Event,
        *,
        password: str,
        seed: int,
        think: float = 0.01,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.user, self.password, self.clock, self.stop_event = name, password, clock, stop
        self.http = Http("127.0.0.1", port, timeout=15)
        self.random = random.Random(seed)  # noqa: S311  a workload, not a secret
        self.think = think
        self.ledger: list[Entry] = []
        self.findings: list[Finding] = []
        self.access: str | None = None
        self.refresh_token: str | None = None
        # Our session may have ended without our knowing it (an unknown refresh or logout):
        # a 401 is then no surprise.
        self.suspect = False
        self.tasks: dict[int, tuple[str, bool]] = {}  # what we believe: id -> (title, completed)
        self.created = 0
        self.edits = 0
        self.crashed: str | None = None

    # -- the ledger --------------------------------------------------------------------------

    def call(
        self,
        op: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        task_id: int | None = None,
        title: str | None = None,
        completed: bool | None = None,
    ) -> tuple[Entry, Reply | None]:
        t0 = self.clock.now()
        reply: Reply | None
        try:
            reply = self.http.request(method, path, body, token=token)
            detail = ""
        except NoAnswer as exc:
            reply, detail = None, str(exc)
        entry = Entry(
            seq=len(self.ledger),
            client=self.user,
            op=op,
            t0=t0,
            t1=self.clock.now(),
            status=reply.status if reply else None,
            outcome=classify(reply),
            task_id=task_id,
            title=title,
            completed=completed,
            json_body=bool(reply and reply.is_json),
            retry_after=reply.headers.get("retry-after") if reply else None,
            detail=detail or (_short(reply) if reply is not None and not reply.ok else ""),
        )
        self.ledger.append(entry)
        if entry.status == 503:
            time.sleep(0.2)  # a client would wait Retry-After; a short wait keeps the pressure on
        return entry, reply

    def note(self, kind: str, detail: str) -> None:
        self.findings.append(Finding(kind, self.clock.now(), self.user, detail))

    def authenticated(self, entry: Entry, token: str | None) -> None:
        """A 401 on a token we had no reason to doubt is a finding; either way, log in again."""
        if entry.status != 401:
            return
        if not self.suspect and token == self.access:
            self.note("unexpected_401", f"{entry.op} #{entry.seq}: {entry.detail}")
        self.access = None

    # -- set-up ------------------------------------------------------------------------------

    def sign_up(self) -> None:
        entry, _ = self.call("signup", "POST", "/users/", {"username": self.user, "password": self.password})
        if entry.outcome != ACKNOWLEDGED:
            raise RuntimeError(f"{self.user}: sign-up answered {entry.status} {entry.detail}")

    def log_in(self, deadline: float | None = None) -> bool:
        """Log in, trying again while the service is away (until ``deadline``)."""
        while True:
            entry, reply = self.call(
                "login", "POST", "/auth/token/", {"username": self.user, "password": self.password}
            )
            if entry.outcome == ACKNOWLEDGED and reply is not None:
                pair = reply.json()
                self.access, self.refresh_token, self.suspect = pair["access"], pair["refresh"], False
                return True
            if entry.status == 401:
                self.note("login_refused", f"#{entry.seq}: {entry.detail}")
            if (deadline is not None and self.clock.now() > deadline) or self.stop_event.is_set():
                return False
            time.sleep(0.3)

    # -- the workload ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                if self.access is None and not self.log_in():
                    break
                op = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
                if op in ("update", "delete", "get") and not self.tasks:
                    op = "create"
                getattr(self, f"do_{op}")()
                if self.think:
                    time.sleep(self.random.uniform(0, 2 * self.think))
        except Exception as exc:  # a bug of ours: say so rather than die silently
            self.crashed = f"{type(exc).__name__}: {exc}"
        finally:
            self.http.close()

    def do_create(self) -> None:
        self.created += 1
        title = f"{self.user}-c{self.created}"
        token = self.access
        entry, reply = self.call(
            "create",
            "POST",
            "/tasks/",
            {"title": title, "due_to": DUE, "completed": False},
            token=token,
            title=title,
            completed=False,
        )
        if entry.outcome == ACKNOWLEDGED and reply is not None:
            task = reply.json()
            entry.task_id = task["id"]
            if task.get("title") != title:
                self.note("bad_create_answer", f"#{entry.seq}: {task}")
            self.tasks[task["id"]] = (title, False)
        self.authenticated(entry, token)

    def do_update(self) -> None:
        task_id = self.random.choice(list(self.tasks))
        self.edits += 1
        title, completed = f"{self.user}-c{task_id}-u{self.edits}", self.random.random() < 0.5
        token = self.access
        entry, _ = self.call(
            "update",
            "PATCH",
            f"/tasks/{task_id}/",
            {"title": title, "completed": completed},
            token=token,
            task_id=task_id,
            title=title,
            completed=completed,
        )
        if entry.outcome == ACKNOWLEDGED:
            self.tasks[task_id] = (title, completed)
        elif entry.status == 404:
            self.note("unexpected_404", f"update #{entry.seq} of task {task_id}")
            self.tasks.pop(task_id)
        self.authenticated(entry, token)

    def do_delete(self) -> None:
        task_id = self.random.choice(list(self.tasks))
        token = self.access
        entry, _ = self.call("delete", "DELETE", f"/tasks/{task_id}/", token=token, task_id=task_id)
        if entry.outcome != REFUSED:  # done, or perhaps done: never touched again
            self.tasks.pop(task_id)
        elif entry.status == 404:
            self.note("unexpected_404", f"delete #{entry.seq} of task {task_id}")
            self.tasks.pop(task_id)
        self.authenticated(entry, token)

    def do_get(self) -> None:
        task_id = self.random.choice(list(self.tasks))
        token = self.access
        entry, reply = self.call("get", "GET", f"/tasks/{task_id}/", token=token, task_id=task_id)
        if entry.outcome == ACKNOWLEDGED and reply is not None:
            task = reply.json()
            if (task["title"], task["completed"]) != self.tasks[task_id]:
                # Not necessarily wrong: an earlier update with an unknown outcome may have
                # happened. The final check decides; here we only learn.
                self.tasks[task_id] = (task["title"], task["completed"])
        elif entry.status == 404:
            self.note("unexpected_404", f"get #{entry.seq} of task {task_id}")
            self.tasks.pop(task_id)
        self.authenticated(entry, token)

    def do_list(self) -> None:
        token = self.access
        entry, _ = self.call("list", "GET", "/tasks/?page_size=20&ordering=-id", token=token)
        self.authenticated(entry, token)

    def do_refresh(self) -> None:
        entry, reply = self.call("refresh", "POST", "/auth/token/refresh/", {"refresh": self.refresh_token})
        if entry.outcome == ACKNOWLEDGED and reply is not None:
            pair = reply.json()
            self.access, self.refresh_token = pair["access"], pair["refresh"]
        elif entry.outcome == UNKNOWN:
            self.suspect = True  # the token may be spent: using it again revokes the session
        elif entry.status == 401:
            if not self.suspect:
                self.note("unexpected_401", f"refresh #{entry.seq}: {entry.detail}")
            self.access = None

    def do_login(self) -> None:
        # A second session beside the current one: both stay valid.
        entry, reply = self.call(
            "login", "POST", "/auth/token/", {"username": self.user, "password": self.password}
        )
        if entry.outcome == ACKNOWLEDGED and reply is not None:
            pair = reply.json()
            self.access, self.refresh_token, self.suspect = pair["access"], pair["refresh"], False
        elif entry.status == 401:
            self.note("login_refused", f"#{entry.seq}: {entry.detail}")

    def do_logout(self) -> None:
        old = self.access
        entry, _ = self.call("logout", "POST", "/auth/logout/", {"refresh": self.refresh_token})
        entry.session = claim(self.refresh_token, "sid")
        if entry.outcome == ACKNOWLEDGED:
            self.check_revoked(old, f"logout #{entry.seq}")
            self.access = None
        elif entry.outcome == UNKNOWN or entry.status == 401:
            self.access = None  # perhaps logged out: start a new session

    def check_revoked(self, token: str | None, what: str, within: float = 1.0) -> None:
        """A token whose session ended must be refused within ``within`` seconds."""
        deadline = time.monotonic() + within
        last = None
        while True:
            entry, _ = self.call("revoked-check", "GET", "/tasks/?page_size=1", token=token)
            last = entry.status
            if entry.status == 401:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if last is not None and 200 <= last < 300:
            self.note("revoked_token_accepted", f"{what}: still {last} after {within} s")


def claim(token: str | None, name: str) -> Any:
    """A claim of a JWT of ours, read without checking the signature (the server checks it);
    None when the token is not a JWT or lacks the claim."""
    if not token:
        return None
    try:
        return jwt.decode(token, options={"verify_signature": False}).get(name)
    except jwt.PyJWTError:
        return None


def _short(reply: Reply) -> str:
    text = reply.body[:200].decode("utf-8", "replace")
    return f"{reply.headers.get('content-type', '?')}: {text}"
