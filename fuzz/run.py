"""``make fuzz``: schemathesis against the shipped server, with every check, deterministically.

1. Serve the API as shipped (``manage.py serve``: granian) on a free port of 127.0.0.1, on a
   fresh SQLite database in a temporary STATE_DIR, with login and sign-up throttling lifted
   (the fuzzer would otherwise spend the run on 429s).
2. Sign a user up (POST /users/) and log them in (POST /auth/token/), through the real
   endpoints; fuzz/hooks.py logs in the same way for schemathesis, and again when a token dies.
3. Run ``schemathesis run`` on /schema/ with every check, positive and negative data,
   every phase (examples, coverage, fuzzing, and stateful: the schema's OpenAPI links, ids
   taken from the answers), a fixed seed and bounded examples (fuzz/schemathesis.toml).
   The run must end within ``--timeout`` seconds of wall-clock time, or it fails.
4. Fail as well if the server logged a warning or an error (a 500, a traceback) meanwhile.

The exit status is non-zero on any failure. Reports (JUnit XML, the server's log) go to
fuzz/results/.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from soak.http import Http
from soak.server import HOST, manage, server_env, serving

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "fuzz"
RESULTS_DIR = FUZZ_DIR / "results"
CONFIG = FUZZ_DIR / "schemathesis.toml"
HOOKS = FUZZ_DIR / "hooks.py"
LIFTED_RATE = "100000/min"
USERNAME = "fuzzer"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "20161018")))
    parser.add_argument(
        "--max-examples",
        type=int,
        default=int(os.environ.get("FUZZ_MAX_EXAMPLES", "200")),
        help="test cases per operation and phase (default 200, FUZZ_MAX_EXAMPLES)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("FUZZ_TIMEOUT", "420")),
        help="wall-clock bound of the schemathesis run, seconds (default 420, FUZZ_TIMEOUT)",
    )
    parser.add_argument("--server-workers", type=int, default=1, help="granian worker processes")
    parser.add_argument(
        "extra", nargs="*", help="more schemathesis options, after --, e.g. -- --include-path /tasks/"
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"fuzz: {message}", file=sys.stderr, flush=True)


def sign_up_and_log_in(port: int, password: str) -> None:
    """The fuzzed user, made and checked through the real endpoints."""
    http = Http(HOST, port)
    credentials = {"username": USERNAME, "password": password}
    signed_up = http.post("/users/", credentials)
    if signed_up.status != 201:
        raise RuntimeError(f"sign-up answered {signed_up.status}: {signed_up.body!r}")
    login = http.post("/auth/token/", credentials)
    if login.status != 200:
        raise RuntimeError(f"login answered {login.status}: {login.body!r}")
    me = http.get("/users/me/", token=login.json()["access"])
    if me.status != 200 or me.json()["username"] != USERNAME:
        raise RuntimeError(f"GET /users/me/ answered {me.status}: {me.body!r}")
    http.close()


def server_complaints(log_path: Path) -> list[str]:
    """Lines of the server's log at WARNING or worse, and tracebacks.

    Served as here (LOG_LEVEL=WARNING, SQLite, no Redis), the service logs nothing at all while
    it answers bad requests with 4xx: anything it does log is a 500 (an ERROR with its
    traceback) or something gone wrong without the client seeing it.
    """
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            if "Traceback" in line or "Error" in line or "Warning" in line:
                found.append(line)
            continue
        if isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            found.append(line)
    return found


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    RESULTS_DIR.mkdir(exist_ok=True)
    password = "fuzz-" + secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="fuzz-state-") as state:
        env = server_env(
            Path(state),
            LOGIN_RATE=LIFTED_RATE,
            LOGIN_USERNAME_RATE=LIFTED_RATE,
            SIGNUP_RATE=LIFTED_RATE,
            LOG_LEVEL="WARNING",
        )
        log("migrating a fresh SQLite database")
        manage(env, "migrate", "--no-input")
        manage(env, "collectstatic", "--no-input", "--verbosity", "0")  # as make run does
        log_path = RESULTS_DIR / "server.log"
        log_path.unlink(missing_ok=True)
        with serving(env, workers=args.server_workers, log_path=log_path) as server:
            base_url = f"http://{HOST}:{server.port}"
            log(f"serving on {base_url}")
            sign_up_and_log_in(server.port, password)
            command = [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(CONFIG),
                "run",
                f"{base_url}/schema/",
                "--mode",
                "all",
                "--seed",
                str(args.seed),
                "--max-examples",
                str(args.max_examples),
                "--report",
                "junit",
                "--report-junit-path",
                str(RESULTS_DIR / "junit.xml"),
                *args.extra,
            ]
            fuzz_env = {
                **os.environ,
                "SCHEMATHESIS_HOOKS": str(HOOKS),
                "FUZZ_BASE_URL": base_url,
                "FUZZ_USERNAME": USERNAME,
                "FUZZ_PASSWORD": password,
            }
            log(" ".join(command))
            started = time.monotonic()
            try:
                done = subprocess.run(  # noqa: S603  our own virtualenv's schemathesis
                    command, cwd=ROOT, env=fuzz_env, timeout=args.timeout, check=False
                )
            except subprocess.TimeoutExpired:
                log(f"FAILED: schemathesis ran past its bound of {args.timeout:.0f} s")
                return 1
            elapsed = time.monotonic() - started
        complaints = server_complaints(log_path)
    log(f"schemathesis exited {done.returncode} after {elapsed:.0f} s")
    if complaints:
        log(f"FAILED: the server logged {len(complaints)} warnings or errors ({log_path}), e.g.:")
        for line in complaints[:10]:
            print(line[:2000], file=sys.stderr)
        return 1
    if done.returncode != 0:
        log("FAILED: see the failures above")
        return done.returncode
    log("passed: no failure, nothing logged by the server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
