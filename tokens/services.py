"""Issuing, rotating and checking token pairs."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from tokens import codec
from tokens.codec import InvalidToken
from users.models import User


def token_pair_issue(*, user: User) -> dict[str, Any]:
    access = codec.encode(user_id=user.pk, token_use="access", ttl=settings.JWT_ACCESS_TTL)
    refresh = codec.encode(user_id=user.pk, token_use="refresh", ttl=settings.JWT_REFRESH_TTL)
    return {
        "access": access.token,
        "refresh": refresh.token,
        "token_type": "Bearer",
        "expires_in": settings.JWT_ACCESS_TTL,
    }


def token_user(claims: dict[str, Any]) -> User:
    """The active user a verified token speaks for, or InvalidToken."""
    user = get_user_model().objects.filter(pk=int(claims["sub"]), is_active=True).first()
    if user is None:
        raise InvalidToken("The token's user is unknown or inactive.")
    return user


def refresh_rotate(*, refresh: str) -> dict[str, Any]:
    """Trade a refresh token for a new pair."""
    claims = codec.decode(refresh, token_use="refresh")
    return token_pair_issue(user=token_user(claims))


def token_verify(*, token: str) -> dict[str, Any]:
    """Claims of a valid access or refresh token of an active user, or InvalidToken."""
    try:
        claims = codec.decode(token, token_use="access")
    except InvalidToken:
        claims = codec.decode(token, token_use="refresh")
    token_user(claims)
    return claims
