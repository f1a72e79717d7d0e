import pytest
from django.db import connection
from rest_framework.test import APIClient


def test_healthz_answers_without_credentials(anon: APIClient) -> None:
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_and_cache(anon: APIClient) -> None:
    response = anon.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_down(anon: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> None:
        raise ConnectionError("database gone")

    monkeypatch.setattr(connection, "cursor", unreachable)
    response = anon.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unavailable")
    assert response["Retry-After"]


class UnreachableCache:
    def set(self, *args: object, **kwargs: object) -> None:
        raise ConnectionError("cache gone")


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_is_down(anon: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.views.cache", UnreachableCache())
    response = anon.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "unavailable: ConnectionError"}
