"""End to end: the verifier example (examples/verifier) is a confidential client with an events
URL; two instances of the service share PostgreSQL and Redis, with a task worker beside them.
A user logs in on B, the verifier accepts the access token, the user logs out on A, and the
verifier refuses the token within a second, told by the SET the worker pushed (RFC 8935)."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.logout_to_refusal import Stage, staged
from soak.server import manage
from soak.services import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url.startswith("redis"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true needs DATABASE_URL (PostgreSQL) and REDIS_URL for the push end to end")
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL and REDIS_URL")
    # A Redis database of this test's own (it is emptied), not the one the other tests share.
    own_redis = urlsplit(redis_url)._replace(path="/5").geturl()
    with staged(database_url, own_redis, tmp_path) as running:
        yield running


def test_a_logout_on_one_instance_is_refused_by_the_verifier_within_a_second(stage: Stage) -> None:
    username = stage.sign_up()

    elapsed = stage.logout_to_refusal(username, timeout=1.0)

    assert elapsed < 1.0
    # The worker records the push after the verifier has answered it: wait for the record.
    lines: list[str] = []

    def recorded() -> bool:
        lines[:] = manage(stage.a.env, "security_event_deliveries").splitlines()
        return bool(lines)

    assert wait_for(recorded, timeout=30, step=0.5) is not None, "the push was never recorded"
    [delivery] = [json.loads(line) for line in lines]
    assert (delivery["client_id"], delivery["kind"], delivery["reason"]) == (
        stage.client_id,
        "session-revoked",
        "logout",
    )
    assert (delivery["succeeded"], delivery["status_code"], delivery["attempt"]) == (True, 202, 1)
