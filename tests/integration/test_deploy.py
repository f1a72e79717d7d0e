"""The deployment guide (docs/deploy.md), tried: the service configured by deploy/taskservice.env
behind nginx with deploy/nginx.conf over TLS, and the guide's backup and restore commands.

nginx runs as an ordinary process on free ports of 127.0.0.1, with the guide's own site file
rendered for this machine (ports, certificate directory, host name) and a self-signed
certificate; the machine's nginx service is never touched.
"""

import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from soak import services
from soak.server import ROOT, Server, free_port, manage, server_env
from tests.helpers.servers import loopback_address

GUIDE = ROOT / "docs" / "deploy.md"
SITE = ROOT / "deploy" / "nginx.conf"
ENV_FILE = ROOT / "deploy" / "taskservice.env"
HOST = "localhost"  # tasks.example.com in the guide
LIMIT = 1024 * 1024  # REQUEST_MAX_BYTES's default, which the guide leaves as it is
PASSWORD = "deploy-" + secrets.token_hex(8)
# The guide's SQLite backup, run with the service's python: source, then destination.
SQLITE_BACKUP = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))"
TITLES = "import json; from tasks.models import Task; print(json.dumps(sorted(Task.objects.values_list('title', 'due_to')), default=str))"


def tool(name: str, package: str) -> str:
    """The path of a program the guide uses; under CI=true a missing one fails the run."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if path:
        return path
    how = f"apt-get install -y -q {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs {name} for the deployment tests: {how}")
    pytest.skip(f"{name} is missing: `{how}` to try the deployment guide")


def only_on_sqlite_run(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--services"):
        pytest.skip("runs once, in the SQLite run: nginx and TLS do not depend on the database")


def guide_env(state_dir: Path, directory: Path) -> dict[str, str]:
    """The server's environment: deploy/taskservice.env as ENV_FILE, as the systemd unit reads it,
    with the host name made this machine's and the database and Redis left at their defaults."""
    lines = []
    for line in ENV_FILE.read_text().splitlines():
        if line.startswith(("DATABASE_URL=", "REDIS_URL=")):
            continue
        lines.append(line.replace("tasks.example.com", HOST))
    rendered = directory / "taskservice.env"
    rendered.write_text("\n".join(lines) + "\n")
    env = server_env(state_dir, ENV_FILE=str(rendered))
    # The file decides (the environment would win over it). The guide leaves SECRET_KEY and
    # REQUEST_MAX_BYTES unset: the key is generated into STATE_DIR, the limit is nginx's too.
    for name in [*guide_settings(), "SECRET_KEY", "REQUEST_MAX_BYTES"]:
        if name != "STATE_DIR":
            env.pop(name, None)
    return env


def guide_settings() -> dict[str, str]:
    pairs = (line.partition("=") for line in ENV_FILE.read_text().splitlines() if line and line[0] != "#")
    return {name: value for name, _, value in pairs}


def self_signed(directory: Path) -> Path:
    """fullchain.pem and privkey.pem for localhost and 127.0.0.1; returns the certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (directory / "privkey.pem").chmod(0o600)
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return directory / "fullchain.pem"


def render_site(*, http_port: int, https_port: int, app_port: int, cert_dir: Path) -> str:
    """deploy/nginx.conf for this machine: free ports on 127.0.0.1, the test's certificate."""
    text = SITE.read_text()
    for old, new in [
        ("tasks.example.com", HOST),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("/etc/ssl/taskservice/", f"{cert_dir}/"),
    ]:
        assert old in text, f"deploy/nginx.conf has no {old!r} any more: update render_site()"
        text = text.replace(old, new)
    # The IPv6 listeners go: a test machine may have no ::1, and one address is enough here.
    return "\n".join(line for line in text.splitlines() if "listen [::]" not in line) + "\n"


class Nginx:
    """nginx with a site file, in the foreground, in its own session, stopped by its id."""

    def __init__(self, site: str, directory: Path, port: int) -> None:
        self.binary = tool("nginx", "nginx")
        self.directory, self.port = directory, port
        (directory / "site.conf").write_text(site)
        temp = " ".join(
            f"{kind}_temp_path {directory / kind};" for kind in ("proxy", "fastcgi", "uwsgi", "scgi")
        )
        # Only what the site file needs from Debian's /etc/nginx/nginx.conf: an http block.
        (directory / "nginx.conf").write_text(
            f"worker_processes 1;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'};\n"
            f"daemon off;\nevents {{}}\nhttp {{\n  access_log {directory / 'access.log'};\n"
            f"  client_body_temp_path {directory / 'body'};\n  {temp}\n"
            f"  include {directory / 'site.conf'};\n}}\n"
        )
        self.argv = [self.binary, "-c", str(directory / "nginx.conf"), "-p", str(directory)]
        self.argv += ["-e", str(directory / "error.log")]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> None:
        checked = subprocess.run([*self.argv, "-t"], capture_output=True, text=True, check=False)  # noqa: S603
        assert checked.returncode == 0, f"nginx -t refused the guide's site file:\n{checked.stderr}"
        self.proc = subprocess.Popen(  # noqa: S603  nginx, arguments built here
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"nginx exited: {self.log()}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return
            time.sleep(0.1)
        raise TimeoutError(f"nginx did not listen on {self.port} in {timeout} s: {self.log()}")

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@contextlib.contextmanager
def nginx_directory() -> Iterator[Path]:
    """A directory nginx's workers may enter: started as root (as in CI), nginx runs them as
    nobody, who cannot reach into pytest's private tmp tree for the temporary files."""
    directory = Path(tempfile.mkdtemp(prefix="deploy-nginx-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes = b""
    json: object = field(default=None)


@dataclass
class Deployment:
    https_port: int
    http_port: int
    ca_file: Path
    state_dir: Path

    def https(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        *,
        headers: dict[str, str] | None = None,
        source: str | None = None,
    ) -> Answer:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        conn = http.client.HTTPSConnection(
            "127.0.0.1",
            self.https_port,
            context=context,
            timeout=60,
            source_address=(source, 0) if source else None,
        )
        sent = {"Host": HOST, "Accept": "application/json", **(headers or {})}
        try:
            chunked = body is not None and not isinstance(body, bytes)
            conn.request(method, path, body=body, headers=sent, encode_chunked=chunked)
            return read(conn.getresponse())
        finally:
            conn.close()

    def json_call(self, method: str, path: str, payload: object, *, token: str = "", source: str) -> Answer:
        headers = {"Content-Type": "application/json", "User-Agent": "deploy-test"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # A client-supplied X-Forwarded-For must not decide the address the app records.
        headers["X-Forwarded-For"] = "203.0.113.7"
        body = json.dumps(payload).encode() if payload is not None else None
        return self.https(method, path, body, headers=headers, source=source)


def read(response: http.client.HTTPResponse) -> Answer:
    body = response.read()
    answer = Answer(response.status, response.headers, body)
    if response.headers.get("Content-Type", "").startswith("application/json") and body:
        answer.json = json.loads(body)
    return answer


@pytest.fixture(scope="module")
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The service as docs/deploy.md sets it up: the guide's environment, nginx in front."""
    only_on_sqlite_run(request)
    tool("nginx", "nginx")
    tmp = tmp_path_factory.mktemp("deploy")
    state_dir = tmp / "state"
    env = guide_env(state_dir, tmp)
    manage(env, "migrate", "--no-input", "-v0")
    workers = int(guide_settings()["WEB_CONCURRENCY"])
    app = Server(env, port=free_port(), workers=workers, log_path=tmp / "server.log")
    with nginx_directory() as directory:
        ca_file = self_signed(directory)
        http_port, https_port = free_port(), free_port()
        site = render_site(http_port=http_port, https_port=https_port, app_port=app.port, cert_dir=directory)
        proxy = Nginx(site, directory, https_port)
        try:
            app.start()
            proxy.start()
            yield Deployment(https_port, http_port, ca_file, state_dir)
        finally:
            proxy.stop()
            app.stop()


@pytest.fixture
def sqlite_run(request: pytest.FixtureRequest) -> None:
    only_on_sqlite_run(request)


def test_https_answers_carry_https_links_and_one_hsts_header(deployment: Deployment) -> None:
    root = deployment.https("GET", "/")
    assert root.status == 200, root.body
    assert isinstance(root.json, dict)
    assert root.json, "the root links to the collections"
    for url in root.json.values():  # the app believed nginx's X-Forwarded-Proto
        assert url.startswith(f"https://{HOST}/"), root.json
    hsts = guide_settings()["HSTS_SECONDS"]
    assert root.headers.get_all("Strict-Transport-Security") == [f"max-age={hsts}; includeSubDomains"]
    assert root.headers["X-Request-ID"]


def test_plain_http_is_redirected_to_https(deployment: Deployment) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", deployment.http_port, timeout=30)
    try:
        conn.request("GET", "/tasks/?page_size=5", headers={"Host": HOST})
        answer = read(conn.getresponse())
    finally:
        conn.close()
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://{HOST}/tasks/?page_size=5"


def test_health_checks_answer_through_the_proxy(deployment: Deployment) -> None:
    assert deployment.https("GET", "/healthz").json == {"status": "ok"}
    ready = deployment.https("GET", "/readyz")
    assert ready.status == 200, ready.body
    assert ready.json == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_nginx_refuses_a_body_over_the_apps_limit_and_passes_one_at_it(deployment: Deployment) -> None:
    headers = {"Content-Type": "application/json"}
    at_limit = deployment.https("POST", "/tasks/", b"x" * LIMIT, headers=headers)
    # It reached the app, which asks for credentials before it reads anything.
    assert at_limit.status == 401, at_limit.body
    assert "X-Request-ID" in at_limit.headers

    over = deployment.https("POST", "/tasks/", b"x" * (LIMIT + 1), headers=headers)
    assert over.status == 413
    assert over.json == {"detail": f"The request body is over the limit of {LIMIT} bytes."}
    assert "X-Request-ID" not in over.headers  # nginx refused it: the app never saw it

    # Chunked, the body has no Content-Length for the app to check; nginx counts it.
    chunks = [b"x" * 65536] * (LIMIT // 65536) + [b"x"]
    chunked = deployment.https("POST", "/tasks/", iter(chunks), headers=headers)
    assert chunked.status == 413


def test_the_app_records_the_clients_address_not_a_forged_one(deployment: Deployment) -> None:
    source = loopback_address()
    username = f"client-{secrets.token_hex(4)}"
    signup = deployment.json_call(
        "POST", "/users/", {"username": username, "password": PASSWORD}, source=source
    )
    assert signup.status == 201, signup.body
    login = deployment.json_call(
        "POST", "/auth/token/", {"username": username, "password": PASSWORD}, source=source
    )
    assert login.status == 200, login.body
    assert isinstance(login.json, dict)
    sessions = deployment.json_call("GET", "/auth/sessions/", None, token=login.json["access"], source=source)
    assert sessions.status == 200, sessions.body
    assert [session["ip"] for session in sessions.json] == [source]


def test_generated_secrets_are_private_to_the_service(deployment: Deployment) -> None:
    secret_key = deployment.state_dir / "secret_key"
    keys = list((deployment.state_dir / "jwt").iterdir())
    assert keys, "the signing key is generated under STATE_DIR/jwt"
    for path in [secret_key, *keys]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (deployment.state_dir / "jwt").stat().st_mode & 0o777 == 0o700


@pytest.mark.usefixtures("sqlite_run")
def test_nginx_answers_json_while_the_app_is_down(tmp_path: Path) -> None:
    with nginx_directory() as directory:
        ca_file = self_signed(directory)
        http_port, https_port = free_port(), free_port()
        nobody_listening = free_port()
        site = render_site(
            http_port=http_port, https_port=https_port, app_port=nobody_listening, cert_dir=directory
        )
        proxy = Nginx(site, directory, https_port)
        try:
            proxy.start()
            down = Deployment(https_port, http_port, ca_file, tmp_path).https("GET", "/tasks/")
        finally:
            proxy.stop()
    assert down.status == 502
    assert down.json == {"detail": "The service did not answer; try again shortly."}
    assert down.headers["Retry-After"] == "5"


@pytest.mark.usefixtures("sqlite_run")
def test_the_guide_environment_passes_check_deploy(tmp_path: Path) -> None:
    env = guide_env(tmp_path / "state", tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def titles(env: dict[str, str]) -> list[str]:
    done = subprocess.run(  # noqa: S603  our own interpreter and manage.py
        [sys.executable, "manage.py", "shell", "-c", TITLES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.usefixtures("sqlite_run")
def test_the_sqlite_backup_one_liner_restores_the_tasks(tmp_path: Path) -> None:
    assert SQLITE_BACKUP in GUIDE.read_text(), "docs/deploy.md no longer shows this backup command"
    live = server_env(tmp_path / "live")
    manage(live, "migrate", "--no-input", "-v0")
    manage(live, "seed", "--users", "1", "--tasks", "3", "--password", PASSWORD, "-v0")
    before = titles(live)
    assert len(before) == 3

    backup = tmp_path / "backup.sqlite3"
    subprocess.run(  # noqa: S603  our own interpreter
        [sys.executable, "-c", SQLITE_BACKUP, str(tmp_path / "live" / "db.sqlite3"), str(backup)], check=True
    )
    manage(live, "seed", "--users", "1", "--tasks", "1", "--password", PASSWORD, "-v0")  # after the backup

    (tmp_path / "restored").mkdir(mode=0o700)
    shutil.copyfile(backup, tmp_path / "restored" / "db.sqlite3")
    assert titles(server_env(tmp_path / "restored")) == before


@pytest.mark.postgres
def test_pg_dump_and_pg_restore_restore_the_tasks(tmp_path: Path) -> None:
    guide = GUIDE.read_text()
    assert "pg_dump -Fc" in guide
    assert "pg_restore --exit-on-error --single-transaction" in guide
    pg_dump, pg_restore = tool("pg_dump", "postgresql-client"), tool("pg_restore", "postgresql-client")
    base = os.environ.get("DATABASE_URL", "").rsplit("/", 1)[0]
    name = f"deploy_{secrets.token_hex(4)}"
    source_url, restored_url = f"{base}/{name}", f"{base}/{name}_restored"
    services.database_recreate(source_url)
    services.database_recreate(restored_url)
    try:
        live = server_env(tmp_path / "state", DATABASE_URL=source_url)
        manage(live, "migrate", "--no-input", "-v0")
        manage(live, "seed", "--users", "1", "--tasks", "3", "--password", PASSWORD, "-v0")
        before = titles(live)
        assert len(before) == 3

        dump = tmp_path / "taskservice.dump"
        with dump.open("wb") as out:
            subprocess.run([pg_dump, "-Fc", "--dbname", source_url], stdout=out, check=True)  # noqa: S603
        manage(live, "seed", "--users", "1", "--tasks", "1", "--password", PASSWORD, "-v0")  # after the dump
        with dump.open("rb") as dumped:
            subprocess.run(  # noqa: S603  pg_restore, arguments built here
                [pg_restore, "--exit-on-error", "--single-transaction", "--dbname", restored_url],
                stdin=dumped,
                check=True,
            )
        assert titles(server_env(tmp_path / "state", DATABASE_URL=restored_url)) == before
    finally:
        services.database_drop(source_url)
        services.database_drop(restored_url)
