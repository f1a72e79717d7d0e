"""The in-process measurements, run in a subprocess with the benchmark server's environment.

    python -m bench.inproc queries --method GET --path /tasks/1/      (token in BENCH_TOKEN)
    python -m bench.inproc hasher --samples 7
    python -m bench.inproc counts [--vacuum-analyze] [--delete-title TITLE] [--visible-to USERNAME]...

``queries``: one endpoint requested three times in a fresh process with Django's test Client
under CaptureQueriesContext, against the same settings and database as the server. The first
request is cold (empty per-process caches; the database connection is already open, so its
setup is not counted), the second warm. "queries" leaves out transaction control (BEGIN,
COMMIT, SAVEPOINT...), which only SQLite logs; "statements" counts everything. ``hasher``: the default password hasher timed
directly. Prints one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from typing import Any

import django

TX_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I
)


def queries(method: str, path: str, body: str | None, repeat: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token = os.environ.get("BENCH_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = Client(HTTP_HOST="127.0.0.1", headers={"Accept": "application/json", **headers})
    runs = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            if method == "GET":
                resp = client.get(path)
            else:
                resp = client.generic(method, path, data=body or "", content_type="application/json")
        sqls = [q["sql"] for q in captured.captured_queries]
        runs.append(
            {
                "status": resp.status_code,
                "statements": len(sqls),
                # BEGIN/COMMIT/SAVEPOINT are logged on SQLite but not on PostgreSQL: not queries.
                "queries": sum(1 for q in sqls if not TX_CONTROL.match(q)),
                "sql": [q["sql"][:400] for q in captured.captured_queries[:30]],
            }
        )
    return {
        "cold": runs[0]["queries"],
        "warm": runs[1]["queries"] if len(runs) > 1 else None,
        "per_request": [r["queries"] for r in runs],
        "statements_per_request": [r["statements"] for r in runs],
        "statuses": [r["status"] for r in runs],
        "cold_sql": runs[0]["sql"],
        "warm_sql": runs[-1]["sql"],
    }


def _hash_for(seconds: float, encoded: str) -> int:
    from django.contrib.auth.hashers import check_password

    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        check_password("bench-password-1", encoded)
        done += 1
    return done


def hasher(samples: int, parallel: int, parallel_seconds: float) -> dict[str, Any]:
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    password = "bench-password-1"
    encoded = make_password(password)

    def timed(fn: Any) -> tuple[list[float], list[float]]:
        wall, cpu = [], []
        for _ in range(samples):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        return wall, cpu

    mk_wall, mk_cpu = timed(lambda: make_password(password))
    ck_wall, ck_cpu = timed(lambda: check_password(password, encoded))
    if not check_password(password, encoded):
        raise SystemExit("check_password refused its own hash")
    parallel_rps = None
    if parallel:
        # The same hash in `parallel` processes at once: what the machine can do, shared
        # memory bandwidth and neighbours included (each argon2 hash touches ~100 MB).
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(parallel) as pool:
            started = time.monotonic()
            counts = pool.starmap(_hash_for, [(parallel_seconds, encoded)] * parallel)
            parallel_rps = round(sum(counts) / (time.monotonic() - started), 3)
    h = get_hasher()
    params = {
        k: getattr(h, k) for k in ("time_cost", "memory_cost", "parallelism", "iterations") if hasattr(h, k)
    }
    return {
        "algorithm": h.algorithm,
        "params": params,
        "samples": samples,
        "make_password_s": round(statistics.median(mk_wall), 5),
        "make_password_cpu_s": round(statistics.median(mk_cpu), 5),
        "check_password_s": round(statistics.median(ck_wall), 5),
        "check_password_cpu_s": round(statistics.median(ck_cpu), 5),
        "check_password_all_s": [round(x, 5) for x in ck_wall],
        "parallel_processes": parallel,
        "parallel_checks_per_s": parallel_rps,
    }


def counts(vacuum_analyze: bool, delete_title: str | None, visible_to: list[str]) -> dict[str, Any]:
    """Rows in the tables (and user1's), the database's version; VACUUM ANALYZE first if asked.

    ``delete_title``: first delete the tasks a previous run created through the API (they all
    carry that title; seeded tasks are titled "Task N"), so a reused database is as seeded.
    ``visible_to``: usernames whose list to count (the tasks of their projects) in ``visible``.
    """
    from django.db import connection

    from projects.models import Membership, Project
    from tasks.models import Task
    from tasks.permissions import member_tasks
    from users.models import User

    deleted = Task.objects.filter(title=delete_title).delete()[0] if delete_title else 0
    if vacuum_analyze and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")  # autocommit: outside any transaction
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    return {
        "vendor": connection.vendor,
        "version": version,
        "tasks": Task.objects.count(),
        "users": User.objects.count(),
        "user1_tasks": Task.objects.filter(person__username="user1").count(),
        "projects": Project.objects.count(),
        "team_projects": Project.objects.filter(personal=False).count(),
        "memberships": Membership.objects.count(),
        "visible": {
            name: {
                "tasks": member_tasks(user.pk).count(),
                "projects": Membership.objects.filter(user=user).count(),
            }
            for name in visible_to
            if (user := User.objects.filter(username=name).first()) is not None
        },
        "deleted": deleted,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    q = sub.add_parser("queries")
    q.add_argument("--method", default="GET")
    q.add_argument("--path", required=True)
    q.add_argument("--body")
    q.add_argument("--repeat", type=int, default=3)
    h = sub.add_parser("hasher")
    h.add_argument("--samples", type=int, default=7)
    h.add_argument("--parallel", type=int, default=0, help="also: check_password in N processes at once")
    h.add_argument("--parallel-seconds", type=float, default=5)
    c = sub.add_parser("counts")
    c.add_argument("--vacuum-analyze", action="store_true")
    c.add_argument("--delete-title", help="delete the tasks with this title first")
    c.add_argument("--visible-to", action="append", default=[], metavar="USERNAME", help="count their list")
    a = ap.parse_args()
    django.setup()
    if a.what == "queries":
        out = queries(a.method, a.path, a.body, a.repeat)
    elif a.what == "hasher":
        out = hasher(a.samples, a.parallel, a.parallel_seconds)
    else:
        out = counts(a.vacuum_analyze, a.delete_title, a.visible_to)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
