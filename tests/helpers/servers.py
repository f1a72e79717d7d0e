"""Real servers (``manage.py serve``, soak.server) as the integration and browser tests reach them."""

import random
from dataclasses import dataclass
from pathlib import Path

from soak.http import Http
from soak.server import Server


def loopback_address() -> str:
    """A loopback address to connect from, all our own: the server throttles per client
    address, and counts kept in a shared Redis must not mix with another test's or run's."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def client(port: int, source_address: str | None = None) -> Http:
    return Http("127.0.0.1", port, timeout=60, source_address=source_address)


@dataclass(frozen=True)
class Served:
    """A server the browser tests share, and where its log goes."""

    server: Server
    base_url: str
    log_path: Path
