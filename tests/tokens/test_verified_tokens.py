"""The per-process cache of verified tokens skips the signature, never the clock."""

import time
from typing import Any

import jwt
from rest_framework.test import APIClient

from tokens.codec import verified_tokens
from tokens.services import session_start
from users.models import User


def test_a_cached_token_still_expires(owner: User, settings: Any) -> None:
    settings.JWT_ACCESS_TTL = 2  # iat is whole seconds: valid for at least one more second
    settings.JWT_LEEWAY = 0
    access = session_start(user=owner)["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/tasks/").status_code == 200
    assert any(token == access for token, _ in verified_tokens.entries)

    exp = jwt.decode(access, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)

    response = client.get("/tasks/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_is_cached_per_use(owner: User) -> None:
    pair = session_start(user=owner)
    refresh_as_access = APIClient()
    refresh_as_access.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['refresh']}")
    APIClient().post("/auth/token/verify/", {"token": pair["refresh"]})  # verified as a refresh token

    assert refresh_as_access.get("/tasks/").status_code == 401
