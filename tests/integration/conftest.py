"""Real servers (``manage.py serve``, soak.server) on free ports, each with a temporary STATE_DIR."""

import random

import pytest

from soak.http import Http


def loopback_address() -> str:
    """A loopback address to connect from, all our own: the server throttles per client
    address, and counts kept in a shared Redis must not mix with another test's or run's."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@pytest.fixture
def source_address() -> str:
    return loopback_address()


def client(port: int, source_address: str | None = None) -> Http:
    return Http("127.0.0.1", port, timeout=60, source_address=source_address)
