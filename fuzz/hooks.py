"""Schemathesis hooks for ``make fuzz`` (loaded through SCHEMATHESIS_HOOKS by fuzz/run.py).

Authentication goes through the real endpoints: the fuzzed user logs in at POST /auth/token/
like any client. The run itself may end that user's sessions (POST /auth/logout-all/,
DELETE /auth/sessions/{id}/) or the user (DELETE /users/{id}/ of itself, or a PUT that
renames it): after a 401 to our token the next case logs in again, and a login refused
because the account is gone signs the user up again, through POST /users/ as well.

``positive_only_server_values`` gives positive test cases the few values whose validity only
the server knows, which no schema can state; see there.
"""

import itertools
import json
import os
import urllib.error
import urllib.request
from typing import Any

import schemathesis
from schemathesis import AuthContext, Case, GenerationMode
from schemathesis.hooks import HookContext

BASE_URL = os.environ["FUZZ_BASE_URL"]
USERNAME = os.environ["FUZZ_USERNAME"]
PASSWORD = os.environ["FUZZ_PASSWORD"]


# The fuzzed user's own URL, the one ``person`` a non-staff caller may give, and their
# personal project's, one ``project`` they may write in (see log_in()).
caller = {"url": "", "project": ""}
# A rule every task takes (see positive_only_server_values()).
RECURRENCE = "FREQ=WEEKLY;BYDAY=MO"
_unique = itertools.count(1)


def call(method: str, path: str, body: dict[str, str] | None = None, token: str = "") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310  our own server on 127.0.0.1
        BASE_URL + path,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def log_in() -> str:
    """An access token for the fuzzed user, signing them up again if the run deleted them."""
    credentials = {"username": USERNAME, "password": PASSWORD}
    status, body = call("POST", "/auth/token/", credentials)
    if status == 401:
        call("POST", "/users/", credentials)
        status, body = call("POST", "/auth/token/", credentials)
    if status != 200:
        raise RuntimeError(f"login as {USERNAME} answered {status}: {body}")
    token = str(body["access"])
    status, me = call("GET", "/users/me/", token=token)
    if status != 200:
        raise RuntimeError(f"GET /users/me/ answered {status}: {me}")
    caller["url"] = me["url"]
    status, projects = call("GET", "/projects/", token=token)
    if status != 200:
        raise RuntimeError(f"GET /projects/ answered {status}: {projects}")
    caller["project"] = next(p["url"] for p in projects["results"] if p["personal"])
    return token


def declares_security(context: Any) -> bool:
    """The operation asks for credentials (``security`` in the schema): public ones get none."""
    raw = context.operation.definition.raw
    return bool(raw.get("security")) if isinstance(raw, dict) else False


# The access token in use, until a 401 says the run ended its session (see token_died).
token = {"access": ""}


@schemathesis.auth(refresh_interval=None).apply_to(declares_security)
class Login:
    """Bearer tokens from POST /auth/token/, logging in again once the run has ended one."""

    def get(self, case: Case, context: AuthContext) -> str:
        if not token["access"]:
            token["access"] = log_in()
        return token["access"]

    def set(self, case: Case, data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook("after_call")
def token_died(context: HookContext, case: Case, response: Any) -> None:
    """A 401 to a request with our token: the run logged the user out, or deleted them.

    The next case logs in again (schemathesis' own re-login and replay do not cover its
    stateful phase, which would otherwise run on a dead token).
    """
    sent = case.headers.get("Authorization") if case.headers else None
    if response.status_code == 401 and token["access"] and sent == f"Bearer {token['access']}":
        token["access"] = ""


@schemathesis.hook("map_case")
def positive_only_server_values(context: HookContext, case: Case) -> Case:
    """Positive cases get the values only the server can vouch for; negative cases are untouched.

    Schema-valid is not enough for these, whatever the schema says, so positive_data_acceptance
    (valid data must be accepted) would fail on the server being right:
    - ``cursor`` and ``since``: opaque; only a cursor or a sync token the server wrote (in a
      ``next`` or ``previous`` link, a page of changes' ``next``) is one. Garbage is a 400
      (tests/api/test_pagination.py, tests/tasks/test_changes.py); positive cases read the
      first page instead.
    - ``project`` of a task: a project the caller is an owner or editor of (any other URL is
      a 400 or, for a viewer, a 403); positive cases send the caller's personal project.
    - ``person`` of a task: a non-staff caller may name only themselves (anyone else is the
      400 of a URL that names nobody, so the answer does not tell who exists).
    - ``username`` of PUT and PATCH /users/{id}/: it must be free; a taken one is a 400.
    - ``recurrence`` of a task, and of each task of an import: an RFC 5545 RRULE, whose
      grammar and rules (tasks.recurrence) no schema pattern states; positive cases send one
      the server takes.
    Everything else the case carries is left as generated.
    """
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    path, method = case.operation.path, case.method.upper()
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        case.query.pop("since", None)
    if path.startswith("/tasks/"):
        for task in case.body if isinstance(case.body, list) else [case.body]:
            if isinstance(task, dict) and isinstance(task.get("recurrence"), str):
                task["recurrence"] = RECURRENCE
    if not isinstance(case.body, dict):
        return case
    if path.startswith("/tasks/") and "person" in case.body and caller["url"]:
        case.body["person"] = caller["url"]
    if path.startswith("/tasks/") and "project" in case.body and caller["project"]:
        case.body["project"] = caller["project"]
    username = case.body.get("username")
    if path == "/users/{id}/" and method in ("PUT", "PATCH") and isinstance(username, str):
        suffix = f"-{next(_unique)}"
        case.body["username"] = username[: 150 - len(suffix)] + suffix
    return case
