"""The key ring of a test's own (``ring``) and the clock of tokens.keys (``clock``)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django import Settings

from tests.helpers.keys import Clock
from tokens import keys
from tokens.keys import key_ring


@pytest.fixture
def ring(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a key ring of our own under ``tmp_path``, rebuilt from scratch."""
    settings.JWT_KEY_DIR = tmp_path / "jwt"
    settings.JWT_SECRET = ""
    settings.JWT_PRIVATE_KEY_FILE = None
    key_ring.cache_clear()
    yield settings
    key_ring.cache_clear()  # the next test gets the ring of its own settings


@pytest.fixture
def clock(ring: Settings, monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(keys, "monotonic", fake)
    return fake
