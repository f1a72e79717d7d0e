"""The one way out of the service: an HTTP POST to a URL a user or a client registered.

A registered URL is attacker-chosen, so the request must never reach what only the server
can reach (SSRF): loopback, the private networks, link-local and the cloud metadata
service at 169.254.169.254, whatever the spelling (``2130706433``, ``0x7f000001``,
``[::ffff:127.0.0.1]``, ``64:ff9b::a00:1``) or the DNS name. So the host is resolved and
every address it resolves to is checked, when the URL is registered (``target_check``) and
again when a delivery is made (``post``), because DNS can answer a public address first and
a private one later (rebinding). The delivery then connects to the address it checked,
never resolving the name a second time, and sends the original name in ``Host`` and, for
https, in SNI, where the certificate is verified against it.

Built on the standard library's ``http.client``: it follows no redirects, decompresses
nothing, bounds header lines and counts, and lets a connection subclass choose the socket,
which is exactly the pinning needed; nothing in it resolves a name once the socket is given.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# What getaddrinfo gives for one address: (host, port) for IPv4, (host, port, flow, scope) for IPv6.
Sockaddr = tuple[Any, ...]

# Names that reach a cloud provider's instance metadata without an address in them
# (GCP, AWS, Azure, Alibaba, OpenStack): refused even if a resolver answers publicly.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "100-100-100-200.alibaba",
    }
)
# RFC 6598 shared address space (carrier-grade NAT): not global, yet neither "private" nor
# "reserved" for ipaddress, so named here.
SHARED = ipaddress.ip_network("100.64.0.0/10")
# RFC 6052 §2.1 well-known NAT64 prefix and RFC 8215 local-use prefix: the last 32 bits are
# the IPv4 address a translator connects to.
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# RFC 4291 §2.5.5.1 IPv4-compatible addresses (deprecated, still routed by some stacks).
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class TargetRefused(Exception):
    """A webhook or events URL the service will not send to; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Response:
    """What a delivery gives back. ``status`` is None when no response came; ``error`` is
    None when the whole (capped) response was read."""

    status: int | None
    latency_ms: int
    excerpt: str
    error: str | None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def target_check(url: str) -> None:
    """Refuse a URL that is not absolute http(s) to a host, carries credentials, or whose
    host does not resolve or resolves to any address that is not public (``address_refusal``)."""
    target = _parse(url)
    try:
        _resolve_checked(target, time.monotonic() + settings.WEBHOOK_TIMEOUT)
    except _Unresolvable as failure:
        raise TargetRefused(str(failure)) from None


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float | None = None,
) -> Response:
    """POST ``body`` to ``url`` once, within ``timeout`` seconds overall (WEBHOOK_TIMEOUT by
    default). Raises TargetRefused for a refused target; every network failure, timeout or
    malformed response is returned in ``error`` instead."""
    deadline_seconds = settings.WEBHOOK_TIMEOUT if timeout is None else timeout
    started = time.monotonic()
    deadline = started + deadline_seconds
    target = _parse(url)
    try:
        addresses = _resolve_checked(target, deadline)
    except _Unresolvable as failure:
        return Response(status=None, latency_ms=_since(started), excerpt="", error=str(failure))

    status: int | None = None
    received = bytearray()
    error: str | None = None
    connection: http.client.HTTPConnection | None = None
    watchdog: _Watchdog | None = None
    try:
        connection, error = _connect(target, addresses, deadline)
        if connection is not None:
            watchdog = _Watchdog(connection, deadline)
            connection.request("POST", target.path, body=body, headers={**headers, "Connection": "close"})
            answer = connection.getresponse()
            status = answer.status
            if not _read_capped(answer, settings.WEBHOOK_MAX_RESPONSE_BYTES, into=received):
                error = "the response ended before its Content-Length"
    except (OSError, http.client.HTTPException) as failure:
        error = _describe(failure, deadline)
    finally:
        if watchdog is not None:
            watchdog.cancel()
            if watchdog.fired.is_set():
                # A read ended by the shutdown looks like the end of the response; it is not.
                error = "timed out"
        if connection is not None:
            connection.close()
    excerpt = bytes(received[: settings.WEBHOOK_EXCERPT_BYTES]).decode("utf-8", errors="replace")
    return Response(status=status, latency_ms=_since(started), excerpt=excerpt, error=error)


# The ipaddress flags that refuse an address, in the order a refusal names them.
REFUSED_KINDS = (
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_unspecified", "unspecified"),
    ("is_multicast", "multicast"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


def address_refusal(address: Address) -> str | None:
    """Why an address may not be sent to, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded:
            # The IPv6 address only carries the IPv4 one(s) the packets end up at.
            refusals = [refusal for ipv4 in embedded if (refusal := address_refusal(ipv4))]
            return f"{refusals[0]} (inside {address})" if refusals else None
        if address.is_site_local:
            return f"{address} is site-local"
    for flag, kind in REFUSED_KINDS:
        if getattr(address, flag):
            return f"{address} is {kind}"
    if address in SHARED:
        return f"{address} is shared address space"
    if not address.is_global:
        return f"{address} is not a global address"
    return None


class _Unresolvable(Exception):
    pass


def _parse(url: str) -> Target:
    if not isinstance(url, str) or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise TargetRefused("the URL must be a string without spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as invalid:
        raise TargetRefused(f"not a valid URL: {invalid}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must be absolute, http or https")
    if "@" in parts.netloc:
        raise TargetRefused("the URL must carry no user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused("the URL must name a host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise TargetRefused("the host is not a valid internationalized name") from None
    if "%" in host:
        raise TargetRefused("the host must not carry an IPv6 zone")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    default_port = 443 if parts.scheme == "https" else 80
    return Target(scheme=parts.scheme, host=host, port=port or default_port, path=path)


def _resolve_checked(target: Target, deadline: float) -> list[tuple[socket.AddressFamily, Sockaddr]]:
    """Every address the host resolves to, each one checked; one refused refuses them all,
    as a resolver's order is the attacker's to choose."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    name = target.host.lower()
    if not allow_private and (name in METADATA_HOSTS or name == "localhost" or name.endswith(".localhost")):
        raise TargetRefused(f"{target.host} is a local or metadata host name")
    # The resolver also reads numeric spellings (inet_aton: "2130706433", "0x7f000001",
    # "0177.0.0.1", "127.1"), so checking what it answers covers every one of them.
    infos = _resolve(target, deadline)
    addresses: list[tuple[socket.AddressFamily, Sockaddr]] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        refusal = None if allow_private else address_refusal(address)
        if refusal:
            raise TargetRefused(f"{target.host} is refused: {refusal}")
        addresses.append((family, sockaddr))
    if not addresses:
        raise _Unresolvable(f"{target.host} has no IPv4 or IPv6 address")
    return addresses


def _resolve(target: Target, deadline: float) -> list[Any]:
    """getaddrinfo, given up on at the deadline: it has no timeout of its own, and a slow
    resolver is the receiver's to choose. The lookup runs in a thread of its own, which is
    left to finish (daemon, holding nothing) when it is late."""
    answer: list[Any] = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            answer.extend(socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:
            failure.append(error)

    resolver = threading.Thread(target=lookup, name=f"resolve {target.host}", daemon=True)
    resolver.start()
    resolver.join(max(deadline - time.monotonic(), 0))
    if resolver.is_alive():
        raise _Unresolvable(f"{target.host} did not resolve in time")
    if failure:
        raise _Unresolvable(f"{target.host} does not resolve: {failure[0]}")
    return answer


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one leads to: mapped (RFC 4291 §2.5.5.2), 6to4 (RFC 3056),
    Teredo server and client (RFC 4380), NAT64 and IPv4-compatible."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if any(address in prefix for prefix in NAT64) or (address in IPV4_COMPATIBLE and int(address) > 1):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; ``host`` stays the URL's, for the Host header."""

    def __init__(self, host: str, port: int, *, family: int, sockaddr: Sockaddr, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned = (family, sockaddr)

    def connect(self) -> None:
        self.sock = _open_socket(*self.pinned, timeout=self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS on top: SNI and certificate verification for the URL's host."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        family: int,
        sockaddr: Sockaddr,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned = (family, sockaddr)
        self.tls = context

    def connect(self) -> None:
        sock = _open_socket(*self.pinned, timeout=self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def tls_context() -> ssl.SSLContext:
    """The system's trust store, hostname checks on (the tests substitute their own CA)."""
    return ssl.create_default_context()


def _open_socket(family: int, sockaddr: Sockaddr, *, timeout: float | None) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect(
    target: Target, addresses: list[tuple[socket.AddressFamily, Sockaddr]], deadline: float
) -> tuple[http.client.HTTPConnection | None, str | None]:
    """The first checked address that accepts a connection before the deadline."""
    error = "no address to connect to"
    for family, sockaddr in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, "timed out"
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(
                target.host,
                target.port,
                family=family,
                sockaddr=sockaddr,
                timeout=remaining,
                context=tls_context(),
            )
        else:
            connection = _PinnedHTTPConnection(
                target.host, target.port, family=family, sockaddr=sockaddr, timeout=remaining
            )
        try:
            connection.connect()
        except OSError as failure:
            connection.close()
            error = _describe(failure, deadline)
            continue
        return connection, None
    return None, error


def _read_capped(answer: http.client.HTTPResponse, cap: int, *, into: bytearray) -> bool:
    """At most ``cap`` bytes of the body, kept as they come (a failure later keeps what
    came); the rest is never read, as the connection is closed. False when the body
    ended before its Content-Length (``read(amt)`` reports that by returning less)."""
    while len(into) < cap:
        chunk = answer.read(min(cap - len(into), 16384))
        if not chunk:
            return not answer.length
        into += chunk
    return True


class _Watchdog:
    """http.client bounds each socket operation by the socket timeout, so a server that
    drips a byte just inside it could hold a worker for ever: at the deadline the socket is
    shut down, which ends any read in progress."""

    def __init__(self, connection: http.client.HTTPConnection, deadline: float) -> None:
        self.connection = connection
        self.fired = threading.Event()
        self.timer = threading.Timer(max(deadline - time.monotonic(), 0), self.shut)
        self.timer.daemon = True
        self.timer.start()

    def shut(self) -> None:
        self.fired.set()
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to end
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self.timer.cancel()
        self.timer.join()


def _describe(failure: BaseException, deadline: float) -> str:
    if isinstance(failure, TimeoutError) or time.monotonic() >= deadline:
        return "timed out"
    if isinstance(failure, ssl.SSLCertVerificationError):
        return f"TLS certificate refused: {failure.verify_message}"
    if isinstance(failure, ConnectionRefusedError):
        return "connection refused"
    return f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
