"""make bench: the service as shipped (manage.py serve, SQLite), driven by wrk.

On a temporary STATE_DIR (SQLite, the shipped default) it migrates, seeds user1 with --tasks
tasks and user2 with none (through `manage.py seed`), serves with WEB_CONCURRENCY=2 on a free
port, and logs both in. Then:

  endpoints  detail GET /tasks/{id}/, list GET /tasks/?page_size=100, create POST /tasks/
             (as user2, so user1's table size stays put), login POST /auth/token/ (login
             throttling lifted); wrk -t1 -c8, --rounds rounds of --seconds, the endpoints
             interleaved within each round; medians of requests/s, p50 and p99.
  queries    each endpoint requested in-process (Django's test Client, CaptureQueriesContext,
             same settings and database), cold (first request of a fresh process) and warm.
  sizes      the list again with user1 holding each of --sizes tasks (seeded up between steps).

Writes bench/results/<name>.json and <name>.png. Exits non-zero if anything broke (the server
did not start, a request failed, wrk saw a non-2xx answer or a socket error).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench.common import (
    PASSWORD,
    RESULTS_DIR,
    TASK_BODY,
    BenchError,
    Server,
    env_default,
    errors_in,
    expect,
    fmt_table,
    free_port,
    inproc,
    log,
    login,
    machine,
    manage,
    masked,
    parse_env_pairs,
    ratio,
    request,
    require_wrk,
    server_env,
    summarize,
    write_json,
    wrk,
)

SMOKE = {"rounds": 1, "seconds": 2, "warmup": 0, "tasks": 200, "sizes": "200,2000", "name": "smoke"}
SHOWN_ENV = {"HOST", "WEB_CONCURRENCY", "JWT_ACCESS_TTL", "LOGIN_RATE", "LOGIN_USERNAME_RATE", "DATABASE_URL"}
DEFAULTS = {
    "rounds": 3,
    "seconds": 5,
    "warmup": 1,
    "tasks": 1000,
    "sizes": "1000,10000,100000",
    "name": "bench",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, help="interleaved rounds (env BENCH_ROUNDS; default 3)")
    ap.add_argument("--seconds", type=int, help="wrk duration per run (env BENCH_SECONDS; default 5)")
    ap.add_argument("--warmup", type=int, help="unrecorded wrk seconds per endpoint first (default 1)")
    ap.add_argument("--connections", type=int, default=env_default("BENCH_CONNECTIONS", 8))
    ap.add_argument("--tasks", type=int, help="user1's tasks for the endpoint runs (env BENCH_TASKS; 1000)")
    ap.add_argument(
        "--sizes", help="user1's table sizes for the list sweep (env BENCH_SIZES; 1000,10000,100000)"
    )
    ap.add_argument("--only", default="", help="comma list of endpoints: detail,list,create,login")
    ap.add_argument("--name", help="results name: bench/results/<name>.json and .png (default bench)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting")
    ap.add_argument(
        "--smoke", action="store_true", help="tiny sizes and durations: does it all work? (<60 s)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary STATE_DIR (database, logs)")
    ap.add_argument("--no-chart", action="store_true")
    a = ap.parse_args(argv)
    preset = SMOKE if a.smoke else DEFAULTS
    env_names = {
        "rounds": "BENCH_ROUNDS",
        "seconds": "BENCH_SECONDS",
        "tasks": "BENCH_TASKS",
        "sizes": "BENCH_SIZES",
    }
    for key, default in preset.items():
        if getattr(a, key) is None:
            setattr(a, key, default if a.smoke else env_default(env_names.get(key, "-"), default))
    a.size_list = sorted({int(s) for s in str(a.sizes).split(",") if s.strip()})
    if a.rounds < 1 or a.seconds < 1 or a.tasks < 1:
        ap.error("--rounds, --seconds and --tasks must be at least 1")
    return a


def endpoints(base: str, token: str, writer: str, only: str) -> dict[str, dict[str, Any]]:
    status, _, page = request("GET", f"{base}/tasks/?page_size=100", token=token)
    expect(status, 200, "GET /tasks/", page)
    if not page["results"]:
        raise BenchError("user1 has no tasks")
    detail = urllib.parse.urlsplit(page["results"][0]["url"]).path
    login_body = json.dumps({"username": "user1", "password": PASSWORD})
    table = {
        "detail": {"method": "GET", "path": detail, "token": token, "body": None, "status": 200},
        "list": {
            "method": "GET",
            "path": "/tasks/?page_size=100",
            "token": token,
            "body": None,
            "status": 200,
        },
        "create": {"method": "POST", "path": "/tasks/", "token": writer, "body": TASK_BODY, "status": 201},
        "login": {"method": "POST", "path": "/auth/token/", "token": None, "body": login_body, "status": 200},
    }
    wanted = [e for e in only.split(",") if e] or list(table)
    unknown = set(wanted) - set(table)
    if unknown:
        raise SystemExit(f"--only: unknown endpoints {sorted(unknown)}")
    return {name: table[name] for name in table if name in wanted}


def preflight(base: str, eps: dict[str, dict[str, Any]]) -> None:
    """One request per endpoint: the exact status (a 3xx would fool wrk, which counts only 4xx/5xx)."""
    for name, e in eps.items():
        body = json.loads(e["body"]) if e["body"] else None
        status, _, payload = request(e["method"], base + e["path"], body, token=e["token"])
        expect(status, e["status"], f"{name}: {e['method']} {e['path']}", payload)


def run_wrk(server: Server, e: dict[str, Any], seconds: int, connections: int) -> dict[str, Any]:
    server.wait_idle()
    base = server.base
    return wrk(
        base + e["path"],
        seconds=seconds,
        connections=connections,
        token=e["token"],
        method=e["method"],
        body=e["body"],
    )


def show(label: str, r: dict[str, Any]) -> None:
    bad = (
        f"  non-2xx {r['non2xx']} socket errors {r['socket_errors']}"
        if r["non2xx"] or r["socket_errors"]
        else ""
    )
    log(f"  {label:<28} {r['rps']:>9.1f} req/s  p50 {r['p50_ms']:>8.2f} ms  p99 {r['p99_ms']:>8.2f} ms{bad}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    require_wrk()
    started = time.monotonic()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # On the project's disk, like var/ (a tmpfs /tmp would flatter SQLite's writes).
    tmp = Path(tempfile.mkdtemp(prefix=".state-", dir=RESULTS_DIR))
    extra = parse_env_pairs(a.env)
    env = server_env(tmp, free_port(), extra)
    server = Server("project", env, tmp)
    out: dict[str, Any] = {
        "kind": "bench",
        "name": a.name,
        "machine": machine(),
        "args": {k: v for k, v in vars(a).items() if k not in ("env", "size_list")} | {"sizes": a.size_list},
        "server": {
            "command": "manage.py serve (granian), after migrate and collectstatic, as `make run`",
            "database": "SQLite under a temporary STATE_DIR (the shipped default)",
            "env": masked({k: v for k, v in env.items() if k in extra or k in SHOWN_ENV}),
        },
        "load": f"wrk -t1 -c{a.connections} --timeout 30s, bench/auth.lua (Bearer header, JSON body)",
    }
    failed = False
    try:
        log(f"bench: preparing the server in {tmp} (migrate, collectstatic, seed)")

        def seed() -> None:
            manage(["seed", "--users", "2", "--tasks", "0", "--password", PASSWORD, "-v0"], env)
            manage(["seed", "--users", "1", "--tasks", str(a.tasks), "--password", PASSWORD, "-v0"], env)

        server.prepare(after_migrate=seed)
        server.start()
        base = server.base
        log(f"bench: serving on {base} with workers {server.worker_pids()}")
        token, writer = login(base, "user1"), login(base, "user2")
        eps = endpoints(base, token, writer, a.only)
        preflight(base, eps)

        log("bench: queries per request (in-process, cold and warm)")

        def count_queries(e: dict[str, Any]) -> Any:
            args = ["queries", "--method", e["method"], "--path", e["path"]]
            if e["body"]:
                args += ["--body", e["body"]]
            return inproc(args, dict(env, BENCH_TOKEN=e["token"] or ""))

        # One fresh process per endpoint (so each has a cold first request), all at once.
        with concurrent.futures.ThreadPoolExecutor(len(eps)) as pool:
            jobs = {name: pool.submit(count_queries, e) for name, e in eps.items()}
            queries = {name: job.result() for name, job in jobs.items()}
        for name, q in queries.items():
            if any(s != eps[name]["status"] for s in q["statuses"]):
                raise BenchError(
                    f"{name} in-process answered {q['statuses']}, expected {eps[name]['status']}"
                )
            log(f"  {name:<8} cold {q['cold']:>3}  warm {q['warm']:>3}")

        if a.warmup:
            log(f"bench: warm-up, {a.warmup} s per endpoint (not recorded)")
            for e in eps.values():
                run_wrk(server, e, a.warmup, a.connections)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in eps}
        for r in range(a.rounds):
            log(f"bench: round {r + 1}/{a.rounds}")
            for name, e in eps.items():
                res = run_wrk(server, e, a.seconds, a.connections)
                runs[name].append(res)
                show(name, res)
        out["endpoints"] = {
            name: {
                "method": e["method"],
                "path": e["path"],
                "as": "anonymous" if e["token"] is None else ("user2" if name == "create" else "user1"),
                "median": summarize(runs[name]),
                "runs": runs[name],
                "queries": queries[name],
            }
            for name, e in eps.items()
        }
        out["endpoints_table_tasks"] = a.tasks

        sweep = []
        if "list" in eps:
            have = a.tasks
            for size in a.size_list:
                if size < have:
                    log(f"bench: skipping size {size}: user1 already holds {have} tasks")
                    continue
                if size > have:
                    log(f"bench: seeding user1 up to {size} tasks")
                    manage(
                        ["seed", "--users", "1", "--tasks", str(size - have), "--password", PASSWORD, "-v0"],
                        env,
                    )
                    have = size
                if a.warmup:
                    run_wrk(server, eps["list"], a.warmup, a.connections)
                size_runs = []
                for _ in range(a.rounds):
                    res = run_wrk(server, eps["list"], a.seconds, a.connections)
                    size_runs.append(res)
                    show(f"list, {size} tasks", res)
                sweep.append({"tasks": size, "median": summarize(size_runs), "runs": size_runs})
            if sweep:
                first = sweep[0]["median"]
                for step in sweep:
                    m = step["median"]
                    step["vs_smallest"] = {
                        "p50": ratio(m["p50_ms"], first["p50_ms"]),
                        "p99": ratio(m["p99_ms"], first["p99_ms"]),
                        "rps": ratio(m["rps"], first["rps"]),
                    }
        out["list_vs_size"] = sweep
        out["list_vs_size_note"] = "sequential (the table only grows), each size its own rounds"
        out["machine"]["loadavg_at_end"] = list(os.getloadavg())
        out["elapsed_s"] = round(time.monotonic() - started, 1)

        bad = errors_in(r for rs in runs.values() for r in rs) + errors_in(
            r for step in sweep for r in step["runs"]
        )
        if bad:
            out["problems"] = [f"{bad} non-2xx answers or socket errors under load; see the runs and {tmp}"]
            failed = True
            a.keep = True
        path = write_json(a.name, out)
        report(out)
        log(f"bench: wrote {path}")
        if not a.no_chart:
            from bench.chart import bench_chart

            log(f"bench: wrote {bench_chart(out, RESULTS_DIR / f'{a.name}.png')}")
    except BenchError as exc:
        log(f"bench: FAILED: {exc}")
        log(f"bench: the server's log and database are kept in {tmp}")
        a.keep = True
        failed = True
    finally:
        server.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        for problem in out.get("problems", []):
            log(f"bench: problem: {problem}")
        log("bench: FAILED (see above)")
        return 1
    log(f"bench: done in {time.monotonic() - started:.0f} s")
    return 0


def report(out: dict[str, Any]) -> None:
    rows = []
    for name, e in out["endpoints"].items():
        m, q = e["median"], e["queries"]
        rows.append(
            [
                f"{name} ({e['method']} {e['path'].split('?')[0]})",
                f"{m['rps']:.1f}",
                f"{m['rps_min']:.0f}-{m['rps_max']:.0f}",
                f"{m['p50_ms']:.2f}",
                f"{m['p99_ms']:.2f}",
                m["non2xx"] + m["socket_errors"],
                f"{q['warm']} ({q['cold']})",
            ]
        )
    print()
    print(
        f"make bench: {out['args']['rounds']} rounds x {out['args']['seconds']} s, wrk -c{out['args']['connections']}, "
        f"{out['machine']['cores']} cores, user1 holds {out['endpoints_table_tasks']} tasks; medians"
    )
    print(
        fmt_table(
            ["endpoint", "req/s", "range", "p50 ms", "p99 ms", "non-2xx", "queries warm (cold)"],
            rows,
        )
    )
    if out["list_vs_size"]:
        print()
        print("list (GET /tasks/?page_size=100) against user1's table size; x = vs the smallest")
        print(
            fmt_table(
                ["tasks", "req/s", "p50 ms", "p99 ms", "p50 x", "p99 x", "req/s x"],
                [
                    [
                        f"{s['tasks']:,}",
                        f"{s['median']['rps']:.1f}",
                        f"{s['median']['p50_ms']:.2f}",
                        f"{s['median']['p99_ms']:.2f}",
                        _x(s["vs_smallest"]["p50"]),
                        _x(s["vs_smallest"]["p99"]),
                        _x(s["vs_smallest"]["rps"]),
                    ]
                    for s in out["list_vs_size"]
                ],
            )
        )
    print()


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
