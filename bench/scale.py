"""make bench-scale: the service on PostgreSQL with 1,000,000 tasks over 10,000 users.

Databases (dropped and re-created for a clean run; --reuse keeps them, less the tasks earlier
runs created, when their row counts match): the big one at --database-url (env BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/bench_scale) and a small one beside it, "<name>_small".
Only a database on this machine whose name starts with "bench" is ever dropped.

  big    `seed --users 10000 --tasks 900000 --team-size 50`, then `seed --users 1 --tasks
         100000 --team-size 50`: 1,000,000 tasks over 10,000 users in 200 teams of 50
         (user1..user50, ...), each team a shared project owned by its first member, with
         45 editors and 5 viewers (every 10th member); every other task of an owner or editor
         in the team's project, the rest in their personal one. user1 holds 100,090 tasks and
         sees 102,070 (1,021 pages of 100) in two projects: its personal one (50,045) and its
         team's (52,025, of 46 people); every other user holds 90 and an editor sees 2,070.
         An even spread would leave user1 one page: no depth. --team-size 0: personal
         projects only (user1 sees its 100,090).
  small  `seed --users 2 --tasks 0 --team-size 2`, then `seed --users 1 --tasks 10000
         --team-size 2`: 10,000 tasks, all user1's, half in its personal project and half
         in the project it shares with user2: the shape of user1's list in the big database
         (two projects), at 1% of its size, so the comparison is of table size alone.
         With --team-size 0: `seed --users 1 --tasks 10000` (one project, as the big one).
Both are VACUUM ANALYZEd after seeding, as autovacuum would soon do on its own.

Served by `manage.py serve` (granian, WEB_CONCURRENCY=2), one server per database, then:

  (a) list  GET /tasks/?page_size=100 as user1: first page and deepest full page of the big
            database (found by walking `next` links), first page of the small database, and
            (for information) a typical user's first page; interleaved rounds, wrk -c8.
            Targets: deepest p50 <= 1.2x first p50; big first p50 <= 1.2x small first p50
            (the median of the per-round ratios: adjacent windows share the machine's noise).
  (b) RSS   a fresh server, --rss-warmup requests of a mix (detail 80%, list 10%, create
            10%), then --rss-requests more in chunks, reading VmRSS of each granian worker
            (the server's children) after each. Target: growth from warm under 10%.
  (c) login each round times the hasher in-process (check_password, median of
            --hash-samples, servers idle; the bound is cores / that time), then loads POST
            /auth/token/ with wrk, login throttling lifted. Target: the median of the
            per-round ratios achieved / bound >= 90%.

Prints a table and PASS/FAIL per target, writes bench/results/<name>.json and .png. Exits 0
whatever the numbers; non-zero only if something broke (no PostgreSQL, a server that does not
start, errors under load). With --smoke and no PostgreSQL it says SKIPPED and exits 0
(1 under CI=true).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import shutil
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench.common import (
    PASSWORD,
    RESULTS_DIR,
    TASK_BODY,
    TASK_TITLE,
    BenchError,
    Server,
    clean,
    cores,
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
    rss_kib,
    server_env,
    summarize,
    write_json,
    wrk,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_scale"
FULL = {
    "users": 10_000,
    "tasks": 1_000_000,
    "heavy": 100_000,
    "team_size": 50,
    "small_tasks": 10_000,
    "rounds": 7,
    "seconds": 5,
    "warmup": 1,
    "login_seconds": 10,
    "rss_requests": 100_000,
    "rss_warmup": 2_000,
    "rss_chunks": 10,
    "hash_samples": 5,
    "name": "scale",
}
SMOKE = {
    "users": 20,
    "tasks": 5_000,
    "heavy": 1_000,
    "team_size": 5,
    "small_tasks": 500,
    "rounds": 1,
    "seconds": 1,
    "warmup": 0,
    "login_seconds": 2,
    "rss_requests": 1_000,
    "rss_warmup": 200,
    "rss_chunks": 2,
    "hash_samples": 2,
    "name": "scale-smoke",
}
ENV_NAMES = {"rounds": "BENCH_ROUNDS", "seconds": "BENCH_SECONDS"}
RSS_LIMIT_S = 3600  # the memory phase gives up after an hour, whatever the rate
TARGET_DEEP, TARGET_SIZE, TARGET_RSS, TARGET_LOGIN = 1.2, 1.2, 10.0, 0.9


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--database-url", help=f"the big database (env BENCH_DATABASE_URL; {DEFAULT_URL})")
    for key, default in FULL.items():
        if key != "name":
            ap.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"default {default}")
    ap.add_argument("--name", help="results name (default scale)")
    ap.add_argument("--connections", type=int, default=env_default("BENCH_CONNECTIONS", 8))
    ap.add_argument("--redis-url", default="", help="serve with this REDIS_URL (default: none, as shipped)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting")
    ap.add_argument("--reuse", action="store_true", help="keep the databases if their row counts match")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and durations (its own databases)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary STATE_DIR (logs)")
    ap.add_argument("--no-chart", action="store_true")
    a = ap.parse_args(argv)
    preset = SMOKE if a.smoke else FULL
    for key, default in preset.items():
        if getattr(a, key) is None:
            setattr(a, key, default if a.smoke else env_default(ENV_NAMES.get(key, "-"), default))
    if a.database_url is None:
        url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
        a.database_url = url + "_smoke" if a.smoke and not os.environ.get("BENCH_DATABASE_URL") else url
    if not 0 < a.heavy < a.tasks or a.users < 2 or a.small_tasks < 1 or a.team_size < 0:
        ap.error("need 0 < --heavy < --tasks, --users >= 2, --small-tasks >= 1 and --team-size >= 0")
    return a


# --- PostgreSQL ---------------------------------------------------------------------------


def pg_parts(url: str) -> tuple[urllib.parse.SplitResult, str]:
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench-scale: {url} is not a PostgreSQL URL")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench-scale: refusing {parts.hostname}: the benchmark only uses this machine")
    if not name.startswith("bench"):
        raise SystemExit(
            f"bench-scale: refusing database {name!r}: it is dropped, so its name must start with 'bench'"
        )
    return parts, name


def pg_admin(url: str) -> Any:
    import psycopg

    parts, _ = pg_parts(url)
    return psycopg.connect(
        urllib.parse.urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=5
    )


def pg_recreate(url: str, name: str) -> None:
    from psycopg import sql

    with pg_admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def pg_exists(url: str, name: str) -> bool:
    with pg_admin(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def pg_started(url: str) -> str | None:
    """When the PostgreSQL server last started: a change mid-run means it was restarted under us."""
    try:
        with pg_admin(url) as conn:
            return str(conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0])
    except Exception:
        return None


def with_name(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


# --- helpers ------------------------------------------------------------------------------


def set_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def walk(base: str, token: str, expected: int) -> dict[str, Any]:
    """user1's list to the end by `next` links: the deepest full page of 100, ids and cursors."""
    limit_pages = math.ceil(expected / 1000) + 20
    deadline = time.monotonic() + 1800
    url: str | None = f"{base}/tasks/?page_size=1000"
    starts: list[tuple[str, int]] = []  # (URL of a page of 1000, rows before it)
    ids: list[int] = []
    seen = 0
    while url and len(starts) < limit_pages and time.monotonic() < deadline:
        status, _, page = request("GET", url, token=token, timeout=120)
        expect(status, 200, f"walking {url}", page)
        starts.append((url, seen))
        if len(ids) < 1000:
            ids += [int(t["id"]) for t in page["results"]][: 1000 - len(ids)]
        seen += len(page["results"])
        url = page["next"]
    if url:
        raise BenchError(f"walking user1's list did not end within {limit_pages} pages or 30 minutes")
    # From the start of the second-to-last page of 1000, in pages of 100: the last full one.
    url, before = starts[-2] if len(starts) > 1 else starts[0]
    url = set_query(url, page_size="100")
    deep: tuple[str, int] | None = None
    steps = 0
    while url and steps < 40:
        status, _, page = request("GET", url, token=token, timeout=120)
        expect(status, 200, f"walking {url}", page)
        if len(page["results"]) == 100:
            deep = (url, before)
        before += len(page["results"])
        url, steps = page["next"], steps + 1
    if deep is None:
        raise BenchError("user1 has no full page of 100 tasks")
    return {
        "rows": seen,
        "pages_of_1000": len(starts),
        "deep_url": deep[0],
        "deep_rows_before": deep[1],
        "ids": ids,
        "cursor_urls": [set_query(u, page_size="100") for u, _ in starts[1:6]],
    }


def paired(rounds_a: list[dict[str, Any]], rounds_b: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Per-round ratios a/b (rounds where either side saw errors left out) and their median."""
    pairs = list(zip(rounds_a, rounds_b, strict=True))
    ok = [(ra, rb) for ra, rb in pairs if clean(ra) and clean(rb)] or pairs
    ratios = [ra[key] / rb[key] for ra, rb in ok if rb[key]]
    return {
        "per_round": [round(r, 3) for r in ratios],
        "excluded_rounds": len(pairs) - len(ok),
        "median": round(statistics.median(ratios), 3),
    }


def both(first: Any, second: Any) -> tuple[Any, Any]:
    """Two independent set-up steps (subprocesses) at once; their results."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        return a.result(), b.result()


def idle(*servers: Server) -> None:
    for server in servers:
        server.wait_idle()


def drive(
    base: str,
    mix: Path,
    token: str,
    target: int,
    chunk: int,
    connections: int,
    on_chunk: Any,
    deadline: float,
) -> list[dict[str, Any]]:
    """wrk over the mix until ``target`` requests are served, in chunks of about ``chunk``."""
    served, rate, runs = 0, None, []
    while served < target:
        if time.monotonic() > deadline:
            raise BenchError(f"the memory phase ran out of time after {served} requests")
        want = min(chunk, target - served)
        seconds = 1 if rate is None else max(1, math.ceil(want / rate))
        res = wrk(f"{base}/", seconds=seconds, connections=connections, token=token, mix=mix, statuses=True)
        if res["requests"] == 0:
            raise BenchError("wrk served no requests in the memory phase")
        served += res["requests"]
        rate = res["rps"]
        runs.append(res)
        on_chunk(res)
    return runs


# --- the run ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    require_wrk()
    big_url = a.database_url
    _, big_name = pg_parts(big_url)
    small_name = f"{big_name}_small"
    small_url = with_name(big_url, small_name)
    try:
        pg_admin(big_url).close()
    except Exception as exc:
        msg = f"PostgreSQL is not reachable at {big_url}: {exc}".strip()
        if a.smoke and os.environ.get("CI") != "true":
            log(f"bench-scale: SKIPPED: {msg}")
            return 0
        log(f"bench-scale: FAILED: {msg}")
        log("  start it (DEVELOPERS.md, 'Services for the full test suite') or set BENCH_DATABASE_URL")
        return 1

    started = time.monotonic()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".state-scale-", dir=RESULTS_DIR))
    extra = parse_env_pairs(a.env)
    if a.redis_url:
        extra["REDIS_URL"] = a.redis_url
    big_env = server_env(tmp / "big", free_port(), {**extra, "DATABASE_URL": big_url})
    small_env = server_env(tmp / "small", free_port(), {**extra, "DATABASE_URL": small_url})
    for env in (big_env, small_env):
        Path(env["STATE_DIR"]).mkdir(mode=0o700)
    big, small = Server("big", big_env, tmp), Server("small", small_env, tmp)
    heavy_total = a.heavy + (a.tasks - a.heavy) // a.users + (1 if (a.tasks - a.heavy) % a.users else 0)
    # Teams of two or more members get a project (a last team of one does not).
    teams = a.users // a.team_size + (a.users % a.team_size > 1) if a.team_size > 1 else 0
    # The typical user: one of the last team, as user1's (an editor with the defaults).
    light_user = f"user{a.users - 1}"
    counted = ["--visible-to", "user1", "--visible-to", light_user]
    out: dict[str, Any] = {
        "kind": "scale",
        "name": a.name,
        "machine": machine(),
        "args": {k: v for k, v in vars(a).items() if k != "env"},
        "server": {
            "command": "manage.py serve (granian), after migrate and collectstatic, as `make run`",
            "env": masked({k: v for k, v in big_env.items() if k in extra or k in SHOWN_ENV}),
        },
        "load": f"wrk -t1 -c{a.connections} --timeout 30s, bench/auth.lua",
        "problems": [],
    }
    broke = False
    try:
        # -- data ---------------------------------------------------------------------------
        want_big = {"tasks": a.tasks, "users": a.users, "team_projects": teams}
        small_users = 2 if a.team_size > 1 else 1
        want_small = {"tasks": a.small_tasks, "users": small_users, "user1_tasks": a.small_tasks}
        reused = False
        if a.reuse and pg_exists(big_url, big_name) and pg_exists(big_url, small_name):
            both(big.prepare, small.prepare)
            cleanup = ["counts", "--delete-title", TASK_TITLE, *counted]  # what earlier runs created
            cb, cs = both(lambda: inproc(cleanup, big_env), lambda: inproc(cleanup, small_env))
            reused = all(cb[k] == v for k, v in want_big.items()) and all(
                cs[k] == v for k, v in want_small.items()
            )
            log(
                f"bench-scale: --reuse: {'row counts match, keeping' if reused else 'row counts differ, re-seeding'}"
            )
        t0 = time.monotonic()
        if not reused:
            for name in (big_name, small_name):
                log(f"bench-scale: (re)creating database {name}")
                pg_recreate(big_url, name)
            seed = ["seed", "--password", PASSWORD]
            if a.smoke:
                seed.append("-v0")
            log(
                f"bench-scale: migrating and seeding {big_name}: {a.tasks - a.heavy:,} tasks over "
                f"{a.users:,} users in teams of up to {a.team_size}, then user1 {a.heavy:,} more; "
                f"{small_name}: user1 {a.small_tasks:,} tasks"
            )

            def seed_big() -> None:
                # The teams first: user1's own seeding then splits its tasks with its team's project.
                teamed = [*seed, "--team-size", str(a.team_size)]
                manage(
                    [*teamed, "--users", str(a.users), "--tasks", str(a.tasks - a.heavy)],
                    big_env,
                    quiet=a.smoke,
                )
                manage([*teamed, "--users", "1", "--tasks", str(a.heavy)], big_env, quiet=a.smoke)

            def seed_small() -> None:
                teamed = [*seed, "--team-size", str(small_users), "-v0"]
                if small_users > 1:  # user2 first: user1's tasks then go half into their team's project
                    manage([*teamed, "--users", "2", "--tasks", "0"], small_env)
                manage([*teamed, "--users", "1", "--tasks", str(a.small_tasks)], small_env)

            both(lambda: big.prepare(after_migrate=seed_big), lambda: small.prepare(after_migrate=seed_small))
        seeding_s = time.monotonic() - t0
        log("bench-scale: VACUUM ANALYZE and row counts")
        cb, cs = both(
            lambda: inproc(["counts", "--vacuum-analyze", *counted], big_env, timeout=3600),
            lambda: inproc(["counts", "--vacuum-analyze", *counted], small_env, timeout=600),
        )
        for want, got, name in ((want_big, cb, big_name), (want_small, cs, small_name)):
            for k, v in want.items():
                if got[k] != v:
                    raise BenchError(f"{name}: {k} is {got[k]}, expected {v}")
        out["machine"]["database"] = cb["version"]
        kept = ("tasks", "users", "user1_tasks", "projects", "team_projects", "memberships", "visible")
        out["data"] = {
            "big": {"database": big_name, "team_size": a.team_size, **{k: cb[k] for k in kept}},
            "small": {"database": small_name, **{k: cs[k] for k in kept}},
            "seeded": not reused,
            "migrate_and_seed_s": round(seeding_s, 1),
            "after_seeding": "VACUUM (ANALYZE) on both databases",
            "user1_tasks_expected": heavy_total,
        }
        user1 = cb["visible"]["user1"]
        log(
            f"bench-scale: {big_name}: {cb['tasks']:,} tasks, {cb['users']:,} users, {cb['team_projects']:,} "
            f"team projects; user1 holds {cb['user1_tasks']:,} and sees {user1['tasks']:,} in "
            f"{user1['projects']} projects"
        )

        pg_start = pg_started(big_url)

        def pg_check(phase: str) -> None:
            nonlocal pg_start
            now = pg_started(big_url)
            if now != pg_start:
                out["problems"].append(
                    f"PostgreSQL was restarted or went away during {phase} (started at {pg_start}, then at "
                    f"{now}): the errors of that phase are the database's outage, not the service's"
                )
                pg_start = now

        # -- servers, hasher, tokens, the walk ---------------------------------------------
        big.launch()
        small.launch()
        both(big.wait_ready, small.wait_ready)
        token = login(big.base, "user1")
        light_token = login(big.base, light_user)
        small_token = login(small.base, "user1")
        log("bench-scale: walking user1's list by `next` links to the deepest page")
        t0 = time.monotonic()
        w = walk(big.base, token, user1["tasks"])
        if w["rows"] != user1["tasks"]:
            raise BenchError(f"the walk saw {w['rows']} tasks, user1 sees {user1['tasks']}")
        log(
            f"  {w['rows']:,} rows in {w['pages_of_1000']} pages of 1000 ({time.monotonic() - t0:.0f} s); "
            f"deepest full page of 100 starts after {w['deep_rows_before']:,} rows"
        )

        # -- (a) the list ------------------------------------------------------------------
        first = "/tasks/?page_size=100"
        cases = {
            "first": {"label": f"first page\n{cb['tasks']:,} table", "url": big.base + first, "token": token},
            "deep": {
                "label": f"deepest page\n(+{w['deep_rows_before']:,} rows)",
                "url": w["deep_url"],
                "token": token,
            },
            "small": {
                "label": f"first page\n{cs['tasks']:,} table",
                "url": small.base + first,
                "token": small_token,
            },
            "light": {
                "label": f"typical user\n(sees {cb['visible'][light_user]['tasks']:,} tasks)",
                "url": big.base + first,
                "token": light_token,
            },
        }
        for name, c in cases.items():
            status, _, page = request("GET", c["url"], token=c["token"])
            expect(status, 200, f"list {name}", page)
            if name != "light" and len(page["results"]) != 100:
                raise BenchError(f"list {name} has {len(page['results'])} rows, not 100")
        if a.warmup:
            for c in cases.values():
                idle(big, small)
                wrk(c["url"], seconds=a.warmup, connections=a.connections, token=c["token"])
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in cases}
        for r in range(a.rounds):
            log(f"bench-scale: list round {r + 1}/{a.rounds}")
            for name, c in cases.items():
                idle(big, small)
                res = wrk(c["url"], seconds=a.seconds, connections=a.connections, token=c["token"])
                runs[name].append(res)
                log(
                    f"  {name:<6} {res['rps']:>8.1f} req/s  p50 {res['p50_ms']:>8.2f} ms  p99 {res['p99_ms']:>8.2f} ms"
                )
        pg_check("the list runs")
        small.stop()
        lst = {
            "cases": {
                n: {
                    "label": c["label"].replace("\n", " "),
                    "url": c["url"].replace(big.base, "").replace(small.base, ""),
                    "median": summarize(runs[n]),
                    "runs": runs[n],
                }
                for n, c in cases.items()
            },
            "deep_rows_before": w["deep_rows_before"],
            "walk": {k: w[k] for k in ("rows", "pages_of_1000")},
            "small_is": f"a separate database ({small_name}) of {cs['tasks']:,} tasks, all user1's, in "
            f"{cs['visible']['user1']['projects']} projects",
        }
        lst["deep_vs_first"] = {
            k: paired(runs["deep"], runs["first"], k) for k in ("p50_ms", "p99_ms", "rps")
        }
        lst["first_vs_small"] = {
            k: paired(runs["first"], runs["small"], k) for k in ("p50_ms", "p99_ms", "rps")
        }
        out["list"] = lst

        # -- (c) login ---------------------------------------------------------------------
        # Each round times the hasher in-process (servers idle), then loads the login: the
        # machine's drift hits both sides of each round's ratio alike.
        login_body = f'{{"username": "user1", "password": "{PASSWORD}"}}'
        log(f"bench-scale: login, {a.rounds} rounds of (the hasher in-process, then wrk {a.login_seconds} s)")
        n_cores = cores()
        login_runs, hashers = [], []
        for _ in range(a.rounds):
            idle(big)
            h = inproc(
                [
                    "hasher",
                    "--samples",
                    str(a.hash_samples),
                    "--parallel",
                    str(n_cores),
                    "--parallel-seconds",
                    "3",
                ],
                big_env,
            )
            hashers.append(h)
            idle(big)
            res = wrk(
                f"{big.base}/auth/token/",
                seconds=a.login_seconds,
                connections=a.connections,
                method="POST",
                body=login_body,
            )
            res["hash_s"] = h["check_password_s"]
            res["bound_rps"] = round(n_cores / h["check_password_s"], 3)
            res["vs_bound"] = round(res["rps"] / res["bound_rps"], 3)
            res["parallel_hasher_rps"] = h["parallel_checks_per_s"]
            login_runs.append(res)
            log(
                f"  hash {h['check_password_s'] * 1000:6.1f} ms (bound {res['bound_rps']:5.2f}/s; {n_cores} processes "
                f"hashing: {h['parallel_checks_per_s']:5.2f}/s)  login {res['rps']:5.2f} req/s "
                f"p50 {res['p50_ms']:7.1f} ms: {res['vs_bound']:.0%} of the bound"
            )
        pg_check("the login runs")
        hash_s = statistics.median(r["hash_s"] for r in login_runs)
        lm = summarize(login_runs)
        parallel_rps = statistics.median(r["parallel_hasher_rps"] for r in login_runs)
        out["login"] = {
            "hasher": hashers[0] | {"check_password_s_per_round": [r["hash_s"] for r in login_runs]},
            "cores": n_cores,
            "hash_s": round(hash_s, 5),
            "hash_is": "median wall time of check_password (what a login pays), single process, servers idle",
            "bound_rps": round(n_cores / hash_s, 3),
            "median": lm,
            "runs": login_runs,
            "achieved_vs_bound": statistics.median(r["vs_bound"] for r in login_runs),
            "achieved_vs_bound_is": "median of the per-round ratios (each round: its own hasher timing)",
            "parallel_hasher_rps": round(parallel_rps, 3),
            "achieved_vs_parallel_hasher": ratio(lm["rps"], parallel_rps),
        }

        # -- (b) memory ----------------------------------------------------------------------
        log("bench-scale: memory: restarting the big server fresh")
        big.stop()
        big.start()
        workers = big.worker_pids()
        mix = tmp / "mix.txt"
        lines = []
        ids = w["ids"] or [0]
        cursors = [
            first,
            *[urllib.parse.urlsplit(u)._replace(scheme="", netloc="").geturl() for u in w["cursor_urls"]],
        ]
        for i in range(1000):
            if i % 10 == 8:
                lines.append(f"GET {cursors[(i // 10) % len(cursors)]}")
            elif i % 10 == 9:
                lines.append(f"POST /tasks/ {TASK_BODY}")
            else:
                lines.append(f"GET /tasks/{ids[i % len(ids)]}/")
        mix.write_text("\n".join(lines) + "\n")
        status, _, body = request("GET", f"{big.base}/tasks/{ids[0]}/", token=token)
        expect(status, 200, "detail", body)
        samples = [{"requests": 0, "rss_kib": [rss_kib(p) for p in workers]}]
        served = [0]

        def sample(res: dict[str, Any]) -> None:
            served[0] += res["requests"]
            now = big.worker_pids()
            if now != workers:
                raise BenchError(
                    f"the workers changed from {workers} to {now} (a respawn?): see {big.log_path}"
                )
            samples.append({"requests": served[0], "rss_kib": [rss_kib(p) for p in workers]})
            log(f"  {served[0]:>8,} requests  RSS MiB {[round(k / 1024, 1) for k in samples[-1]['rss_kib']]}")

        deadline = time.monotonic() + RSS_LIMIT_S
        log(f"bench-scale: memory: warm-up, {a.rss_warmup:,} requests of the mix")
        warm_runs = drive(big.base, mix, token, a.rss_warmup, a.rss_warmup, a.connections, sample, deadline)
        warm_index = len(samples) - 1
        log(f"bench-scale: memory: {a.rss_requests:,} requests in {a.rss_chunks} chunks")
        chunk = math.ceil(a.rss_requests / a.rss_chunks)
        rss_runs = drive(big.base, mix, token, a.rss_requests, chunk, a.connections, sample, deadline)
        pg_check("the memory phase")
        warm = samples[warm_index]["rss_kib"]
        final = samples[-1]["rss_kib"]
        growth = [round(100 * (f - s) / s, 2) for f, s in zip(final, warm, strict=True)]
        out["rss"] = {
            "workers": workers,
            "mix": "per 10 requests: 8 detail (1,000 of user1's tasks in turn), 1 list (first page or "
            "one of 5 cursors), 1 create",
            "fresh_kib": samples[0]["rss_kib"],
            "warm_kib": warm,
            "final_kib": final,
            "warmup_requests": samples[warm_index]["requests"],
            "measured_requests": samples[-1]["requests"] - samples[warm_index]["requests"],
            "growth_pct": growth,
            "growth_from_fresh_pct": [
                round(100 * (f - s) / s, 2) for f, s in zip(final, samples[0]["rss_kib"], strict=True)
            ],
            "samples": samples,
            "throughput_rps": round(statistics.median(r["rps"] for r in rss_runs), 1),
            "runs": warm_runs + rss_runs,
        }

        # -- verdicts ------------------------------------------------------------------------
        deep_x = lst["deep_vs_first"]["p50_ms"]["median"]
        size_x = lst["first_vs_small"]["p50_ms"]["median"]
        out["targets"] = [
            {
                "target": "list p50, deepest page vs first page",
                "limit": f"<= {TARGET_DEEP}x",
                "value": deep_x,
                "pass": deep_x <= TARGET_DEEP,
            },
            {
                "target": f"list p50, first page: {cb['tasks']:,} vs {cs['tasks']:,} tasks",
                "limit": f"<= {TARGET_SIZE}x",
                "value": size_x,
                "pass": size_x <= TARGET_SIZE,
            },
            {
                "target": f"worker RSS growth over {out['rss']['measured_requests']:,} requests",
                "limit": f"< {TARGET_RSS}%",
                "value": max(growth),
                "pass": max(growth) < TARGET_RSS,
            },
            {
                "target": "login throughput vs the hasher bound",
                "limit": f">= {TARGET_LOGIN:.0%}",
                "value": out["login"]["achieved_vs_bound"],
                "pass": out["login"]["achieved_vs_bound"] >= TARGET_LOGIN,
            },
        ]
        all_runs = [r for rs in runs.values() for r in rs] + login_runs + warm_runs + rss_runs
        if errors_in(all_runs):
            codes: dict[str, int] = {}
            for r in all_runs:
                for code, n in r.get("statuses", {}).items():
                    codes[code] = codes.get(code, 0) + n
            out["problems"].append(
                f"{errors_in(all_runs)} non-2xx answers or socket errors under load (statuses in the "
                f"memory phase: {codes}); see the runs, and the server logs in {tmp}"
            )
        if out["problems"]:
            broke = True
            a.keep = True
        out["machine"]["loadavg_at_end"] = list(os.getloadavg())
        out["elapsed_s"] = round(time.monotonic() - started, 1)
        path = write_json(a.name, out)
        report(out)
        log(f"bench-scale: wrote {path}")
        if not a.no_chart:
            from bench.chart import scale_chart

            log(f"bench-scale: wrote {scale_chart(out, RESULTS_DIR / f'{a.name}.png')}")
    except BenchError as exc:
        log(f"bench-scale: FAILED: {exc}")
        out["problems"].append(str(exc))
        log(f"bench-scale: the servers' logs are kept in {tmp}")
        a.keep = True
        broke = True
    finally:
        small.stop()
        big.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if broke:
        for problem in out["problems"]:
            log(f"bench-scale: problem: {problem}")
        log("bench-scale: FAILED (something broke; the numbers above, if any, are not to be trusted)")
        return 1
    log(f"bench-scale: done in {time.monotonic() - started:.0f} s (exit 0 whatever PASS/FAIL say)")
    return 0


SHOWN_ENV = {"HOST", "WEB_CONCURRENCY", "JWT_ACCESS_TTL", "LOGIN_RATE", "LOGIN_USERNAME_RATE", "DATABASE_URL"}


def report(out: dict[str, Any]) -> None:
    a, d, lst, lg, rss = out["args"], out["data"], out["list"], out["login"], out["rss"]
    print()
    print(
        f"make bench-scale: {out['machine']['database'].split(' on ')[0]}; {d['big']['tasks']:,} tasks over "
        f"{d['big']['users']:,} users in teams of up to {d['big'].get('team_size', 0)} (user1 holds "
        f"{d['big']['user1_tasks']:,}, sees {d['big']['visible']['user1']['tasks']:,} in "
        f"{d['big']['visible']['user1']['projects']} projects); {a['rounds']} rounds x "
        f"{a['seconds']} s, wrk -c{a['connections']}, {out['machine']['cores']} cores; medians"
    )
    rows = [
        [
            c["label"],
            f"{c['median']['rps']:.1f}",
            f"{c['median']['p50_ms']:.2f}",
            f"{c['median']['p99_ms']:.2f}",
        ]
        for c in lst["cases"].values()
    ]
    print(fmt_table(["list, page_size=100", "req/s", "p50 ms", "p99 ms"], rows))
    print(
        f"  deepest vs first (median of per-round ratios): p50 {lst['deep_vs_first']['p50_ms']['median']:.2f}x, "
        f"p99 {lst['deep_vs_first']['p99_ms']['median']:.2f}x, req/s {lst['deep_vs_first']['rps']['median']:.2f}x"
    )
    print(
        f"  {d['big']['tasks']:,} vs {d['small']['tasks']:,} tasks, first page: p50 {lst['first_vs_small']['p50_ms']['median']:.2f}x, "
        f"p99 {lst['first_vs_small']['p99_ms']['median']:.2f}x, req/s {lst['first_vs_small']['rps']['median']:.2f}x"
    )
    print()
    print(
        f"worker RSS, MiB: fresh {fmt_mib(rss['fresh_kib'])}, after {rss['warmup_requests']:,} warm-up requests "
        f"{fmt_mib(rss['warm_kib'])}, after {rss['measured_requests']:,} more {fmt_mib(rss['final_kib'])}: "
        f"growth {rss['growth_pct']}% (from fresh {rss['growth_from_fresh_pct']}%); mix at {rss['throughput_rps']} req/s"
    )
    print(
        f"login: {lg['median']['rps']:.2f} req/s (p50 {lg['median']['p50_ms']:.0f} ms) vs bound {lg['bound_rps']:.2f} "
        f"= {lg['cores']} cores / {lg['hash_s'] * 1000:.1f} ms ({lg['hasher']['algorithm']} check_password; "
        f"make_password {lg['hasher']['make_password_s'] * 1000:.1f} ms): {lg['achieved_vs_bound']:.0%} "
        "(median of per-round ratios)"
    )
    print(
        f"  (for comparison: {lg['cores']} processes doing only check_password reach "
        f"{lg['parallel_hasher_rps']} /s here; login reaches {_pct(lg['achieved_vs_parallel_hasher'])} of that)"
    )
    print()
    for t in out["targets"]:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['value']} (target {t['limit']})")
    print()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def fmt_mib(kib: list[int]) -> str:
    return "/".join(f"{k / 1024:.1f}" for k in kib)


if __name__ == "__main__":
    raise SystemExit(main())
