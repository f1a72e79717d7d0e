"""The owner's feed, created through the API (tests.helpers.feeds)."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.helpers.feeds import create_feed


@pytest.fixture
def owner_feed(owner_client: APIClient) -> dict[str, Any]:
    return create_feed(owner_client, name="Phone")
