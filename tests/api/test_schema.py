import re

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient


@pytest.fixture
def schema(anon: APIClient) -> dict:  # type: ignore[type-arg]
    response = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema: dict) -> None:  # type: ignore[type-arg]
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document


def test_schema_documents_the_bearer_scheme(schema: dict) -> None:  # type: ignore[type-arg]
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/token/.",
    }
    assert {"bearerAuth": []} in schema["paths"]["/tasks/"]["get"]["security"]


def test_schema_documents_error_responses(schema: dict) -> None:  # type: ignore[type-arg]
    task_list = schema["paths"]["/tasks/"]["get"]["responses"]
    assert {"200", "400", "401"} <= task_list.keys()
    detail = schema["paths"]["/tasks/{id}/"]["get"]["responses"]
    assert {"200", "401", "404"} <= detail.keys()
    login = schema["paths"]["/auth/token/"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= login.keys()


def test_docs_are_served_without_any_cdn(anon: APIClient) -> None:
    response = anon.get("/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []
