"""The per-process cache of verified tokens skips the signature, never the clock."""

from datetime import datetime, tzinfo
from typing import Any

import jwt
import pytest
from rest_framework.test import APIClient

from tokens import codec
from tokens.codec import verified_tokens
from tokens.services import session_start
from users.models import User


class WallClock:
    """Stands in for the wall clock of token checks: ``time.time()`` in tokens.codec (the cache)
    and ``datetime.now()`` in PyJWT (a full verification). Time passes only when set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: float) -> None:
        self.now = now
        clock = self

        class PyJWTDatetime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> "PyJWTDatetime":
                return cls.fromtimestamp(clock.now, tz)

        monkeypatch.setattr(codec, "time", self)
        monkeypatch.setattr(jwt.api_jwt, "datetime", PyJWTDatetime)

    def time(self) -> float:
        return self.now


def test_a_cached_token_still_expires(owner: User, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.JWT_LEEWAY = 0
    access = session_start(user=owner)["access"]
    claims = jwt.decode(access, options={"verify_signature": False})
    clock = WallClock(monkeypatch, now=claims["iat"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/tasks/").status_code == 200
    assert any(token == access for token, _ in verified_tokens.entries)

    clock.now = claims["exp"] - 0.5
    assert client.get("/tasks/").status_code == 200  # still within its lifetime, from the cache
    assert any(token == access for token, _ in verified_tokens.entries)

    clock.now = claims["exp"]  # RFC 7519 §4.1.4: not accepted on or after the expiration time
    response = client.get("/tasks/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert not any(token == access for token, _ in verified_tokens.entries)


def test_a_token_is_cached_per_use(owner: User) -> None:
    pair = session_start(user=owner)
    refresh_as_access = APIClient()
    refresh_as_access.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['refresh']}")
    APIClient().post("/auth/token/verify/", {"token": pair["refresh"]})  # verified as a refresh token

    assert refresh_as_access.get("/tasks/").status_code == 401
