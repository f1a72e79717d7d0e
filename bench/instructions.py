"""Instructions per request, counted by valgrind's callgrind, for in-process requests.

    python bench/instructions.py [--project DIR] [--requests 100,400] [--scenarios detail,list,create]

For each scenario, a fresh process of the project in DIR (its own ``.venv/bin/python``, a
SQLite database migrated and seeded once with one user holding 100 tasks, a copy per run)
makes one warm-up request, then N more through Django's test Client, under
``valgrind --tool=callgrind``. The process's start, Django's setup and the warm-up are in
both counts, so (I(N2) - I(N1)) / (N2 - N1) is the cost of one warm request: the
authentication, the view, the query, the rendering, not the interpreter starting.
Instruction counts do not depend on the machine's load, so two trees can be compared on a
busy machine, one after the other. Prints one line of JSON per scenario.

Scenarios: ``detail`` (GET /tasks/{id}/), ``list`` (GET /tasks/, a page of 100), ``create``
(POST /tasks/). The worker (``--worker``) is this file run inside the project directory; it
imports only what both older and newer trees have (tokens.services.token_pair_issue, the
live-session memo of tokens.revocation).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SCENARIOS = ("detail", "list", "create")
PASSWORD = "bench-password-1"
TASKS = 100
# The service's settings come from the environment: none of the caller's may leak in.
CLEARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "ENV_FILE",
    "LOG_LEVEL",
    "STATE_DIR",
    "DJANGO_SETTINGS_MODULE",
)


def worker(scenario: str, requests: int) -> None:
    import django

    django.setup()
    from django.test import Client

    from tasks.models import Task
    from tokens.revocation import memo
    from tokens.services import token_pair_issue
    from users.models import User

    # The live-session memo expires after REVOCATION_LOCAL_TTL seconds of the wall clock:
    # under callgrind a request takes a hundred times as long, so how many requests reload
    # the session would depend on the machine's load. A server reloads once a second among
    # thousands of requests: counted here, never.
    memo.ttl = 24 * 3600

    user = User.objects.get(username="user1")
    token = token_pair_issue(user=user)["access"]
    client = Client(headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    task = Task.objects.filter(person=user).order_by("id").first()
    assert task is not None  # noqa: S101

    def once() -> int:
        if scenario == "detail":
            return client.get(f"/tasks/{task.pk}/").status_code
        if scenario == "list":
            return client.get("/tasks/").status_code
        body = json.dumps({"title": "bench task", "due_to": "2030-01-01T00:00:00Z"})
        return client.post("/tasks/", body, content_type="application/json").status_code

    expected = 201 if scenario == "create" else 200
    if once() != expected:  # warms the per-process caches
        raise SystemExit(f"{scenario}: warm-up failed")
    # What start-up made is kept out of the collector's sight (as a server that preloads its
    # application does): otherwise a full collection over Django's heap lands in one run's
    # requests and not the other's, and the difference of the two counts swings by 10%.
    gc.collect()
    gc.freeze()
    for _ in range(requests):
        status = once()
        if status != expected:
            raise SystemExit(f"{scenario}: HTTP {status}")


def _environment(state_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in CLEARED}
    env.update(
        STATE_DIR=str(state_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
        PYTHONHASHSEED="0",
    )
    return env


def _python(project: Path) -> str:
    return str(project / ".venv" / "bin" / "python")


def _prepare(project: Path, seeded: Path) -> None:
    env = _environment(seeded)
    for command in (
        ["migrate", "-v0"],
        ["seed", "--users", "1", "--tasks", str(TASKS), "--password", PASSWORD, "-v0"],
    ):
        subprocess.run([_python(project), "manage.py", *command], cwd=project, env=env, check=True)  # noqa: S603
    # One request outside valgrind makes what a first start writes to STATE_DIR (the secret
    # key, the JWT key ring): generating keys costs a random number of instructions.
    worker_command = [
        _python(project),
        str(Path(__file__).resolve()),
        "--worker",
        "detail",
        "--requests",
        "1",
    ]
    subprocess.run(worker_command, cwd=project, env={**env, "PYTHONPATH": str(project)}, check=True)  # noqa: S603


def _instructions(project: Path, seeded: Path, scenario: str, requests: int, work: Path) -> int:
    state = work / f"{scenario}-{requests}"
    shutil.copytree(seeded, state)
    out = work / f"callgrind.{scenario}.{requests}"
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--dump-instr=no",
            _python(project),
            str(Path(__file__).resolve()),
            "--worker",
            scenario,
            "--requests",
            str(requests),
        ],
        cwd=project,
        env={**_environment(state), "PYTHONPATH": str(project)},
        check=True,
        capture_output=True,
    )
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if totals is None:
        raise SystemExit(f"no totals in {out}")
    return int(totals.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--requests", default="100,400", help="two request counts, N1,N2")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--worker", metavar="SCENARIO", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, int(args.requests))
        return
    low, high = (int(n) for n in args.requests.split(","))
    project = args.project.resolve()
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp:
        work = Path(tmp)
        seeded = work / "seeded"
        _prepare(project, seeded)
        for scenario in args.scenarios.split(","):
            counts = {n: _instructions(project, seeded, scenario, n, work) for n in (low, high)}
            result: dict[str, Any] = {
                "project": str(project),
                "scenario": scenario,
                "instructions": counts,
                "per_request": round((counts[high] - counts[low]) / (high - low)),
            }
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
