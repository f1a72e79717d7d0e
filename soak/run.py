"""The soak: set up, load, faults in turn, verify, report. ``python -m soak --help``."""

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import jwt
import psycopg

from soak import services
from soak.events_ledger import check_security_events, check_webhooks
from soak.http import Http, NoAnswer, Reply
from soak.probe import Probe
from soak.receivers import SET_PATH, SetReceiver, WebhookReceiver
from soak.server import ROOT, Server, free_port, manage, server_env
from soak.taskworker import TaskWorker
from soak.verify import Violations, Window, check_answers, check_state, fetch_tasks
from soak.workload import WRITES, Client, Clock, Entry, claim

RESULTS = ROOT / "soak" / "results"
FAULTS = ("worker_kill", "postgres", "redis", "task_worker_kill")
GRACE = 3.0  # seconds after a measured recovery during which stragglers are still the fault's
RECOVERY_LIMIT = 60.0  # a fault not recovered from by then is a violation
DRAIN_LIMIT = 60.0  # seconds after the load for the outbox and the task queue to empty
TASK_EVENTS = ["task.created", "task.updated", "task.deleted"]
# Security Event Tokens are sent (by a task of tokens/) in this version of the service.
SECURITY_EVENTS = (ROOT / "tokens" / "tasks.py").exists()


@dataclass
class Fault:
    kind: str
    start: float
    back: float = 0.0  # the service is back (started again; the worker killed)
    recovered: float | None = None  # the probe's first of five healthy answers in a row
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered is None else round(max(0.0, self.recovered - self.back), 2)

    def window(self, end: float) -> Window:
        return Window(self.kind, self.start, (self.recovered + GRACE) if self.recovered is not None else end)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.clock = Clock()
        self.stop = threading.Event()
        self.violations = Violations()
        self.faults: list[Fault] = []
        self.revocation: list[dict[str, Any]] = []
        self.clients: list[Client] = []
        self.random = random.Random(args.seed)  # noqa: S311
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.out = Path(args.results) / f"soak-{self.run_id}"
        self.server: Server | None = None
        self.probe: Probe | None = None
        self.port = free_port()
        self.password = "soak-" + secrets.token_hex(12)
        self.hooks = WebhookReceiver(self.clock.now, fail_fraction=args.receiver_fail)
        self.sets = SetReceiver(self.clock.now, fail_fraction=args.receiver_fail)
        self.worker: TaskWorker | None = None
        self.user_ids: dict[str, int] = {}
        self.set_client_id: str | None = None
        self.drain: dict[str, Any] = {}

    def say(self, message: str) -> None:
        print(f"[{self.clock.now():7.1f}s] {message}", flush=True)

    # -- set-up ------------------------------------------------------------------------------

    def setup(self) -> None:
        args = self.args
        problems = services.ensure_up(args.database_url)
        if problems:
            raise RuntimeError("; ".join(problems))
        services.database_recreate(args.database_url)
        services.redis_flush(args.redis_url)
        self.state_dir = Path(tempfile.mkdtemp(prefix="soak-state-"))
        env = server_env(
            self.state_dir,
            DATABASE_URL=args.database_url,
            REDIS_URL=args.redis_url,
            LOGIN_RATE="100000/min",
            LOGIN_USERNAME_RATE="100000/min",
            SIGNUP_RATE="100000/hour",
            JWT_ACCESS_TTL="3600",  # the run outlives no token: a 401 is always news
            WEBHOOK_ALLOW_PRIVATE="true",  # the receivers are on 127.0.0.1
            EVENTS_TASK_STALE_SECONDS="10",  # a killed worker's task is taken up again after it
        )
        manage(env, "migrate", "--no-input", "-v0")
        self.out.mkdir(parents=True, exist_ok=True)
        self.hooks.start()
        self.sets.start()
        if args.security_events:
            answer = manage(
                env,
                "create_client",
                "soak-set-receiver",
                "--confidential",
                "--events-url",
                self.sets.url(SET_PATH),
            )
            self.set_client_id = json.loads(answer)["client_id"]
        self.server = Server(
            env, port=self.port, workers=args.workers, threads=args.threads, log_path=self.out / "server.log"
        )
        self.server.start()
        self.say(
            f"serving on port {self.port}: {args.workers} workers x {args.threads} threads, "
            f"pid {self.server.pid}, workers {self.server.worker_pids()}"
        )
        self.worker = TaskWorker(env, log_path=self.out / "task-worker.log", now=self.clock.now)
        self.worker.start()
        self.say(
            f"task worker pid {self.worker.pid}; webhooks to port {self.hooks.port}"
            + (f", security events to port {self.sets.port}" if args.security_events else "")
        )
        tag = secrets.token_hex(3)
        for n in range(args.clients):
            client = Client(
                f"soak{n}-{tag}", self.port, self.clock, self.stop, password=self.password, seed=args.seed + n
            )
            client.sign_up()
            client.log_in(deadline=60)
            self.webhook_create(client)
            self.clients.append(client)
        http = Http("127.0.0.1", self.port)
        for name in ("probe", "revoke-logout", "revoke-password"):
            reply = http.post("/users/", {"username": f"{name}-{tag}", "password": self.password})
            if reply.status != 201:
                raise RuntimeError(f"sign-up of {name} answered {reply.status}")
        http.close()
        self.tag = tag
        self.probe = Probe(self.port, self.clock, self.stop, username=f"probe-{tag}", password=self.password)

    def webhook_create(self, client: Client) -> None:
        """The client's webhook: the events of its own tasks, to a path of its own."""
        http = Http("127.0.0.1", self.port)
        reply = http.post(
            "/webhooks/", {"url": self.hooks.url_for(client.user), "events": TASK_EVENTS}, token=client.access
        )
        http.close()
        if reply.status != 201:
            raise RuntimeError(
                f"{client.user}: creating its webhook answered {reply.status} {reply.body[:200]!r}"
            )
        self.hooks.secrets[client.user] = reply.json()["secret"]
        self.user_ids[client.user] = int(claim(client.access, "sub"))

    # -- faults ------------------------------------------------------------------------------

    def fault(self, kind: str) -> Fault:
        assert self.server is not None  # noqa: S101
        assert self.probe is not None  # noqa: S101
        fault = Fault(kind, start=self.clock.now())
        if kind == "worker_kill":
            before = self.server.worker_pids()
            victim = self.random.choice(before)
            self.server.kill_worker(victim)
            fault.back = self.clock.now()
            server = self.server

            def replaced() -> bool:
                now = server.worker_pids()
                return len(now) >= len(before) and bool(set(now) - set(before))

            respawned = services.wait_for(replaced, timeout=RECOVERY_LIMIT)
            fault.details = {
                "killed": victim,
                "workers_before": before,
                "workers_after": self.server.worker_pids(),
            }
            fault.details["respawn_s"] = None if respawned is None else round(respawned, 2)
            if respawned is None:
                self.violations.add("worker_not_respawned", f"worker {victim} killed, none replaced it")
        elif kind == "task_worker_kill":
            worker = self.worker
            assert worker is not None  # noqa: S101
            # Killed while a delivery is in flight: the receiver holds the next one unanswered.
            hold = self.hooks.hold()
            in_flight = hold.arrived.wait(timeout=10)
            if not in_flight:
                self.hooks.unhold()
            killed = worker.kill()
            hold.release(lost=in_flight)
            restarted = services.wait_for(lambda: worker.running_other_than(killed), timeout=RECOVERY_LIMIT)
            fault.back = self.clock.now()
            fault.details = {
                "killed": killed,
                "replaced_by": worker.pid,
                "in_flight": hold.webhook_id or None,
            }
            fault.details["restart_s"] = None if restarted is None else round(restarted, 2)
            if killed is None or restarted is None:
                self.violations.add("task_worker_not_restarted", f"worker {killed} killed, none replaced it")
        elif kind == "postgres":
            services.postgres_stop()
            fault.details["stopped_after_s"] = round(self.clock.now() - fault.start, 2)
            time.sleep(self.args.down)
            services.postgres_start()
            up = services.wait_for(lambda: services.postgres_up(self.args.database_url), timeout=60)
            fault.back = self.clock.now()
            if up is None:
                self.violations.add("postgres_not_restarted", "PostgreSQL did not come back")
        elif kind == "redis":
            sessions = self.revocation_sessions()
            fault.start = self.clock.now()
            services.redis_stop()
            services.wait_for(lambda: not services.redis_up(), timeout=10)
            fault.details["stopped_after_s"] = round(self.clock.now() - fault.start, 2)
            checks_started = time.monotonic()
            self.revoke_while_redis_is_down(sessions)
            time.sleep(max(0.0, self.args.down - (time.monotonic() - checks_started)))
            services.redis_start()
            up = services.wait_for(services.redis_up, timeout=60)
            fault.back = self.clock.now()
            if up is None:
                self.violations.add("redis_not_restarted", "Redis did not come back")
            self.still_revoked(sessions, "just after Redis came back")
        fault.recovered = self.probe.healthy_since(fault.back, timeout=RECOVERY_LIMIT)
        if fault.recovered is None:
            self.violations.add("no_recovery", f"{kind}: not healthy {RECOVERY_LIMIT} s after it")
        self.say(
            f"fault {kind}: back at {fault.back:.1f}s, healthy again after {fault.recovery_s} s "
            f"{json.dumps({k: v for k, v in fault.details.items() if k.endswith('_s')})}"
        )
        return fault

    # -- revocation while Redis is down ------------------------------------------------------

    def revocation_sessions(self) -> dict[str, dict[str, str]]:
        """Two sessions, each used once so that Redis holds them as alive."""
        http = Http("127.0.0.1", self.port)
        sessions = {}
        for name in ("revoke-logout", "revoke-password"):
            for _ in range(50):
                with contextlib.suppress(NoAnswer):
                    reply = http.post(
                        "/auth/token/", {"username": f"{name}-{self.tag}", "password": self.password}
                    )
                    if reply.status == 200:
                        sessions[name] = reply.json()
                        break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"could not log {name} in before stopping Redis")
            warm = http.get("/tasks/", token=sessions[name]["access"])
            if warm.status != 200:
                raise RuntimeError(f"{name}: warming the cache answered {warm.status}")
        http.close()
        return sessions

    def _check(self, what: str, reply: Reply | None, expected: int) -> bool:
        status = reply.status if reply is not None else None
        ok = status == expected
        self.revocation.append({"t": round(self.clock.now(), 2), "check": what, "status": status, "ok": ok})
        if not ok:
            body = reply.body[:200].decode("utf-8", "replace") if reply is not None else "no answer"
            self.violations.add("revocation", f"{what}: {status} (expected {expected}) {body}")
        return ok

    def _refused(self, http: Http, token: str, within: float = 1.0) -> Reply | None:
        """GET /tasks/ with ``token`` until it is refused (a revocation may take a second to
        reach every worker), for at most ``within`` seconds; the last answer."""
        deadline = time.monotonic() + within
        while True:
            reply = self._call(http, "GET", "/tasks/", token=token)
            if (reply is not None and reply.status == 401) or time.monotonic() > deadline:
                return reply
            time.sleep(0.1)

    def _call(
        self, http: Http, method: str, path: str, body: Any = None, token: str | None = None
    ) -> Reply | None:
        try:
            return http.request(method, path, body, token=token)
        except NoAnswer:
            return None

    def revoke_while_redis_is_down(self, sessions: dict[str, dict[str, str]]) -> None:
        http = Http("127.0.0.1", self.port)
        logout, password = sessions["revoke-logout"], sessions["revoke-password"]
        self._check(
            "logout with Redis down",
            self._call(http, "POST", "/auth/logout/", {"refresh": logout["refresh"]}),
            204,
        )
        self._check(
            "logged-out token with Redis down",
            self._refused(http, logout["access"]),
            401,
        )
        new_password = self.password + "-2"
        self._check(
            "password change with Redis down",
            self._call(
                http,
                "POST",
                "/users/me/password/",
                {"old_password": self.password, "new_password": new_password},
                token=password["access"],
            ),
            204,
        )
        self._check(
            "token from before a password change, Redis down",
            self._refused(http, password["access"]),
            401,
        )
        relogin = self._call(
            http,
            "POST",
            "/auth/token/",
            {"username": f"revoke-password-{self.tag}", "password": new_password},
        )
        if self._check("log in with the new password, Redis down", relogin, 200) and relogin is not None:
            fresh = relogin.json()["access"]
            self._check("a new token with Redis down", self._call(http, "GET", "/tasks/", token=fresh), 200)
            # Put the password back for the next round.
            self._call(
                http,
                "POST",
                "/users/me/password/",
                {"old_password": new_password, "new_password": self.password},
                token=fresh,
            )
        signup = self._call(
            http, "POST", "/users/", {"username": f"late-{secrets.token_hex(4)}", "password": self.password}
        )
        self._check("sign-up with Redis down", signup, 201)
        http.close()

    def still_revoked(self, sessions: dict[str, dict[str, str]], when: str) -> None:
        http = Http("127.0.0.1", self.port)
        for name, what in (("revoke-logout", "logged-out"), ("revoke-password", "password-changed")):
            reply = self._call(http, "GET", "/tasks/", token=sessions[name]["access"])
            self._check(f"{what} token {when}", reply, 401)
            reply = self._call(http, "POST", "/auth/token/refresh/", {"refresh": sessions[name]["refresh"]})
            self._check(f"{what} refresh token {when}", reply, 401)
        http.close()

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        args = self.args
        assert self.server is not None  # noqa: S101
        assert self.probe is not None  # noqa: S101
        self.clock.start = time.monotonic()  # the duration counts from here, not from set-up
        self.probe.start()
        for client in self.clients:
            client.start()
        self.say(f"{len(self.clients)} clients started; faults: {', '.join(args.faults)}")
        time.sleep(args.warmup)
        # Faults in turn, a pause after each, for as long as the duration allows (once at least).
        expected = {
            "worker_kill": 3.0,
            "postgres": args.down + 5.0,
            "redis": args.down + 3.0,
            "task_worker_kill": 3.0,
        }
        n = 0
        while True:
            kind = args.faults[n % len(args.faults)]
            left = args.duration - args.pause - self.clock.now()
            if n >= len(args.faults) and left < expected[kind] + args.pause:
                break
            self.say(f"fault {kind} ...")
            self.faults.append(self.fault(kind))
            n += 1
            time.sleep(args.pause)
        if self.clock.now() < args.duration:
            time.sleep(args.duration - self.clock.now())
        self.stop.set()
        for thread in [*self.clients, self.probe]:
            thread.join(timeout=30)
        self.say("load stopped; waiting for the outbox to drain")
        self.drain = self.wait_drained()
        self.say(f"outbox: {self.drain}; verifying")
        return self.verify()

    def outbox(self) -> dict[str, int]:
        """What waits to go out: events not relayed, tasks ready (retries included) or running."""
        with psycopg.connect(self.args.database_url, connect_timeout=5) as conn:
            waiting = conn.execute("SELECT count(*) FROM events_event WHERE NOT relayed").fetchone()
            tasks: dict[str, int] = dict(
                conn.execute(
                    "SELECT status, count(*) FROM django_tasks_database_dbtaskresult "
                    "WHERE status IN ('READY', 'RUNNING') GROUP BY status"
                ).fetchall()
            )
        return {
            "events_waiting": int(waiting[0]) if waiting else 0,
            "tasks_ready": int(tasks.get("READY", 0)),
            "tasks_running": int(tasks.get("RUNNING", 0)),
        }

    def wait_drained(self) -> dict[str, Any]:
        start = time.monotonic()
        left: dict[str, Any] = {}
        while time.monotonic() - start < DRAIN_LIMIT:
            try:
                left = self.outbox()
            except psycopg.Error as exc:  # PostgreSQL just restarted: ask again
                left = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                if not any(left.values()):
                    return {"drained_s": round(time.monotonic() - start, 1), **left, **self.tasks_left()}
            time.sleep(0.5)
        left = {**left, **self.tasks_left()}
        self.violations.add("outbox_not_drained", f"{DRAIN_LIMIT:.0f} s after the load: {left}")
        return {"drained_s": None, **left}

    def tasks_left(self) -> dict[str, Any]:
        """The tasks left running (a worker killed or cut off under them), and those that
        failed, by exception: what did not go out, and why."""
        try:
            with psycopg.connect(self.args.database_url, connect_timeout=5) as conn:
                running = conn.execute(
                    "SELECT task_path, args_kwargs, worker_ids FROM django_tasks_database_dbtaskresult "
                    "WHERE status = 'RUNNING' ORDER BY started_at"
                ).fetchall()
                failed = conn.execute(
                    "SELECT task_path, exception_class_path, count(*) FROM django_tasks_database_dbtaskresult "
                    "WHERE status = 'FAILED' GROUP BY 1, 2 ORDER BY 3 DESC"
                ).fetchall()
        except psycopg.Error as exc:
            return {"tasks_left_error": f"{type(exc).__name__}: {exc}"}
        return {
            "running": [
                {"task": path, "kwargs": (args or {}).get("kwargs"), "workers": workers}
                for path, args, workers in running
            ],
            "failed": [{"task": path, "exception": exc, "count": count} for path, exc, count in failed],
        }

    def verify(self) -> int:
        assert self.server is not None  # noqa: S101
        assert self.probe is not None  # noqa: S101
        end = self.clock.now()
        if not self.server.alive():
            self.violations.add("server_died", f"the granian main process exited: {self.server.proc}")
        for client in self.clients:
            if client.is_alive():
                self.violations.add("client_stuck", f"{client.user} did not stop")
            if client.crashed:
                self.violations.add("client_crashed", f"{client.user}: {client.crashed}")
            for finding in client.findings:
                self.violations.add(
                    finding.kind, finding.detail, client=finding.client, t=round(finding.t, 2)
                )
        windows = [fault.window(end) for fault in self.faults]
        entries = [e for client in self.clients for e in client.ledger]
        during = check_answers(entries, windows, self.violations)
        for fault, window in zip(self.faults, windows, strict=True):
            seen = during.get(f"{window.kind}@{window.start:.1f}s", {})
            fault.details["answers"] = seen
            if fault.kind == "postgres" and not seen.get("503"):
                self.violations.add(
                    "postgres_outage_not_seen", f"no 503 at {window.start:.1f}s-{window.end:.1f}s"
                )
            if fault.kind == "redis" and not sum(v for k, v in seen.items() if k.startswith("2")):
                self.violations.add("redis_outage_stopped_service", f"no 2xx at {window.start:.1f}s")
        for sample in self.probe.samples:
            for status in (sample.ready, sample.api):
                if status is not None and status >= 500 and status != 503:
                    self.violations.add("server_error", f"probe at {sample.t:.2f}s: {status}")
        checked: Counter[str] = Counter()
        sql_titles: Counter[str] = Counter()
        for client in self.clients:
            final = fetch_tasks(self.port, client.user, client.password)
            checked.update(check_state(client.ledger, final, self.violations))
            sql_titles.update(task["title"] for task in final)
        checked.update(self.check_sql())
        events = self.check_events(set(sql_titles))
        return self.report(entries, dict(checked), events)

    def check_events(self, present_titles: set[str]) -> dict[str, Any]:
        ledgers = {client.user: client.ledger for client in self.clients}
        events: dict[str, Any] = {
            "outbox": self.drain,
            "task_worker": self.worker.summary() if self.worker else None,
            "webhooks": check_webhooks(
                ledgers, list(self.hooks.arrivals), self.violations, present_titles=present_titles
            ),
        }
        if self.args.security_events:
            events["security_events"] = check_security_events(
                ledgers, self.user_ids, list(self.sets.arrivals), self.violations, verify=self.set_verifier()
            )
        return events

    def set_verifier(self) -> Callable[[str], str | None]:
        """Checks a SET against the server's JWKS, for our confidential client."""
        http = Http("127.0.0.1", self.port)
        jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
        http.close()
        keys = {key.key_id: key for key in jwks.keys}

        def verify(token: str) -> str | None:
            try:
                header = jwt.get_unverified_header(token)
                key = keys.get(header.get("kid"))
                if key is None:
                    return f"kid {header.get('kid')!r} is not in the JWKS"
                if header.get("typ") != "secevent+jwt":
                    return f"typ {header.get('typ')!r}"
                jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm_name],
                    audience=self.set_client_id,
                    options={"require": ["iss", "iat", "jti", "aud"]},
                )
            except jwt.PyJWTError as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

        return verify

    def check_sql(self) -> dict[str, int]:
        """The database itself, past the API: no title twice, no task of a user we do not know."""
        with psycopg.connect(self.args.database_url, connect_timeout=5) as conn:
            dupes = conn.execute(
                "SELECT title, count(*) FROM tasks_task GROUP BY title HAVING count(*) > 1"
            ).fetchall()
            total = conn.execute("SELECT count(*) FROM tasks_task").fetchone()
        for title, count in dupes:
            self.violations.add("duplicate", f"SQL: {count} rows titled {title!r}")
        return {"tasks in the database": int(total[0]) if total else 0}

    def report(self, entries: list[Entry], checked: dict[str, int], events: dict[str, Any]) -> int:
        by_status = Counter(str(e.status) if e.status is not None else "no answer" for e in entries)
        by_op = Counter(e.op for e in entries)
        outcomes = Counter(e.outcome for e in entries)
        writes = Counter(f"{e.op} {e.outcome}" for e in entries if e.op in WRITES)
        summary = {
            "run": self.run_id,
            "ok": not self.violations.items,
            "config": {k: v for k, v in vars(self.args).items() if k != "results"},
            "duration_s": round(self.clock.now(), 1),
            "requests": len(entries),
            "requests_per_s": round(len(entries) / max(1.0, self.clock.now()), 1),
            "by_status": dict(sorted(by_status.items())),
            "by_op": dict(sorted(by_op.items())),
            "outcomes": dict(outcomes),
            "writes": dict(sorted(writes.items())),
            "acknowledged_writes_checked": sum(
                checked.get(f"acknowledged {kind}", 0) for kind in ("creates", "updates", "deletes")
            ),
            "checked": checked,
            "faults": [
                {
                    "kind": f.kind,
                    "at_s": round(f.start, 1),
                    "back_at_s": round(f.back, 1),
                    "recovery_s": f.recovery_s,
                    **f.details,
                }
                for f in self.faults
            ],
            "revocation_checks": self.revocation,
            "events": events,
            "violations": self.violations.counts(),
            "violation_examples": self.violations.items[:50],
            "server_log_500s": self._logged_500s(),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        with (self.out / "ledger.jsonl").open("w") as f:
            for e in entries:
                f.write(json.dumps(asdict(e)) + "\n")
        with (self.out / "probe.jsonl").open("w") as f:
            for s in self.probe.samples if self.probe else []:
                f.write(json.dumps(asdict(s)) + "\n")
        with (self.out / "webhooks.jsonl").open("w") as f:
            for arrival in self.hooks.arrivals:
                f.write(json.dumps(arrival.summary()) + "\n")
        with (self.out / "security-events.jsonl").open("w") as f:
            for pushed in self.sets.arrivals:
                f.write(json.dumps(pushed.summary()) + "\n")
        self.print_summary(summary)
        return 0 if summary["ok"] else 1

    def _logged_500s(self) -> int:
        """500s the server logged (Django logs each as "Internal Server Error: <path>")."""
        log = self.out / "server.log"
        if not log.exists():
            return 0
        return log.read_text(errors="replace").count("Internal Server Error")

    def print_summary(self, s: dict[str, Any]) -> None:
        print()
        print(f"soak {s['run']}: {'PASSED' if s['ok'] else 'FAILED'} in {s['duration_s']} s")
        print(f"  requests: {s['requests']} ({s['requests_per_s']}/s); by status: {s['by_status']}")
        print(f"  outcomes: {s['outcomes']}")
        print(f"  writes: {s['writes']}")
        print(f"  acknowledged writes checked: {s['acknowledged_writes_checked']}; {s['checked']}")
        for f in s["faults"]:
            extra = {k: v for k, v in f.items() if k.endswith("_s") and k not in ("at_s", "back_at_s")}
            print(f"  fault {f['kind']} at {f['at_s']}s: {extra}; answers meanwhile {f.get('answers')}")
        bad = [c for c in s["revocation_checks"] if not c["ok"]]
        print(f"  revocation checks with Redis down: {len(s['revocation_checks'])}, failed {len(bad)}")
        print(f"  server log: {s['server_log_500s']} 500s logged")
        events = s["events"]
        print(f"  events: outbox after the load {events['outbox']}")
        if events["task_worker"]:
            worker = {k: v for k, v in events["task_worker"].items() if k != "exits"}
            print(f"  events: task worker {worker}")
        print(f"  events: webhooks {events['webhooks']}")
        if "security_events" in events:
            print(f"  events: security events {events['security_events']}")
        print(f"  violations: {s['violations'] or 'none'}")
        for v in s["violation_examples"][:15]:
            print(f"    {v['kind']}: {v['detail']}")
        print(f"  results: {self.out}/summary.json")

    def teardown(self) -> bool:
        """Stop the server, start PostgreSQL and Redis again if they are not up, clean up.
        False if the services could not be brought back."""
        self.stop.set()
        if self.worker is not None:
            self.worker.stop()
        if self.server is not None:
            self.server.stop()
        for receiver in (self.hooks, self.sets):
            if receiver.thread.is_alive():
                receiver.stop()
        problems = services.ensure_up(self.args.database_url)
        for problem in problems:
            print(f"TEARDOWN: {problem}", file=sys.stderr)
        if not self.args.keep_db:
            with contextlib.suppress(Exception):
                services.database_drop(self.args.database_url)
        if getattr(self, "state_dir", None):
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return not problems


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients, a user each")
    parser.add_argument("--workers", type=int, default=3, help="granian worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--faults", type=lambda v: v.split(","), default=list(FAULTS), help="in turn")
    parser.add_argument("--pause", type=float, help="seconds between faults (default: from the duration)")
    parser.add_argument("--warmup", type=float, help="seconds of load before the first fault")
    parser.add_argument("--down", type=float, default=5, help="seconds PostgreSQL or Redis stays stopped")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "1")))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/soak_test"),
        help="a database of the soak's own: dropped and made anew",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="a Redis database of the soak's own: emptied first (not 15: the test suite's)",
    )
    parser.add_argument(
        "--security-events",
        action=argparse.BooleanOptionalAction,
        default=SECURITY_EVENTS,
        help="receive and check the Security Event Tokens of logouts (default: when tokens/tasks.py exists)",
    )
    parser.add_argument(
        "--receiver-fail",
        type=float,
        default=0.1,
        help="the fraction of events whose first delivery the receivers answer 500 (default 0.1)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.pause is None:
        args.pause = min(30.0, max(6.0, args.duration / 15))
    if args.warmup is None:
        args.warmup = min(20.0, max(5.0, args.duration / 15))
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through teardown: services started again


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    soak = Soak(args)
    code = 1
    try:
        soak.setup()
        code = soak.run()
    finally:
        if not soak.teardown():
            code = 1
    return code
