"""Real servers (``manage.py serve``, soak.server) on free ports, each with a temporary STATE_DIR."""

import pytest

from tests.helpers.servers import loopback_address


@pytest.fixture
def source_address() -> str:
    return loopback_address()
