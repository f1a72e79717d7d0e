"""events.sender: what may be sent to, checked on real sockets where it matters."""

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from events import sender
from events.sender import Response, TargetRefused, post, target_check
from tests.config.test_settings import load_settings

PUBLIC = "93.184.215.14"
real_getaddrinfo = socket.getaddrinfo


# --- The resolver, as a test tells it to answer -------------------------------------------


class Resolver:
    """Answers for the names it is given (one answer per call, the last one repeated), and
    passes every other name, numeric ones included, to the real resolver."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in self.answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        self.calls.append(host)
        rounds = self.answers[host]
        addresses = rounds[min(self.calls.count(host), len(rounds)) - 1]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for address in addresses:
            if ipaddress.ip_address(address).version == 6:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port))))
        return infos


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Resolver]:
    def install(**answers: list[list[str]]) -> Resolver:
        resolver = Resolver({name.replace("_", "."): rounds for name, rounds in answers.items()})
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        return resolver

    return install


@pytest.fixture
def private_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True


# --- Receivers on loopback ----------------------------------------------------------------


class Received:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


def serve(handler_reply: Callable[[BaseHTTPRequestHandler], None], host: str = "127.0.0.1", port: int = 0):
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
            )
            handler_reply(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def accepted(status: int = 202, body: bytes = b'{"ok":true}') -> Callable[[BaseHTTPRequestHandler], None]:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


@pytest.fixture
def receiver() -> Iterator[tuple[int, Received]]:
    server, received = serve(accepted())
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


class RawServer:
    """A listening socket whose connections a test handles byte by byte."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.done = threading.Event()
        threading.Thread(target=self.run, args=(handle,), daemon=True).start()

    def run(self, handle: Callable[[socket.socket], None]) -> None:
        with self.listener:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                handle(conn)
            self.done.set()


PING = b'{"type":"ping"}'


def send(url: str, **kwargs: Any) -> Response:
    return post(url, body=PING, headers={"Content-Type": "application/json"}, **kwargs)


def read_request(conn: socket.socket) -> None:
    """The whole of ``send``'s request: a socket closed with bytes unread is reset, and
    the reset would take the answer already sent with it."""
    request = b""
    while not request.endswith(PING):
        chunk = conn.recv(65536)
        if not chunk:
            return
        request += chunk


# --- Refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.1.2.3/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://localhost:8000/hooks", "local"),
        ("http://app.localhost/", "local"),
        ("http://10.0.0.1/", "private"),
        ("http://10.255.255.254/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://172.31.255.254/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.64.0.1/", "shared"),
        ("http://100.127.255.254/", "shared"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
        ("http://[::1]/", "loopback"),
        ("http://[::]/", "unspecified"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "link-local"),
        ("http://[::127.0.0.1]/", "loopback"),
        ("http://[64:ff9b::a00:1]/", "private"),
        ("http://[64:ff9b::7f00:1]/", "loopback"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[2002:a9fe:a9fe::1]/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://[fec0::1]/", "site-local"),
        ("http://[ff02::1]/", "multicast"),
        # Numeric spellings the resolver reads as IPv4 (inet_aton).
        ("http://2130706433/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://017700000001/", "loopback"),
        ("http://2852039166/", "link-local"),
        ("http://0xa9fea9fe/", "link-local"),
        ("http://167772161/", "private"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.google.internal./", "metadata"),
        ("http://instance-data/", "metadata"),
    ],
)
def test_local_private_and_metadata_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        target_check(url)
    with pytest.raises(TargetRefused, match=reason):
        send(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hooks",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "/hooks",
        "hooks",
        "//example.com/hooks",
        "example.com/hooks",
        "http:///hooks",
        "http://user:secret@example.com/hooks",
        "http://user@example.com/hooks",
        "http://@example.com/hooks",
        "http://example.com@127.0.0.1/",
        "http://exa mple.com/",
        "http://example.com/\r\nX-Injected: 1",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "",
    ],
)
def test_malformed_or_credentialed_urls_are_refused(url: str, resolve: Callable[..., Resolver]) -> None:
    resolver = resolve(example_com=[[PUBLIC]])
    with pytest.raises(TargetRefused):
        target_check(url)
    assert resolver.calls == []


def test_refusals_hold_whatever_the_resolver_answers_first(resolve: Callable[..., Resolver]) -> None:
    # One address refused refuses the name: the order of the answers is the attacker's.
    resolve(
        loopback_test=[["127.0.0.1"]],
        mixed_test=[[PUBLIC, "10.0.0.7"]],
        mixed6_test=[[PUBLIC, "::ffff:169.254.169.254"]],
        nowhere_test=[[]],
    )
    with pytest.raises(TargetRefused, match=r"loopback\.test is refused: 127\.0\.0\.1 is loopback"):
        target_check("https://loopback.test/hooks")
    with pytest.raises(TargetRefused, match="private"):
        target_check("https://mixed.test/hooks")
    with pytest.raises(TargetRefused, match="link-local"):
        target_check("https://mixed6.test/hooks")
    # A name that does not resolve is refused at creation, and only reported at delivery.
    with pytest.raises(TargetRefused, match="does not resolve"):
        target_check("https://nowhere.test/hooks")


def test_public_targets_pass(resolve: Callable[..., Resolver]) -> None:
    resolve(hooks_example_com=[[PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::808:808"]])
    target_check("https://hooks.example.com/in?x=1")
    target_check("http://hooks.example.com:8080/")
    target_check("https://8.8.8.8/")
    target_check("https://[2001:4860:4860::8888]/")


def test_allow_private_lets_local_targets_through(private_allowed: None) -> None:
    target_check("http://127.0.0.1:9/")
    target_check("http://localhost/")
    target_check("http://[::1]/")
    with pytest.raises(TargetRefused):
        target_check("ftp://127.0.0.1/")
    with pytest.raises(TargetRefused):
        target_check("http://user:pw@127.0.0.1/")


def test_a_name_rebound_to_loopback_after_creation_is_refused_at_delivery(
    resolve: Callable[..., Resolver], receiver: tuple[int, Received]
) -> None:
    port, received = receiver
    resolve(rebind_test=[[PUBLIC], ["127.0.0.1"]])
    url = f"http://rebind.test:{port}/hooks"
    target_check(url)
    with pytest.raises(TargetRefused, match="loopback"):
        send(url)
    assert received.requests == []


# --- Deliveries -----------------------------------------------------------------------------


def test_the_receiver_gets_the_post_and_its_answer_comes_back(
    private_allowed: None, resolve: Callable[..., Resolver], receiver: tuple[int, Received]
) -> None:
    port, received = receiver
    resolve(hooks_test=[["127.0.0.1"]])
    response = post(
        f"http://hooks.test:{port}/in?source=tasks",
        body=b'{"type":"task.created"}',
        headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
    )
    assert response.status == 202
    assert response.error is None
    assert response.excerpt == '{"ok":true}'
    assert 0 <= response.latency_ms < 5000
    [request] = received.requests
    assert request["path"] == "/in?source=tasks"
    assert request["body"] == b'{"type":"task.created"}'
    assert request["headers"]["Host"] == f"hooks.test:{port}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["webhook-id"] == "msg_1"


def test_a_redirect_is_a_response_not_followed(private_allowed: None, receiver: tuple[int, Received]) -> None:
    elsewhere, elsewhere_received = receiver

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(307)
        handler.send_header("Location", f"http://127.0.0.1:{elsewhere}/stolen")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server, received = serve(redirect)
    try:
        response = send(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    finally:
        server.shutdown()
        server.server_close()
    assert response.status == 307
    assert response.error is None
    assert len(received.requests) == 1
    assert elsewhere_received.requests == []


def test_a_receiver_that_never_answers_times_out_within_the_bound(private_allowed: None) -> None:
    silent = RawServer(lambda conn: time.sleep(5))
    started = time.monotonic()
    response = send(f"http://127.0.0.1:{silent.port}/", timeout=0.5)
    elapsed = time.monotonic() - started
    assert response == Response(status=None, latency_ms=response.latency_ms, excerpt="", error="timed out")
    assert 0.45 <= elapsed < 1.5


def test_a_receiver_dripping_bytes_is_cut_at_the_overall_deadline(private_allowed: None) -> None:
    # Each byte arrives well within a per-read timeout; only the overall deadline ends it.
    def drip(conn: socket.socket) -> None:
        read_request(conn)
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(100):
                conn.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.1)
        except OSError:
            pass

    dripping = RawServer(drip)
    started = time.monotonic()
    response = send(f"http://127.0.0.1:{dripping.port}/", timeout=0.6)
    elapsed = time.monotonic() - started
    assert response.error == "timed out"
    assert elapsed < 1.5


def test_a_huge_response_is_read_up_to_the_cap_and_no_further(private_allowed: None, settings: Any) -> None:
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 3000
    settings.WEBHOOK_EXCERPT_BYTES = 10_000  # above the cap: the excerpt shows what was read
    offered = 200 * 1024 * 1024
    sent = [0]

    def flood(conn: socket.socket) -> None:
        read_request(conn)
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % offered)
            chunk = b"a" * 65536
            while sent[0] < offered:
                conn.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass

    flooding = RawServer(flood)
    response = send(f"http://127.0.0.1:{flooding.port}/")
    assert response.status == 200
    assert response.error is None
    assert response.excerpt == "a" * 3000
    assert flooding.done.wait(5)
    # The connection was closed after the cap: the server could not send it all.
    assert sent[0] < offered // 4


def test_the_excerpt_is_cut_and_decoded_with_replacement(private_allowed: None, settings: Any) -> None:
    settings.WEBHOOK_EXCERPT_BYTES = 5
    server, _ = serve(accepted(200, "abcdé and more".encode()))
    try:
        response = send(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
    assert response.excerpt == "abcd\ufffd"


def test_a_refused_connection_is_an_error_not_an_exception(private_allowed: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    response = send(f"http://127.0.0.1:{port}/")
    assert response.status is None
    assert response.error == "connection refused"


def test_an_unresolvable_name_at_delivery_is_an_error(resolve: Callable[..., Resolver]) -> None:
    resolve(gone_test=[[]])
    response = send("https://gone.test/hooks")
    assert response.status is None
    assert response.error is not None
    assert "does not resolve" in response.error


def test_a_response_cut_short_is_an_error_with_its_status(private_allowed: None) -> None:
    def short(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\npartial")

    response = send(f"http://127.0.0.1:{RawServer(short).port}/")
    assert response.status == 500
    assert response.error is not None
    assert response.excerpt == "partial"


def test_garbage_instead_of_http_is_an_error(private_allowed: None) -> None:
    def garbage(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    response = send(f"http://127.0.0.1:{RawServer(garbage).port}/")
    assert response.status is None
    assert response.error is not None


# --- Pinning ------------------------------------------------------------------------------


def test_the_connection_goes_to_the_checked_address_whatever_the_name_resolves_to_later(
    private_allowed: None, resolve: Callable[..., Resolver]
) -> None:
    checked, checked_received = serve(accepted(200))
    port = checked.server_address[1]
    decoy, decoy_received = serve(accepted(200), host="127.0.0.2", port=port)
    resolver = resolve(pinned_test=[["127.0.0.1"], ["127.0.0.2"]])
    try:
        response = send(f"http://pinned.test:{port}/hooks")
        again = send(f"http://pinned.test:{port}/hooks")
    finally:
        for server in (checked, decoy):
            server.shutdown()
            server.server_close()
    assert response.status == 200
    assert again.status == 200
    # One resolution per delivery, none by the connection itself.
    assert resolver.calls == ["pinned.test", "pinned.test"]
    assert len(checked_received.requests) == 1
    assert len(decoy_received.requests) == 1
    assert checked_received.requests[0]["headers"]["Host"] == f"pinned.test:{port}"


def certificate(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for ``host``: (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sender test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[str | None]]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names hooks.test only, the client
    trusting its CA; yields its port and the SNI names it was sent."""
    ca, cert, key = certificate(tmp_path, "hooks.test")
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)  # type: ignore[func-returns-value]

    def trusting() -> ssl.SSLContext:
        client = ssl.create_default_context(cafile=str(ca))
        return client

    monkeypatch.setattr(sender, "tls_context", trusting)
    server, _ = serve(accepted(200, b"signed"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield server.server_address[1], server_names
    server.shutdown()
    server.server_close()


def test_https_is_pinned_with_sni_and_verification_for_the_url_host(
    private_allowed: None, resolve: Callable[..., Resolver], tls_receiver: tuple[int, list[str | None]]
) -> None:
    port, server_names = tls_receiver
    resolve(hooks_test=[["127.0.0.1"]], impostor_test=[["127.0.0.1"]])
    response = send(f"https://hooks.test:{port}/in")
    assert (response.status, response.excerpt, response.error) == (200, "signed", None)
    assert server_names == ["hooks.test"]
    # The same address under a name the certificate does not carry is refused by TLS.
    refused = send(f"https://impostor.test:{port}/in")
    assert refused.status is None
    assert refused.error is not None
    assert "certificate" in refused.error
    assert server_names[-1] == "impostor.test"
    # And the address itself is no name the certificate carries either.
    by_address = send(f"https://127.0.0.1:{port}/in")
    assert by_address.status is None
    assert by_address.error is not None
    assert "certificate" in by_address.error


def test_a_slow_resolver_is_given_up_on_at_the_deadline(
    private_allowed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.test":
            time.sleep(3)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    response = send("http://slow.test/hooks", timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert response.status is None
    assert response.error == "slow.test did not resolve in time"


def test_an_ipv6_target_is_reached_on_its_checked_address(
    private_allowed: None, resolve: Callable[..., Resolver]
) -> None:
    class ServerV6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.requests.append(self.headers["Host"])
            accepted(204, b"")(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ServerV6(("::1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    resolve(six_test=[["::1"]])
    try:
        by_name = send(f"http://six.test:{port}/")
        by_literal = send(f"http://[::1]:{port}/")
    finally:
        server.shutdown()
        server.server_close()
    assert (by_name.status, by_name.error) == (204, None)
    assert (by_literal.status, by_literal.error) == (204, None)
    assert received.requests == [f"six.test:{port}", f"[::1]:{port}"]


def test_the_delivery_settings_are_range_checked_at_start(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings; "
        "print(settings.WEBHOOK_ALLOW_PRIVATE, settings.WEBHOOK_TIMEOUT, "
        "settings.WEBHOOK_MAX_RESPONSE_BYTES, settings.WEBHOOK_EXCERPT_BYTES)"
    )
    assert load_settings(tmp_path, code).stdout.split() == ["False", "5.0", "65536", "1024"]
    refused = load_settings(
        tmp_path,
        code,
        WEBHOOK_ALLOW_PRIVATE="maybe",
        WEBHOOK_TIMEOUT="600",
        WEBHOOK_MAX_RESPONSE_BYTES="0",
        WEBHOOK_EXCERPT_BYTES="-1",
    )
    assert refused.returncode != 0
    for name in (
        "WEBHOOK_ALLOW_PRIVATE",
        "WEBHOOK_TIMEOUT",
        "WEBHOOK_MAX_RESPONSE_BYTES",
        "WEBHOOK_EXCERPT_BYTES",
    ):
        assert name in refused.stderr
