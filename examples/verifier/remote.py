"""Asking the issuer over HTTP: one JSON answer, bounded in time and size, never redirected.

Every request this service makes of the task service (its keys, its metadata, an
introspection) goes through ``request_json``: whoever can make a URL of the issuer answer a
3xx must not be able to choose where we go next, and a slow or huge answer must not stall
us. The client it is given must not follow redirects (``issuer_client``).
"""

import ipaddress
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class RemoteError(Exception):
    """A request to the issuer failed, or its answer is not one we use. The message is for the log."""


def is_loopback(hostname: str) -> bool:
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """What makes ``url`` unfit to fetch keys from or send secrets to, or None if it is fit."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # Keys fetched in the clear could be swapped on the way, and with them every identity;
        # a secret sent in the clear is anyone's.
        return "is plain http to another machine: https, or http to this machine only"
    return None


def issuer_client(*, timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An HTTP client for the issuer: ``timeout`` on each connect and read, no redirects."""
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        transport=transport,
        headers={"User-Agent": "tasks-verifier"},
    )


def request_json(
    client: httpx.Client, method: str, url: str, *, timeout: float, max_bytes: int, **options: Any
) -> object:
    """The JSON document a 200 answer to ``method url`` carries; RemoteError otherwise.

    ``options`` go to httpx (``data``, ``auth``, ``headers``).
    """
    # httpx's timeouts bound each connect and each read; the deadline bounds the whole
    # answer, which a server dripping a byte at a time would otherwise stretch for hours.
    deadline = time.monotonic() + timeout
    body = bytearray()
    headers = {"Accept": "application/json", **options.pop("headers", {})}
    try:
        with client.stream(method, url, headers=headers, **options) as response:
            if response.is_redirect:
                where = response.headers.get("Location", "")
                raise RemoteError(
                    f"{url} answered {response.status_code} to {where!r}: redirects are not followed"
                )
            if response.status_code != 200:
                raise RemoteError(f"{url} answered {response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise RemoteError(f"{url}: the answer is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise RemoteError(f"{url}: the answer took longer than {timeout} s")
    except httpx.HTTPError as exc:
        raise RemoteError(f"{url}: {type(exc).__name__}: {exc}") from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise RemoteError(f"{url}: the answer is not JSON") from exc
