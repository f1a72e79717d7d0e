"""What make bench and make bench-scale share: the server, wrk, HTTP, machine facts, results."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LUA = BENCH_DIR / "auth.lua"
PYTHON = sys.executable
PASSWORD = "bench-password-1"
DUE = "2030-01-01T00:00:00Z"
TASK_TITLE = "bench task"  # tasks the bench creates through the API; seeded ones are "Task N"
TASK_BODY = json.dumps({"title": TASK_TITLE, "due_to": DUE})
LIFTED_RATE = "1000000/min"  # login throttling out of the way: we measure the login, not the 429

# Settings the service reads from the environment (README, "Configuration"): none of the
# caller's leak into a benchmark server, so every run measures the same configuration.
SETTINGS_VARS = {
    *("HOST", "PORT", "WEB_CONCURRENCY", "WEB_THREADS", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"),
    *("DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SIGNUP_OPEN", "REQUEST_MAX_BYTES"),
    *("LOGIN_RATE", "LOGIN_USERNAME_RATE", "SIGNUP_RATE", "SIGNUP_REQUIRE_ACTIVATION"),
    *("ACTIVATION_TTL", "EMAIL_URL", "DEFAULT_FROM_EMAIL", "TRUSTED_PROXY_COUNT", "LOG_LEVEL"),
    *("STATE_DIR", "ENV_FILE", "DJANGO_SETTINGS_MODULE"),
}
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY")


class BenchError(Exception):
    """Something broke: the run cannot give honest numbers."""


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def env_default(name: str, default: Any) -> Any:
    """An option's default from the environment (BENCH_ROUNDS...), typed like ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return type(default)(raw)


def parse_env_pairs(pairs: Iterable[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env wants NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def masked(env: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if any(w in k.upper() for w in SECRET_WORDS) else v) for k, v in sorted(env.items())}


def require_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        log("bench: wrk is missing. Install it (Debian/Ubuntu: `sudo apt-get install wrk`;")
        log("       macOS: `brew install wrk`) and run the benchmark again.")
        raise SystemExit(2)
    return path


def wrk_version() -> str:
    out = subprocess.run([require_wrk(), "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    return (out.stdout + out.stderr).splitlines()[0].strip() if (out.stdout + out.stderr) else "?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(state_dir: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any of the service's settings, plus the bench's."""
    env = {
        k: v for k, v in os.environ.items() if k not in SETTINGS_VARS and not k.startswith(("JWT_", "BENCH_"))
    }
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "STATE_DIR": str(state_dir),
            "ENV_FILE": str(state_dir / "no.env"),  # a .env beside manage.py is not read
            "SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_ACCESS_TTL": str(24 * 3600),  # one token lasts the whole run
            "LOGIN_RATE": LIFTED_RATE,
            "LOGIN_USERNAME_RATE": LIFTED_RATE,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


def manage(args: Sequence[str], env: dict[str, str], *, quiet: bool = True, timeout: float = 3600) -> None:
    """``python manage.py ...`` with the server's environment; raise BenchError on failure."""
    cmd = [PYTHON, "manage.py", *args]
    out = subprocess.run(  # noqa: S603  our own interpreter and manage.py
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"`manage.py {' '.join(args)}` failed ({out.returncode}):\n{out.stdout or ''}")


class Server:
    """``manage.py serve`` (granian, as shipped) in its own session, stopped by its id."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.env = env
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = logdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def prepare(self, after_migrate: Callable[[], Any] | None = None) -> None:
        """What `make run` does before serving: migrate and collect the static files (at once:
        they are independent), then ``after_migrate`` (seeding) beside the static files."""

        def migrate() -> None:
            manage(["migrate", "--no-input", "-v0"], self.env)
            if after_migrate is not None:
                after_migrate()

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            jobs = [
                pool.submit(migrate),
                pool.submit(manage, ["collectstatic", "--no-input", "-v0"], self.env),
            ]
            for job in jobs:
                job.result()

    def start(self, timeout: float = 90) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603  our own interpreter and manage.py
                [PYTHON, "manage.py", "serve"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None  # noqa: S101
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"the {self.name} server exited ({self.proc.returncode}); see {self.log_path}"
                )
            with contextlib.suppress(OSError):
                status, _, _ = request("GET", f"{self.base}/healthz", timeout=2)
                if status == 200 and len(self.worker_pids()) >= int(self.env["WEB_CONCURRENCY"]):
                    return
            time.sleep(0.2)
        raise BenchError(
            f"the {self.name} server did not answer /healthz in {timeout:.0f} s; see {self.log_path}"
        )

    def worker_pids(self) -> list[int]:
        """The granian workers: the children of the server process (manage.py serve execs granian)."""
        if self.proc is None:
            return []
        return children_of(self.proc.pid)

    def wait_idle(self, limit_s: float = 60) -> float:
        if not self.running():
            return 0.0
        """Wait until the workers stop using CPU: wrk leaves requests in flight when it stops
        (a login takes a hash per request), and their backlog must not eat the next window."""
        started = time.monotonic()
        ticks = _cpu_ticks(self.worker_pids())
        while time.monotonic() - started < limit_s:
            time.sleep(0.2)
            now = _cpu_ticks(self.worker_pids())
            # A busy worker burns ~20 ticks per 0.2 s; an idle one 0, or 1 for its runtime threads.
            if now - ticks <= 2:
                return time.monotonic() - started
            ticks = now
        raise BenchError(f"the {self.name} server stayed busy for {limit_s:.0f} s after a run")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        with contextlib.suppress(BenchError):
            self.wait_idle(30)  # granian lets requests in flight finish before it exits
        assert self.proc is not None  # noqa: S101
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def children_of(pid: int) -> list[int]:
    try:
        return sorted(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        pass
    found = []  # kernels without /proc/.../children: every process's parent, from its stat line
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def _cpu_ticks(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def rss_kib(pid: int) -> int:
    """VmRSS of a process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def request(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 60
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request to 127.0.0.1, redirects not followed; (status, headers, JSON or text)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise BenchError(f"refusing a request to {parts.hostname}: the bench only talks to 127.0.0.1")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw[:500].decode(errors="replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def expect(status: int, wanted: int, what: str, payload: Any) -> None:
    if status != wanted:
        raise BenchError(f"{what}: expected {wanted}, got {status}: {str(payload)[:300]}")


def login(base: str, username: str) -> str:
    status, _, body = request("POST", f"{base}/auth/token/", {"username": username, "password": PASSWORD})
    expect(status, 200, f"login as {username}", body)
    return str(body["access"])


_BENCH_LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)
_STATUS_LINE = re.compile(r"^STATUSES ?(.*)$", re.MULTILINE)


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    token: str | None = None,
    method: str = "GET",
    body: str | None = None,
    mix: Path | None = None,
    timeout_s: int = 30,
    statuses: bool = False,
) -> dict[str, Any]:
    """One wrk run (one thread, ``connections`` connections); its numbers, or BenchError."""
    if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
        raise BenchError(f"refusing to load {url}: the bench only targets 127.0.0.1")
    env = {k: v for k, v in os.environ.items() if k not in ("TOKEN", "BODY", "METHOD", "MIX", "STATUSES")}
    env["METHOD"] = method
    if statuses:
        env["STATUSES"] = "1"
    if token:
        env["TOKEN"] = token
    if body is not None:
        env["BODY"] = body
    if mix is not None:
        env["MIX"] = str(mix)
    cmd = [
        require_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA),
        url,
    ]
    out = subprocess.run(  # noqa: S603  wrk, arguments built here
        cmd, env=env, capture_output=True, text=True, timeout=seconds + timeout_s + 60, check=False
    )
    m = _BENCH_LINE.search(out.stdout)
    if out.returncode != 0 or not m:
        raise BenchError(f"wrk failed ({out.returncode}) on {url}:\n{out.stdout}\n{out.stderr}")
    v = {k: float(x) for k, x in (pair.split("=") for pair in m.group(1).split())}
    if not v["requests"]:
        raise BenchError(
            f"wrk completed no request in {seconds} s on {url}: a stuck server, or too short a run"
        )
    duration = v["duration_us"] / 1e6
    codes = _STATUS_LINE.search(out.stdout)
    extra = {}
    if codes:
        extra["statuses"] = {k: int(n) for k, n in (pair.split("=") for pair in codes.group(1).split())}
    return extra | {
        "requests": int(v["requests"]),
        "seconds": round(duration, 3),
        "rps": round(v["requests"] / duration, 2) if duration else 0.0,
        "p50_ms": round(v["p50_us"] / 1000, 3),
        "p90_ms": round(v["p90_us"] / 1000, 3),
        "p99_ms": round(v["p99_us"] / 1000, 3),
        "max_ms": round(v["max_us"] / 1000, 3),
        "non2xx": int(v["status"]),
        "socket_errors": int(v["connect"] + v["read"] + v["write"] + v["timeout"]),
    }


def clean(run: dict[str, Any]) -> bool:
    return not run["non2xx"] and not run["socket_errors"]


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds without errors (a round with errors measured something else:
    fast error answers), the spread of requests/s, and the error totals over all rounds."""
    ok = [r for r in rounds if clean(r)] or rounds
    rps = [r["rps"] for r in ok]
    return {
        "rounds": len(ok),
        "excluded_rounds": len(rounds) - len(ok) if len(ok) < len(rounds) else 0,
        "rps": round(statistics.median(rps), 2),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in ok), 3),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in ok), 3),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "requests": sum(r["requests"] for r in rounds),
        "non2xx": sum(r["non2xx"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] for r in rounds),
    }


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def errors_in(rounds: Iterable[dict[str, Any]]) -> int:
    return sum(r["non2xx"] + r["socket_errors"] for r in rounds)


def inproc(args: Sequence[str], env: dict[str, str], timeout: float = 600) -> Any:
    """Run ``python -m bench.inproc ...`` (Django in-process, the server's settings); its JSON."""
    full_env = dict(env, DJANGO_SETTINGS_MODULE="config.settings")
    out = subprocess.run(  # noqa: S603  our own interpreter and module
        [PYTHON, "-m", "bench.inproc", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"bench.inproc {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _mem_total_mib() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _commit() -> str | None:
    """The checked-out commit, read from .git (git itself is not run)."""
    with contextlib.suppress(OSError):
        head = (ROOT / ".git" / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = ROOT / ".git" / ref
        if path.exists():
            return path.read_text().strip()
        for line in (ROOT / ".git" / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    return None


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine() -> dict[str, Any]:
    versions = {}
    for dist in ("Django", "djangorestframework", "granian", "PyJWT", "argon2-cffi", "psycopg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": cores(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "mem_total_mib": _mem_total_mib(),
        "loadavg_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version(),
        "versions": versions,
        "commit": _commit(),
    }


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def fmt_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
